"""BSA and the scale/shift and batch-statistics adapters: frozen base, size, learning, truncation, morphing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan_transfer import GanPipeline
from gan_transfer.adapters import BatchStatisticsAdapter, ScaleShiftAdapter, attach, interpolate
from gan_transfer.data import list_image_files, load_images
from gan_transfer.latents import truncate
from gan_transfer.recipes import get_recipe

from .conftest import FAMILIES, seeded, tiny_pipeline

EMOJI = Path(__file__).parent / "data" / "emoji" / "google_a"
FAST = {"steps": 40, "progress": False, "lr_g": 0.01, "perceptual_resolution": 64}


@pytest.fixture(scope="module")
def trained():
    """One BSA run on 10 real emoji, shared by the tests that only read it."""
    pipe = tiny_pipeline("biggan")
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    files = list_image_files(EMOJI)[:10]
    tuned = pipe.adapt(files, method="bsa", **FAST)
    return pipe, before, tuned, files


def test_paper_structure_defaults():
    c = get_recipe("bsa").config
    assert c.truncation == 0.3 and c.perceptual_extractor == "efficientnet-lite0" and c.first_feature_map


def test_base_weights_stay_bit_identical(trained):
    pipe, before, tuned, _ = trained
    after = pipe.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "a base weight or running statistic changed"
    assert tuned.generator is pipe.generator and all(p.requires_grad for p in pipe.generator.parameters())
    assert not any(m._forward_hooks for m in pipe.generator.modules())
    with tuned.disable_adapters():
        assert torch.equal(tuned(num_images=3, generator=seeded(), output_type="pt").images,
                           pipe(num_images=3, generator=seeded(), output_type="pt").images)  # fmt: skip


def test_adapter_is_small(trained):
    """Only γ/β per channel: ≤ 1 % of the generator's bytes at real sizes (width ≥ 32), both families."""
    _, _, tuned, _ = trained
    adapter = tuned.get_adapter("bsa")
    channels = adapter.config.kwargs["channels"]
    assert sum(t.numel() for t in adapter.state_dict().values()) == 2 * sum(channels.values())
    for g_cls, _, _ in FAMILIES.values():
        for width in (32, 64):
            g = g_cls(resolution=32, width=width)
            a = ScaleShiftAdapter.for_generator(g)
            adapter_bytes = sum(t.numel() * t.element_size() for t in a.state_dict().values())
            g_bytes = sum(t.numel() * t.element_size() for t in g.state_dict().values())
            assert adapter_bytes <= 0.01 * g_bytes, (g_cls.__name__, width, adapter_bytes, g_bytes)


def test_reconstruction_loss_falls_and_latents_beat_random(trained):
    pipe, _, tuned, files = trained
    history = tuned.training_result.history
    assert history[-1]["pixel_l1"] < 0.97 * history[0]["pixel_l1"]
    images = load_images(files, 32, 3)
    latents = tuned.training_result.extras["latents"]
    adapter = tuned.get_adapter("bsa")
    g = pipe.generator.eval()
    with torch.no_grad(), attach([adapter], g):
        fitted = F.l1_loss(g(latents), images).item()
        random = F.l1_loss(g(torch.randn(latents.shape, generator=seeded(3))), images).item()
    assert fitted < random


def test_truncation_threshold_is_honoured(trained):
    _, _, tuned, _ = trained
    seen = []
    handle = tuned.generator.register_forward_pre_hook(lambda m, args, kwargs: seen.append(args[0]), with_kwargs=True)
    try:
        tuned(num_images=64, generator=seeded())
    finally:
        handle.remove()
    assert seen[0].abs().max().item() <= 0.3 + 1e-6 and seen[0].std().item() > 0.1


