"""TransferI2I (Wang et al., ICCV 2021) on tiny real models: the test plan of shared/TRANSFERI2I.md §6."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan_transfer import GanPipeline, I2IPipeline
from gan_transfer.adapters import Adapter
from gan_transfer.cli import main
from gan_transfer.data import list_image_files
from gan_transfer.models import DCGANDiscriminator, DCGANGenerator, DomainDiscriminator, DomainGenerator
from gan_transfer.recipes import GanTrainer
from gan_transfer.recipes.transfer_i2i import (
    AdaptorSelfInit,
    TransferI2IConfig,
    Translator,
    find_taps,
    make_adaptor,
    translate,
)

from .conftest import seeded, tiny_pipeline

EMOJI = Path(__file__).parent / "data" / "emoji"
GOOGLE, TWITTER = list_image_files(EMOJI / "google_b")[:8], list_image_files(EMOJI / "twitter_b")[8:16]
FAST = {"steps": 2, "init_steps": 1, "self_init_steps": 2, "batch_size": 4, "progress": False}


def _models(family: str, **kwargs):
    if family == "dcgan":
        torch.manual_seed(0)
        return DCGANGenerator(resolution=32, z_dim=16, width=8), DCGANDiscriminator(**{"resolution": 32, "width": 8,
                                                                                       **kwargs})  # fmt: skip
    pipe = tiny_pipeline(family)
    d = pipe.discriminator if not kwargs else type(pipe.discriminator)(**{**pipe.discriminator.config.to_dict(),
                                                                         **kwargs})  # fmt: skip
    return pipe.generator, d


def _g_maps(generator, z, modules):
    maps = {}
    handles = [generator.block_modules()[m].register_forward_hook(lambda mod, a, out, m=m: maps.__setitem__(m, out))
               for m in modules]  # fmt: skip
    generator(z)
    for h in handles:
        h.remove()
    return maps


def _translator(family: str = "resnet", **config) -> tuple[Translator, object]:
    g, d = _models(family)
    taps = find_taps(g, d, 4)
    c = TransferI2IConfig(**{"progress": False, **config})
    return Translator(copy.deepcopy(g), copy.deepcopy(d), make_adaptor(taps, "resblock"), taps, c), d


# --- adaptors and taps -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["biggan", "resnet", "dcgan"])
def test_taps_and_sub_adaptors_match_the_generator_maps(family):
    g, d = _models(family, width=16)  # a wider critic: channel counts differ at some levels
    g.eval(), d.eval()
    taps = find_taps(g, d, 4)
    sizes = [d.features(torch.zeros(1, 3, 32, 32))[t.feature].shape[-1] for t in taps]
    assert sizes == sorted(sizes) and sizes[0] == 4 and len(taps) == 3  # 4, 8, 16 px at 32 px (32 is the image)
    adaptor = make_adaptor(taps, "resblock")
    x = g(torch.randn(2, g.config.z_dim, generator=seeded(0)))
    out = adaptor.contributions(adaptor.encode(d, x))
    maps = _g_maps(g, torch.randn(2, g.config.z_dim), [t.module for t in taps])
    for tap, level, sub in zip(taps, out, adaptor.sets[0], strict=True):
        assert level.shape == maps[tap.module].shape
        assert (sub.shortcut is None) == (tap.encoder_channels == tap.generator_channels)


def test_zero_adaptor_reproduces_the_generator_and_z_still_matters():
    g, d = _models("biggan")
    g.eval()
    adaptor = make_adaptor(find_taps(g, d, 4), "conv")
    with torch.no_grad():
        for p in adaptor.parameters():
            p.zero_()
        x = torch.rand(3, 3, 32, 32) * 2 - 1
        z = torch.randn(3, g.config.z_dim, generator=seeded(1))
        feats = adaptor.encode(d, x)
        assert torch.equal(translate(g, adaptor, feats, z), g(z))
        other = translate(g, adaptor, feats, torch.randn(3, g.config.z_dim, generator=seeded(2)))
    assert not torch.allclose(other, g(z))


def test_encoder_starts_as_the_discriminator():
    side, d = _translator()
    assert side.encoder is not d
    own = side.encoder.state_dict()
    assert all(torch.equal(own[k], v) for k, v in d.state_dict().items())


# --- step (b): self-initialisation ---------------------------------------------------------------------------------
def test_self_initialisation_lowers_the_alignment_loss_without_data_or_touching_g_and_d():
    g, d = _models("biggan")
    frozen = {k: v.clone() for k, v in [*g.state_dict().items(), *d.state_dict().items()]}
    taps = find_taps(g, d, 4)
    side = AdaptorSelfInit(g, d, make_adaptor(taps, "resblock"), taps, batch_size=8)

    def alignment_on_fixed_latents() -> float:
        with torch.no_grad():
            return side.reconstruction_loss(None, None, torch.arange(8), seeded(99))[0].item()

    before = alignment_on_fixed_latents()
    config = TransferI2IConfig(steps=300, lr_g=1e-3, betas=(0.9, 0.999), batch_size=8, progress=False)
    trainer = GanTrainer(config, side, None, None, z_dim=g.config.z_dim)
    assert trainer.images is None  # nothing to read: the trainer holds no image at all
    trainer.fit()
    assert alignment_on_fixed_latents() <= 0.5 * before  # measured: 1.57 → 0.71
    after = {k: v for k, v in [*g.state_dict().items(), *d.state_dict().items()]}
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)


# --- step (c): the auxiliary generator and the losses ------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3])
def test_auxiliary_generator_shares_exactly_k_blocks(k):
    side, _ = _translator(shared_blocks=k)
    g, aux = side.generator, side.auxiliary
    assert side.shared_blocks == k
    for i in range(len(g.blocks)):
        assert (aux.blocks[i] is g.blocks[i]) == (i < k)
    assert aux.stem is g.stem and aux.to_image is not g.to_image
    # The auxiliary loss alone reaches the shared blocks and nothing the main generator has alone.
    images = aux(torch.randn(4, g.config.z_dim, generator=seeded(0)))
    images.square().mean().backward()
    for i, block in enumerate(g.blocks):
        grads = [p.grad for p in block.parameters()]
        if i < k:
            assert any(gr is not None and gr.abs().sum() > 0 for gr in grads)
        else:
            assert all(gr is None for gr in grads)
    assert all(p.grad is None for p in [*g.to_image.parameters(), *g.out_norm.parameters()])


def test_aux_weight_zero_is_the_same_as_no_auxiliary_term():
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    trained = []
    for weight in (0.0, 0.01):
        side, d = _translator(aux_weight_i2i=weight, steps=2, batch_size=4, d_steps=1)
        if weight:
            side.aux_weight = 0.0  # an auxiliary generator that runs, with weight 0
        config = TransferI2IConfig(steps=2, batch_size=4, progress=False)
        GanTrainer(config, side, copy.deepcopy(d), x, z_dim=side.generator.config.z_dim, inputs=x.flip(0)).fit()
        trained.append(side)
    for part in ("generator", "encoder", "adaptor"):
        a, b = (dict(getattr(s, part).named_parameters()) for s in trained)
        assert all(torch.equal(a[n], b[n]) for n in a), part


def test_reconstruction_loss_updates_the_translator_not_the_critic():
    side, d = _translator()
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    z = torch.randn(4, side.generator.config.z_dim, generator=seeded(0))
    d.requires_grad_(False)  # as the engine does for the generator step
    side.regularizer(side(z, None, x), {"x": x}, d).backward()
    assert all(p.grad is None for p in d.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in side.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in side.adaptor.parameters())


def test_a_dcgan_translator_trains_on_the_engine():
    side, d = _translator("dcgan")
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    before = side.adaptor.sets[0][0].conv1.weight.clone()
    result = GanTrainer(TransferI2IConfig(steps=2, batch_size=4, progress=False), side, d, x, z_dim=16,
                        inputs=x.flip(0)).fit()  # fmt: skip
    assert {"g_aux_fake", "g_penalty"} <= set(result.history[-1])
    assert not torch.equal(before, side.adaptor.sets[0][0].conv1.weight)


# --- the pipeline ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_class() -> I2IPipeline:
    return I2IPipeline.from_gan(tiny_pipeline("biggan"), GOOGLE, TWITTER, **FAST)


def _translate(pipe: I2IPipeline, target, k: int = 2) -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    return pipe(GOOGLE[:3], target_class=target, num_variants=k, generator=seeded(5), output_type="pt").images


def test_two_class_translator_round_trips_bit_identically(tmp_path, two_class):
    assert isinstance(two_class.generator, DomainGenerator) and isinstance(two_class.encoder, DomainDiscriminator)
    out = _translate(two_class, 1)
    assert out.shape == (6, 3, 32, 32)
    assert not torch.equal(out[0], out[1])  # two variants of one input differ (z)
    two_class.save_pretrained(tmp_path / "i2i")
    assert (tmp_path / "i2i" / "adapters" / "0" / "adapter_config.json").is_file()
    loaded = I2IPipeline.from_pretrained(tmp_path / "i2i")
    for target in (0, 1, [0, 1, 0]):
        assert torch.equal(_translate(loaded, target), _translate(two_class, target))
    stored = load_file(tmp_path / "i2i" / "adapters" / "0" / "adapter_model.safetensors")
    assert stored and all(k.startswith("sets.") for k in stored)  # the adaptor alone, in its own file
    assert sum(v.numel() for v in stored.values()) == sum(p.numel() for p in two_class.get_adapter("transfer_i2i")
                                                          .parameters())  # fmt: skip
    assert Adapter.from_pretrained(tmp_path / "i2i" / "adapters" / "0").kind == "i2i_adaptor"


def test_multi_class_translator_round_trips(tmp_path):
    labels = [i % 3 for i in range(8)]
    pipe = I2IPipeline.from_gan(tiny_pipeline("resnet", num_classes=3), GOOGLE, class_labels=labels, **FAST)
    assert pipe.num_targets == 3 and pipe.get_adapter("transfer_i2i").config.kwargs["block"] == "resblock"
    pipe.save_pretrained(tmp_path / "m")
    loaded = I2IPipeline.from_pretrained(tmp_path / "m")
    assert torch.equal(_translate(loaded, [2, 0, 1]), _translate(pipe, [2, 0, 1]))


class _Stop(Exception):
    pass


def test_transfer_i2i_resumes_to_the_same_translator(tmp_path):
    opts = {**FAST, "steps": 4, "checkpoint_every": 1}
    straight = I2IPipeline.from_gan(tiny_pipeline("biggan"), GOOGLE, TWITTER, output_dir=str(tmp_path / "a"), **opts)
    calls = []

    def stop_in_the_second_direction(step, logs, draw):
        calls.append(step)
        if len(calls) == 2 + 2 + 4 + 2 + 2:  # init ×2, self-init + translation 1→0, self-init 0→1, then 2 steps
            raise _Stop

    with pytest.raises(_Stop):
        I2IPipeline.from_gan(tiny_pipeline("biggan"), GOOGLE, TWITTER, output_dir=str(tmp_path / "b"),
                             callbacks=[stop_in_the_second_direction], **opts)  # fmt: skip
    resumed = I2IPipeline.from_gan(tiny_pipeline("biggan"), GOOGLE, TWITTER, output_dir=str(tmp_path / "b"),
                                   resume=True, **opts)  # fmt: skip
    for part in ("generator", "encoder", "discriminator"):
        a, b = getattr(straight, part).state_dict(), getattr(resumed, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), part
    a, b = (p.get_adapter("transfer_i2i").state_dict() for p in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


# --- bad input -----------------------------------------------------------------------------------------------------
def test_bad_inputs_get_one_clear_sentence(two_class):
    source = tiny_pipeline("biggan")
    with pytest.raises(ValueError, match="No images were given"):
        I2IPipeline.from_gan(source, GOOGLE, [], **FAST)
    with pytest.raises(ValueError, match="more than 10× apart in size"):
        I2IPipeline.from_gan(source, GOOGLE[:1], list_image_files(EMOJI / "google_a")[:11], **FAST)
    with pytest.raises(ValueError, match=r"target_class 2 is not one of this translator's targets \(0..1\)"):
        two_class(GOOGLE[:1], target_class=2)
    with pytest.raises(ValueError, match=r"Unknown class 'twitter'; this model's classes are: none"):
        two_class(GOOGLE[:1], target_class="twitter")  # names only where the source's classes have them
    with pytest.raises(ValueError, match="channel"):
        two_class(torch.rand(1, 2, 32, 32), target_class=1)
    with pytest.raises(ValueError, match=r"I2IPipeline\.from_gan"):
        source.adapt(GOOGLE, method="transfer_i2i", **FAST)
    with pytest.raises(ValueError, match="class_labels"):
        I2IPipeline.from_gan(source, GOOGLE, **FAST)


def test_cli_translate_trains_and_applies(tmp_path, capsys):
    source = tiny_pipeline("biggan")
    source.save_pretrained(tmp_path / "source")
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder, files in zip(folders, (GOOGLE, TWITTER), strict=True):
        folder.mkdir()
        for f in files:
            (folder / f.name).write_bytes(f.read_bytes())
    args = ["translate", "train", str(tmp_path / "source"), *map(str, folders), "--output", str(tmp_path / "t"),
            "--steps", "2", "--batch-size", "4", "--set", "init_steps=1", "--set", "self_init_steps=2", "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    saved = I2IPipeline.from_pretrained(tmp_path / "t" / "pipeline")
    reference = I2IPipeline.from_gan(GanPipeline.from_pretrained(tmp_path / "source"), folders[0], folders[1], **FAST)
    assert torch.equal(_translate(saved, 1), _translate(reference, 1))
    grid = tmp_path / "grid.png"
    args = ["translate", "apply", str(tmp_path / "t" / "pipeline"), str(folders[0]), "--target-class", "1",
            "--variants", "2", "--output", str(grid), "--quiet"]  # fmt: skip
    assert main(args) == 0 and grid.is_file()
    assert main(["translate", "apply", str(tmp_path / "t" / "pipeline"), str(folders[0]), "--target-class", "7",
                 "--output", str(tmp_path / "no.png")]) == 2  # fmt: skip
    assert "target_class 7" in capsys.readouterr().err and not (tmp_path / "no.png").exists()
