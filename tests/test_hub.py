"""Saving, loading and sharing: round trips, strict loading, the Hub cache, offline mode, push_to_hub."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import huggingface_hub
import PIL.Image
import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.errors import OfflineModeIsEnabled
from safetensors.torch import load_file, save_file

import gan_transfer
from gan_transfer import GanPipeline
from gan_transfer.cli import main
from gan_transfer.hub import PushError
from gan_transfer.models import BigGANGenerator, GanModel, Generator, ResNetDiscriminator, ResNetGenerator

from .conftest import FAMILIES, ChannelAffineAdapter, seeded, tiny_pipeline


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
        "samples.png",
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


# --- sharing: push → Hub-layout cache → load by Hub id, offline ---------------------------------------------------
def _with_affine(seed: int = 0) -> GanPipeline:
    pipe = tiny_pipeline("biggan", num_classes=3, seed=seed)
    pipe.card_data = {"license": "apache-2.0", "credits": "Base trained on test images (CC0)."}
    adapter = ChannelAffineAdapter.for_generator(pipe.generator)
    adapter.card_data = {"credits": "Adapted on test emoji (CC0)."}
    pipe.add_adapter(adapter, "affine")
    return pipe


def _nothing_sent(fake_hub) -> bool:
    return fake_hub.created == [] and fake_hub.uploads == [] and not fake_hub.cache.exists()


def test_push_adapter_then_load_adapter_by_hub_id_offline(fake_hub, monkeypatch):
    pipe = _with_affine()
    expected = images(pipe)
    pipe.push_to_hub("me/affine", adapter_name="affine")
    assert fake_hub.uploads[0]["files"] == ["README.md", "adapter_config.json", "adapter_model.safetensors",
                                            "samples.png"]  # fmt: skip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fresh = tiny_pipeline("biggan", num_classes=3)  # same seed → the same base weights
    assert fresh.load_adapter("me/affine", adapter_name="twitter", cache_dir=fake_hub.cache) == "twitter"
    assert torch.equal(images(fresh), expected)
    with fresh.disable_adapters():
        assert torch.equal(images(fresh), images(tiny_pipeline("biggan", num_classes=3)))
    snapshot = next(fake_hub.cache.glob("models--me--affine/snapshots/*"))
    grid = PIL.Image.open(snapshot / "samples.png")
    assert grid.tobytes() == fresh.sample_grid().tobytes()  # the card's grid is what the loaded adapter draws
    card = ModelCard.load(snapshot / "README.md")
    assert "base_model_relation" not in card.data.to_dict() and card.data.library_name == "gan_transfer"  # no base
    assert "pipe.load_adapter('me/affine', adapter_name=" in card.text
    assert fresh.get_adapter("twitter").card_data["credits"] == (
        "Base trained on test images (CC0).\n\nAdapted on test emoji (CC0)."
    )


def test_push_pipeline_with_adapters_then_from_pretrained_offline(fake_hub, monkeypatch):
    pipe = _with_affine()
    pipe.push_to_hub("me/tiny-adapted")
    files = fake_hub.uploads[0]["files"]
    assert {"model_index.json", "samples.png", "adapters/0/adapter_model.safetensors", "adapters/0/README.md"} <= set(
        files
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = GanPipeline.from_pretrained("me/tiny-adapted", cache_dir=fake_hub.cache)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.active_adapters == ["affine"]
    assert torch.equal(images(loaded), images(pipe))
    card = (next(fake_hub.cache.glob("models--me--tiny-adapted/snapshots/*")) / "README.md").read_text()
    assert "GanPipeline.from_pretrained('me/tiny-adapted')" in card and "Adapted on test emoji (CC0)." in card


def test_adapter_for_another_base_is_refused_by_hub_id(fake_hub, monkeypatch):
    _with_affine().push_to_hub("me/affine", adapter_name="affine")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    other = tiny_pipeline("biggan", num_classes=3, seed=99)  # same architecture, other weights
    with pytest.raises(ValueError, match="was made for base model") as err:
        other.load_adapter("me/affine", cache_dir=fake_hub.cache)
    assert "\n" not in str(err.value) and str(err.value).count(". ") == 0
    assert other.list_adapters() == [] and other.active_adapters == []


@pytest.mark.parametrize("repo_id", ["me/../evil", "../evil", "me/evil/../x", "me--x/y"])
def test_bad_hub_ids_are_refused_and_nothing_is_written(tmp_path, fake_hub, repo_id):
    pipe = _with_affine()
    for push in (lambda: pipe.push_to_hub(repo_id), lambda: pipe.push_to_hub(repo_id, adapter_name="affine"),
                 lambda: pipe.generator.push_to_hub(repo_id)):  # fmt: skip
        with pytest.raises(ValueError, match="is not a valid Hub repo id") as err:
            push()
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="No adapter named 'nope'"):
        pipe.push_to_hub("me/fine", adapter_name="nope")
    assert _nothing_sent(fake_hub)
    for load in (lambda: GanPipeline.from_pretrained(repo_id, cache_dir=tmp_path / "c"),
                 lambda: pipe.load_adapter(repo_id, "other", cache_dir=tmp_path / "c")):  # fmt: skip
        with pytest.raises(FileNotFoundError, match="neither a local folder nor a valid Hub repo id"):
            load()
    assert not (tmp_path / "c").exists() and pipe.list_adapters() == ["affine"]


def test_hub_failures_while_pushing_are_one_sentence(monkeypatch):
    def offline(api, repo_id, **kwargs):
        raise OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/repos/create: offline mode is enabled.")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    with pytest.raises(PushError, match=r"Could not push to 'me/x' \(OfflineModeIsEnabled\)") as err:
        tiny_pipeline().push_to_hub("me/x")
    assert "\n" not in str(err.value)


def test_cli_push(tmp_path, fake_hub, monkeypatch, capsys):
    pipe = _with_affine()
    pipe.save_pretrained(tmp_path / "p")
    pipe.save_adapter(tmp_path / "a")
    with pipe.disable_adapters():
        base = images(pipe)
    tiny_pipeline("biggan", num_classes=3).save_pretrained(tmp_path / "base")
    tiny_pipeline("biggan", num_classes=3, seed=99).save_pretrained(tmp_path / "other")
    assert main(["push", str(tmp_path / "p"), "me/cli-gan", "--private"]) == 0
    assert main(["push", str(tmp_path / "a"), "me/cli-adapter", "--base", str(tmp_path / "base")]) == 0
    assert main(["push", str(tmp_path / "a"), "me/bare-adapter"]) == 0
    assert main(["push", str(tmp_path / "p" / "generator"), "me/cli-generator"]) == 0
    assert "Pushed the GanPipeline" in capsys.readouterr().out
    assert [c["repo_id"] for c in fake_hub.created] == ["me/cli-gan", "me/cli-adapter", "me/bare-adapter",
                                                        "me/cli-generator"]  # fmt: skip
    assert fake_hub.created[0]["private"] is True and fake_hub.created[1]["private"] is None
    uploads = len(fake_hub.uploads)
    for args, message in (
        (["push", str(tmp_path / "a"), "me/x", "--base", str(tmp_path / "other")], "was made for base model"),
        (["push", str(tmp_path / "p"), "me/../evil"], "is not a valid Hub repo id"),
        (["push", str(tmp_path / "p"), "me/x", "--base", str(tmp_path / "base")], "--base applies to adapter"),
        (["push", str(tmp_path / "missing"), "me/x"], "neither a local folder nor a valid Hub repo id"),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("gan-transfer push: ") and message in err and err.count("\n") == 1
    assert len(fake_hub.created) == 4 and len(fake_hub.uploads) == uploads  # nothing created or sent

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = GanPipeline.from_pretrained("me/cli-gan", cache_dir=fake_hub.cache)
    loaded.set_progress_bar_config(disable=True)
    assert torch.equal(images(loaded), images(pipe))
    fresh = GanPipeline.from_pretrained(tmp_path / "base")
    fresh.set_progress_bar_config(disable=True)
    fresh.load_adapter("me/cli-adapter", cache_dir=fake_hub.cache)
    assert torch.equal(images(fresh), images(pipe))
    with fresh.disable_adapters():
        assert torch.equal(images(fresh), base)
    generator = Generator.from_pretrained("me/cli-generator", cache_dir=fake_hub.cache)
    assert isinstance(generator, BigGANGenerator) and torch.equal(weights_of(generator), weights_of(pipe.generator))


def weights_of(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([t.flatten().float() for t in module.state_dict().values()])
