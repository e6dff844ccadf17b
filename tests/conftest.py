"""Shared fixtures: tiny real models, a test-only adapter kind, and a stand-in for the Hub's network edge."""

from __future__ import annotations

import hashlib
import shutil
import types
from pathlib import Path

import huggingface_hub
import pytest
import torch
from torch import nn

from gan_transfer import GanPipeline
from gan_transfer.adapters import ADAPTER_REGISTRY, Adapter, register_adapter
from gan_transfer.models import BigGANDiscriminator, BigGANGenerator, ResNetDiscriminator, ResNetGenerator
from gan_transfer.models.layers import ClassBatchNorm

FAMILIES = {
    "resnet": (ResNetGenerator, ResNetDiscriminator, {}),
    "biggan": (BigGANGenerator, BigGANDiscriminator, {"attention_resolution": 16}),
}


def tiny_pipeline(family: str = "resnet", num_classes: int = 0, resolution: int = 32, seed: int = 0) -> GanPipeline:
    """A tiny real pipeline with seeded weights and non-trivial BN statistics (so eval mode is exercised)."""
    g_cls, d_cls, extra = FAMILIES[family]
    torch.manual_seed(seed)
    kwargs = {"resolution": resolution, "num_classes": num_classes, "width": 8}
    g_extra = {"z_dim": 32, "shared_dim": 8} if family == "biggan" else {"z_dim": 16}
    g = g_cls(**kwargs, **g_extra, **extra)
    d = d_cls(**kwargs, **extra)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, ClassBatchNorm):  # tables start equal; make the classes differ
                m.weight.add_(0.3 * torch.randn_like(m.weight))
                m.bias.normal_(0, 0.3)
            if hasattr(m, "gamma") and isinstance(m.gamma, nn.Parameter):
                m.gamma.fill_(0.3)  # make self-attention matter
    pipe = GanPipeline(g, d)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@register_adapter
class ChannelAffineAdapter(Adapter):
    """Test-only kind: y → y·scale + shift on every normalisation layer's output (fusable)."""

    kind = "test_channel_affine"

    def __init__(self, layers: dict[str, int]) -> None:
        super().__init__(layers=layers)
        self.scale = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(torch.ones(n)) for k, n in layers.items()})
        self.shift = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(torch.zeros(n)) for k, n in layers.items()})

    @classmethod
    def for_generator(cls, generator, seed: int = 1) -> ChannelAffineAdapter:
        adapter = cls({k: m.num_features for k, m in generator.normalization_layers().items()})
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in adapter.scale.values():
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            for p in adapter.shift.values():
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
        return adapter

    def check_compatible(self, generator) -> None:
        layers = {k: m.num_features for k, m in generator.normalization_layers().items()}
        if layers != self.config.kwargs["layers"]:
            raise ValueError("This adapter's layers do not match the generator's normalisation layers.")

    def hooks(self, generator, context):
        def make(key):
            def hook(module, args, output):
                return output * self.scale[key][:, None, None] + self.shift[key][:, None, None]

            return hook

        return [(m, make(k.replace(".", "__"))) for k, m in generator.normalization_layers().items()]

    def fuse_into(self, generator) -> None:
        for k, m in generator.normalization_layers().items():
            key = k.replace(".", "__")
            m.fuse_scale_shift(self.scale[key].detach(), self.shift[key].detach())


assert "test_channel_affine" in ADAPTER_REGISTRY


class FakeHub:
    """Stand-in for the network edge of the Hub: uploads land in a local Hub cache laid out as the real one.

    ``create_repo`` and ``upload_folder`` are replaced; downloads go through the real ``snapshot_download``
    reading that cache offline.
    """

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.created: list[dict] = []
        self.uploads: list[dict] = []

    def create_repo(self, api, repo_id, *, private=None, exist_ok=False, **kwargs):
        self.created.append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok})
        return types.SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, api, *, repo_id, folder_path, commit_message=None, create_pr=None, **kwargs):
        files = sorted(p for p in Path(folder_path).rglob("*") if p.is_file())
        digest = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()
        repo = self.cache / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / digest
        shutil.copytree(folder_path, snapshot, dirs_exist_ok=True)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(digest)
        self.uploads.append(
            {"repo_id": repo_id, "files": [str(p.relative_to(folder_path)) for p in files], "message": commit_message}
        )
        return types.SimpleNamespace(oid=digest, commit_message=commit_message)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch) -> FakeHub:
    hub = FakeHub(tmp_path / "hub-cache")
    monkeypatch.setattr(
        huggingface_hub.HfApi, "create_repo", lambda api, repo_id, **kw: hub.create_repo(api, repo_id, **kw)
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda api, **kw: hub.upload_folder(api, **kw))
    return hub