@pytest.mark.parametrize("init", ["zeros", "normal"])
def test_latent_init_and_untruncated_sampling(init):
    """``latent_init="normal"`` starts every latent at a seeded N(0, I) draw (for generators that draw nothing near
    z = 0); ``truncation=None`` samples the untruncated prior."""
    files = list_image_files(EMOJI)[:4]
    options = {**FAST, "steps": 1, "lr_latent": 1e-6, "latent_noise": 0.0, "latent_init": init, "truncation": None}
    runs = [tiny_pipeline("biggan").adapt(files, method="bsa", **options) for _ in range(2)]
    latents = [r.training_result.extras["latents"] for r in runs]
    assert torch.equal(latents[0], latents[1])  # seeded by the config
    norm = latents[0].norm(dim=1).mean().item()
    assert (norm < 1e-3) if init == "zeros" else (4 < norm < 8)  # z_dim 32: a N(0, I) draw has norm ≈ 5.7
    seen = []
    handle = runs[0].generator.register_forward_pre_hook(lambda m, a, kw: seen.append(a[0]), with_kwargs=True)
    try:
        runs[0](num_images=256, generator=seeded())
    finally:
        handle.remove()
    assert seen[0].abs().max().item() > 1.5  # the pipeline's own draw (|z| ≤ 2), not BSA's 0.2–0.4 threshold
    with pytest.raises(ValueError, match="latent_init='uniform'"):
        get_recipe("bsa", latent_init="uniform")


@pytest.mark.parametrize("family", FAMILIES)
def test_domains_side_by_side_and_morphing(family):
    pipe = tiny_pipeline(family)
    a = ScaleShiftAdapter.for_generator(pipe.generator)
    b = ScaleShiftAdapter.for_generator(pipe.generator)
    with torch.no_grad():
        for i, p in enumerate([*a.parameters(), *b.parameters()]):
            p.add_(0.2 * torch.randn(p.shape, generator=seeded(i)))
    pipe.add_adapter(a, "a")
    pipe.add_adapter(b, "b")
    outs = {}
    for name in ("a", "b"):
        pipe.set_adapter(name)
        outs[name] = pipe(num_images=3, generator=seeded(), output_type="pt").images
    for alpha, end in ((0.0, "a"), (1.0, "b")):
        pipe.add_adapter(interpolate(a, b, alpha), f"m{alpha}")
        assert torch.equal(pipe(num_images=3, generator=seeded(), output_type="pt").images, outs[end])
    pipe.add_adapter(interpolate(a, b, 0.5), "half")
    half = pipe(num_images=3, generator=seeded(), output_type="pt").images
    assert not torch.allclose(half, outs["a"]) and not torch.allclose(half, outs["b"])
    pipe.add_adapter(interpolate(None, a, 0.0), "identity")  # the base model with BSA's truncated sampling
    identity = pipe(num_images=3, generator=seeded(), output_type="pt").images
    with pipe.disable_adapters():
        z = pipe(num_images=3, generator=seeded(), output_type="pt").latents
        assert torch.equal(identity, pipe(latents=truncate(z, 0.3), output_type="pt").images)


def test_scale_shift_round_trip_fuse_and_refusal(tmp_path):
    pipe = tiny_pipeline("resnet")
    adapter = ScaleShiftAdapter.for_generator(pipe.generator, first_feature_map=False)
    with torch.no_grad():
        for i, p in enumerate(adapter.parameters()):
            p.add_(0.2 * torch.randn(p.shape, generator=seeded(i)))
    pipe.add_adapter(adapter, "x")
    expected = pipe(num_images=3, generator=seeded(), output_type="pt").images
    pipe.save_adapter(tmp_path / "x")
    fresh = tiny_pipeline("resnet")
    fresh.load_adapter(tmp_path / "x")
    assert torch.equal(fresh(num_images=3, generator=seeded(), output_type="pt").images, expected)
    fresh.fuse_adapter()  # folds γ/β; BSA's truncated sampling is the caller's to apply to z from here on
    z = truncate(pipe(num_images=3, generator=seeded(), output_type="pt").latents, 0.3)
    torch.testing.assert_close(fresh(latents=z, output_type="pt").images, expected, rtol=1e-4, atol=1e-5)
    with_first = ScaleShiftAdapter.for_generator(pipe.generator)
    pipe.add_adapter(with_first, "first")
    with pytest.raises(NotImplementedError, match="first_feature_map=False"):
        pipe.fuse_adapter("first")
    with pytest.raises(ValueError, match="does not fit"):
        tiny_pipeline("resnet", resolution=64).add_adapter(ScaleShiftAdapter.for_generator(pipe.generator))


