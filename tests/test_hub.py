"""Saving, loading and sharing: round trips, strict loading, the Hub cache, offline mode, push_to_hub."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import gan_transfer
from gan_transfer import GanPipeline
from gan_transfer.models import BigGANGenerator, GanModel, Generator, ResNetDiscriminator, ResNetGenerator

from .conftest import FAMILIES, seeded, tiny_pipeline


def images(pipe: GanPipeline, n: int = 4, **kw) -> torch.Tensor:
    return pipe(num_images=n, generator=seeded(7), output_type="pt", **kw).images


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("num_classes", [0, 3])
def test_pipeline_round_trip_is_bit_identical(tmp_path, family, num_classes):
    pipe = tiny_pipeline(family, num_classes)
    pipe.save_pretrained(tmp_path / "p")
    loaded = GanPipeline.from_pretrained(tmp_path / "p")
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.generator) is type(pipe.generator)
    assert type(loaded.discriminator) is type(pipe.discriminator)
    assert torch.equal(images(pipe), images(loaded))
    for a, b in zip(pipe.discriminator.state_dict().values(), loaded.discriminator.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(2, 3, 32, 32, generator=seeded()) * 2 - 1
    y = torch.tensor([0, 1]) if num_classes and family == "biggan" else None
    pipe.discriminator.eval()
    assert torch.equal(pipe.discriminator(x, y), loaded.discriminator(x, y))


def test_folder_layout_and_version_stamp(tmp_path):
    tiny_pipeline().save_pretrained(tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert names == [
        "README.md",
        "discriminator",
        "discriminator/README.md",
        "discriminator/config.json",
        "discriminator/model.safetensors",
        "generator",
        "generator/README.md",
        "generator/config.json",
        "generator/model.safetensors",
        "model_index.json",
    ]
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["generator"] == ["gan_transfer", "ResNetGenerator"]
    config = json.loads((tmp_path / "generator/config.json").read_text())
    assert config["_class_name"] == "ResNetGenerator"
    assert config["_gan_transfer_version"] == gan_transfer.__version__
    assert not list(tmp_path.rglob("*.tmp")), "temporary files left behind"


def test_single_model_round_trip_and_generic_loader(tmp_path):
    g = tiny_pipeline("biggan", 3).generator.eval()
    g.save_pretrained(tmp_path)
    for cls in (BigGANGenerator, Generator, GanModel):
        loaded = cls.from_pretrained(tmp_path)
        assert isinstance(loaded, BigGANGenerator)
        z = torch.randn(2, 32, generator=seeded())
        assert torch.equal(loaded(z, class_labels=torch.tensor([0, 2])), g(z, class_labels=torch.tensor([0, 2])))
    with pytest.raises(ValueError, match="holds a BigGANGenerator, not a ResNetGenerator"):
        ResNetGenerator.from_pretrained(tmp_path)


def test_dtype_and_device_on_load(tmp_path):
    tiny_pipeline().save_pretrained(tmp_path)
    g = ResNetGenerator.from_pretrained(tmp_path, subfolder="generator", torch_dtype=torch.float64)
    assert g.dtype == torch.float64


def _write_weights(path, mutate):
    tensors = load_file(str(path))
    mutate(tensors)
    save_file(tensors, str(path))


def test_strict_loading_errors(tmp_path):
    g = ResNetGenerator(resolution=32, width=4)
    g.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    _write_weights(weights, lambda t: t.pop("stem.weight"))
    with pytest.raises(ValueError, match=r"1 missing tensors \(e.g. 'stem.weight'\)"):
        ResNetGenerator.from_pretrained(tmp_path)
    g.save_pretrained(tmp_path)
    _write_weights(weights, lambda t: t.update(extra=torch.zeros(1)))
    with pytest.raises(ValueError, match="1 unexpected tensors"):
        ResNetGenerator.from_pretrained(tmp_path)
    g.save_pretrained(tmp_path)
    _write_weights(weights, lambda t: t.update({"stem.bias": torch.zeros(3)}))
    with pytest.raises(ValueError, match=r"wrong shape.*'stem\.bias': file \(3,\)"):
        ResNetGenerator.from_pretrained(tmp_path)


def test_broken_files_get_clear_errors(tmp_path):
    g = ResNetGenerator(resolution=32, width=4)
    g.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        ResNetGenerator.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="Missing weights file"):
        ResNetGenerator.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="is not valid JSON"):
        ResNetGenerator.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "EvilGenerator", "resolution": 32}))
    with pytest.raises(ValueError, match="Unknown model class 'EvilGenerator'"):
        ResNetGenerator.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "ResNetGenerator", "resolution": 32, "x": 1}))
    with pytest.raises(ValueError, match="Unknown option 'x'"):
        ResNetGenerator.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="single model, not a pipeline"):
        GanPipeline.from_pretrained(tmp_path)


def test_missing_folder_and_bad_ids(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a valid Hub repo id"):
        GanPipeline.from_pretrained(str(tmp_path / "no" / "such" / "folder"))
    with pytest.raises(FileNotFoundError, match="has no 'generator/' folder"):
        ResNetGenerator.from_pretrained(tmp_path, subfolder="generator")


def test_offline_mode_is_read_at_call_time(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE set after import is honoured: nothing cached → a clear error, without any network call."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"not in the Hub cache \(offline mode is on\)"):
        GanPipeline.from_pretrained("someone/never-downloaded", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="not in the Hub cache"):
        GanPipeline.from_pretrained("someone/never-downloaded", cache_dir=tmp_path, local_files_only=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_push_to_hub_then_from_pretrained(tmp_path, fake_hub, monkeypatch, family):
    pipe = tiny_pipeline(family, num_classes=3)
    pipe.card_data = {"license": "apache-2.0", "credits": "Trained on test images (CC0)."}
    pipe.push_to_hub("me/tiny-gan", private=True)
    assert fake_hub.created == [{"repo_id": "me/tiny-gan", "private": True, "exist_ok": True}]
    assert "model_index.json" in fake_hub.uploads[0]["files"]
    assert "generator/model.safetensors" in fake_hub.uploads[0]["files"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read back from the local cache through the real snapshot_download
    loaded = GanPipeline.from_pretrained("me/tiny-gan", cache_dir=fake_hub.cache)
    loaded.set_progress_bar_config(disable=True)
    assert torch.equal(images(loaded), images(pipe))
    assert loaded.card_data["license"] == "apache-2.0"
    assert loaded.card_data["credits"] == "Trained on test images (CC0)."
    card = next(fake_hub.cache.rglob("snapshots/*/README.md")).read_text()
    assert card.startswith("---\n") and "library_name: gan_transfer" in card and "Licences and credits" in card


def test_model_push_to_hub(tmp_path, fake_hub):
    d = ResNetDiscriminator(resolution=32, width=4)
    d.push_to_hub("me/critic")
    loaded = ResNetDiscriminator.from_pretrained("me/critic", cache_dir=fake_hub.cache, local_files_only=True)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), d.eval()(x))


SCRIPTS = Path(__file__).parents[1] / "scripts"


def test_bundled_zoo_names_resolve_without_the_network(tmp_path, monkeypatch):
    from gan_transfer import zoo

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    (tmp_path / "zoo").mkdir()
    pipe = tiny_pipeline("biggan")
    pipe.card_data = {"license": "apache-2.0", "credits": "test"}
    pipe.save_pretrained(tmp_path / "run")
    runpy.run_path(str(SCRIPTS / "export_zoo.py"))["export"](tmp_path / "run", "tiny")
    weights = load_file(str(tmp_path / "zoo/tiny/generator/model.safetensors"))
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    assert zoo.list_bundled() == ["gan-transfer/tiny"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = GanPipeline.from_pretrained("gan-transfer/tiny")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.generator.dtype == torch.float32 and loaded.card_data["license"] == "apache-2.0"
    torch.testing.assert_close(images(loaded), images(pipe), rtol=0, atol=5e-3)  # float16 storage
    with pytest.raises(FileNotFoundError, match="not in the Hub cache"):
        GanPipeline.from_pretrained("gan-transfer/not-bundled", cache_dir=tmp_path / "empty")
