"""The adapter mechanism, proven with the test-only kind in conftest: bit-identity, scoping, refusal, round trips."""

from __future__ import annotations

import json

import pytest
import torch

from gan_transfer import GanPipeline
from gan_transfer.adapters import Adapter
from gan_transfer.hub import weights_hash

from .conftest import FAMILIES, ChannelAffineAdapter, seeded, tiny_pipeline


def gen(pipe: GanPipeline, seed: int = 5) -> torch.Tensor:
    return pipe(num_images=4, generator=seeded(seed), output_type="pt").images


def with_adapter(family: str = "resnet", num_classes: int = 0, seed: int = 1) -> GanPipeline:
    pipe = tiny_pipeline(family, num_classes)
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator, seed=seed), "affine")
    return pipe


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("num_classes", [0, 3])
def test_disabled_adapters_are_bit_identical_to_base(family, num_classes):
    base = gen(tiny_pipeline(family, num_classes))
    pipe = with_adapter(family, num_classes)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    adapted = gen(pipe)
    assert not torch.allclose(adapted, base)
    with pipe.disable_adapters():
        assert pipe.active_adapters == []
        assert torch.equal(gen(pipe), base)
    assert pipe.active_adapters == ["affine"]
    assert torch.equal(gen(pipe), adapted)
    pipe.disable_adapters()
    assert torch.equal(gen(pipe), base)
    pipe.enable_adapters()
    assert torch.equal(gen(pipe), adapted)
    assert all(torch.equal(before[k], v) for k, v in pipe.generator.state_dict().items()), "a base weight changed"
    assert not any(m._forward_hooks for m in pipe.generator.modules()), "hooks left on the generator"


def test_adapters_are_scoped_to_their_pipeline():
    a = with_adapter()
    b = GanPipeline(a.generator, a.discriminator)  # shares the very same generator object
    b.set_progress_bar_config(disable=True)
    with a.disable_adapters():
        base = gen(a)
    assert b.list_adapters() == []
    assert torch.equal(gen(b), base)
    b.add_adapter(ChannelAffineAdapter.for_generator(b.generator, seed=2), "other")
    assert not torch.allclose(gen(b), gen(a))
    assert a.list_adapters() == ["affine"] and b.list_adapters() == ["other"]


def test_set_delete_list_and_stacking():
    pipe = with_adapter()
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator, seed=2), "second", set_active=False)
    assert pipe.list_adapters() == ["affine", "second"] and pipe.active_adapters == ["affine"]
    first = gen(pipe)
    pipe.set_adapter("second")
    second = gen(pipe)
    pipe.set_adapter(["affine", "second"])
    both = gen(pipe)
    assert len({first.sum().item(), second.sum().item(), both.sum().item()}) == 3
    with pytest.raises(ValueError, match="No adapter named 'third' is loaded"):
        pipe.set_adapter("third")
    with pytest.raises(ValueError, match="already loaded"):
        pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator), "second")
    pipe.delete_adapter("second")
    assert pipe.list_adapters() == ["affine"] and pipe.active_adapters == ["affine"]
    assert torch.equal(gen(pipe), first)


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_adapter_round_trip(tmp_path, family):
    pipe = with_adapter(family, num_classes=3)
    pipe.card_data = {"license": "cc-by-4.0", "credits": "Base trained on test images."}
    expected = gen(pipe)
    pipe.save_adapter(tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter/adapter_config.json").read_text())
    assert config["kind"] == "test_channel_affine" and config["base_model_hash"] == weights_hash(pipe.generator)
    assert (tmp_path / "adapter/adapter_model.safetensors").is_file()
    assert "Licences and credits" in (tmp_path / "adapter/README.md").read_text()

    fresh = tiny_pipeline(family, num_classes=3)  # same seed → same base weights
    assert fresh.load_adapter(tmp_path / "adapter", adapter_name="loaded") == "loaded"
    assert torch.equal(gen(fresh), expected)
    assert isinstance(Adapter.from_pretrained(tmp_path / "adapter"), ChannelAffineAdapter)


def test_adapter_for_another_base_is_refused(tmp_path):
    pipe = with_adapter()
    pipe.save_adapter(tmp_path / "adapter")
    other = tiny_pipeline(seed=99)  # same architecture, other weights
    with pytest.raises(ValueError, match=r"was made for base model .* not for this pipeline's generator"):
        other.load_adapter(tmp_path / "adapter")
    assert other.list_adapters() == []
    biggan = tiny_pipeline("biggan")
    with pytest.raises(ValueError, match="not for this pipeline's generator"):
        biggan.load_adapter(tmp_path / "adapter")


def test_adapter_that_does_not_fit_is_refused():
    pipe = tiny_pipeline()
    adapter = ChannelAffineAdapter.for_generator(tiny_pipeline(resolution=64).generator)
    with pytest.raises(ValueError, match="do not match"):
        pipe.add_adapter(adapter)


def test_adapter_loading_errors(tmp_path):
    pipe = with_adapter()
    pipe.save_adapter(tmp_path / "a")
    config = json.loads((tmp_path / "a/adapter_config.json").read_text())
    (tmp_path / "a/adapter_config.json").write_text(json.dumps({**config, "_class_name": "mystery_kind"}))
    with pytest.raises(ValueError, match="Unknown adapter kind 'mystery_kind'"):
        tiny_pipeline().load_adapter(tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        tiny_pipeline().load_adapter(tmp_path / "nothing-here")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("num_classes", [0, 3])
def test_fuse_adapter_uses_a_private_copy(family, num_classes):
    pipe = with_adapter(family, num_classes)
    shared = pipe.generator
    sharer = GanPipeline(shared)
    sharer.set_progress_bar_config(disable=True)
    base = gen(sharer)
    adapted = gen(pipe)
    pipe.fuse_adapter()
    assert pipe.list_adapters() == [] and pipe.generator is not shared
    torch.testing.assert_close(gen(pipe), adapted, rtol=1e-4, atol=1e-5)
    assert torch.equal(gen(sharer), base)


def test_adapter_push_to_hub(fake_hub):
    pipe = with_adapter()
    expected = gen(pipe)
    pipe.get_adapter("affine").push_to_hub("me/affine")
    fresh = tiny_pipeline()
    fresh.load_adapter("me/affine", cache_dir=fake_hub.cache, local_files_only=True)
    assert torch.equal(gen(fresh), expected)