def test_batch_statistics_adapter():
    pipe = tiny_pipeline("biggan")
    g = pipe.generator
    base = pipe(num_images=3, generator=seeded(), output_type="pt").images
    own = BatchStatisticsAdapter({k: bn.num_features for k, bn in BatchStatisticsAdapter._batch_norms(g).items()})
    with torch.no_grad():
        for k, bn in BatchStatisticsAdapter._batch_norms(g).items():
            own.means[k.replace(".", "__")].copy_(bn.running_mean)
            own.variances[k.replace(".", "__")].copy_(bn.running_var)
    pipe.add_adapter(own, "own")
    torch.testing.assert_close(pipe(num_images=3, generator=seeded(), output_type="pt").images, base, rtol=0,
                               atol=1e-6)  # fmt: skip
    z = torch.randn(40, g.config.z_dim, generator=seeded(1))
    estimated = BatchStatisticsAdapter.estimate(g, z, batch_size=40)  # one batch: exact statistics
    captured = []
    first_bn = BatchStatisticsAdapter._batch_norms(g)["blocks.0.norm1.bn"]
    handle = first_bn.register_forward_hook(lambda m, args, out: captured.append(args[0]))
    with torch.no_grad():
        g.eval()(z)
    handle.remove()
    x = captured[0]
    torch.testing.assert_close(estimated.means["blocks__0__norm1__bn"], x.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(estimated.variances["blocks__0__norm1__bn"], x.var(dim=(0, 2, 3)), rtol=1e-3,
                               atol=1e-5)  # fmt: skip
    pipe.add_adapter(estimated, "adabn")
    assert not torch.allclose(pipe(num_images=3, generator=seeded(), output_type="pt").images, base)


def test_bsa_pipeline_saves_adapter_with_method(tmp_path, trained):
    _, _, tuned, _ = trained
    tuned.save_adapter(tmp_path / "a")
    fresh = tiny_pipeline("biggan")
    fresh.load_adapter(tmp_path / "a", "twitter")
    assert fresh.get_adapter("twitter").config.method == "bsa"
    assert torch.equal(fresh(num_images=2, generator=seeded(), output_type="pt").images,
                       tuned(num_images=2, generator=seeded(), output_type="pt").images)  # fmt: skip
    assert isinstance(fresh, GanPipeline)


def test_adapter_methods_keep_the_base_name(tmp_path):
    pipe = tiny_pipeline("biggan")
    pipe.save_pretrained(tmp_path / "base")
    base = GanPipeline.from_pretrained(tmp_path / "base")
    tuned = base.adapt(torch.rand(4, 3, 32, 32), method="bsa", steps=1, progress=False, perceptual_resolution=32)
    assert tuned.name_or_path == str(tmp_path / "base")
    assert tuned.get_adapter("bsa").config.base_model == str(tmp_path / "base")


@pytest.mark.parametrize("num_classes", [0, 3])
def test_per_class_scale_shift(num_classes):
    pipe = tiny_pipeline("biggan", num_classes=num_classes)
    tuned = pipe.adapt(torch.rand(6, 3, 32, 32, generator=seeded()), class_labels=[0, 1, 2] * 2, method="bsa",
                       steps=3, progress=False, perceptual_resolution=32, per_class=True, lr_g=0.05)  # fmt: skip
    adapter = tuned.get_adapter("bsa")
    assert adapter.num_classes == 3 and next(iter(adapter.scale.values())).shape[0] == 3
    out = tuned(num_images=6, class_labels=[0, 1, 2, 0, 1, 2], generator=seeded(), output_type="pt")
    assert torch.equal(out.class_labels, torch.tensor([0, 1, 2, 0, 1, 2]))
    z = out.latents
    again = tuned(latents=z, class_labels=[0, 0, 0, 0, 0, 0], output_type="pt").images
    assert torch.equal(again[[0, 3]], out.images[[0, 3]]) and not torch.allclose(again[1], out.images[1])
    with pytest.raises(NotImplementedError, match="per-class"):
        tuned.fuse_adapter()
