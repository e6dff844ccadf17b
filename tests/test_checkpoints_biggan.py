"""BigGAN checkpoints users hold: BigGAN-PyTorch (G_ema/D), StudioGAN big_resnet (G/D), pytorch-pretrained-biggan's
BigGAN-deep. Outputs equal the original code (golden fixtures its code made, or the installed package), full-size
layouts are read from their published key/shape tables, every method runs on them, bad input gets one sentence."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan_transfer import GanPipeline, I2IPipeline
from gan_transfer.cli import main
from gan_transfer.convert import biggan_deep as deep_format
from gan_transfer.convert import biggan_pytorch as bp_format
from gan_transfer.convert import convert_checkpoint
from gan_transfer.convert.studiogan import StudioGANFormat
from gan_transfer.data import list_image_files
from gan_transfer.hub import check_shapes
from gan_transfer.models import BigGANDeepGenerator, BigGANDiscriminator, BigGANGenerator

from .conftest import seeded

DATA = Path(__file__).parent / "data"
BP, SG = DATA / "checkpoints" / "biggan_pytorch", DATA / "checkpoints" / "studiogan"
SG_G, SG_D = SG / "model=G-best-weights-step=3.pth", SG / "model=D-best-weights-step=3.pth"
FULL = json.loads((DATA / "checkpoints" / "full_size_keys.json").read_text())
EMOJI = list_image_files(DATA / "emoji" / "google_a")[:8]
LAYERS_128 = [[False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
              [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]]  # fmt: skip


def _golden(folder: Path, g_file: Path, d_file: Path, fmt: str) -> None:
    io = load_file(str(folder / "io.safetensors"))
    converted = convert_checkpoint(g_file, fmt, discriminator=d_file)
    with torch.no_grad():
        images = converted.generator(io["z"], class_labels=io["y"])
        logits = converted.discriminator(io["images"], io["y"])
    assert io["images"].std() > 0.05  # a real picture, not a saturated or constant one
    torch.testing.assert_close(images, io["images"], atol=1e-5, rtol=0)
    torch.testing.assert_close(logits, io["logits"].reshape(-1), atol=1e-5, rtol=1e-5)


def test_biggan_pytorch_g_and_d_equal_the_original_code():
    _golden(BP, BP / "G.pth", BP / "D.pth", "biggan-pytorch")


def test_studiogan_g_and_d_equal_the_original_code():
    _golden(SG, SG_G, SG_D, "studiogan")  # its D file also carries NumPy scalars (best_fid, step)


def _meta(name: str) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in FULL[name]}


def _fits(model: torch.nn.Module, own: dict[str, torch.Tensor]) -> None:
    check_shapes(model, {k: tuple(v.shape) for k, v in own.items()}, "the full-size table")


def test_full_size_layouts_are_read_from_shapes_alone():
    """The published 138k / StudioGAN / BigGAN-deep tables (shapes only, nothing allocated) map onto our models."""
    state = _meta("ajbrock_G_I128_ch96_hier")
    options = bp_format.generator_config(state, "G_ema.pth")
    assert options | {} == {**options, "resolution": 128, "width": 96, "z_dim": 120, "shared_dim": 128,
                            "channel_multipliers": (16, 16, 8, 4, 2, 1), "attention_resolution": 64,
                            "num_classes": 1000, "hierarchical_z": True}  # fmt: skip
    with torch.device("meta"):
        g = BigGANGenerator(**options)
    _fits(g, bp_format.generator_state(state, 5))
    assert g.num_parameters() == 70_448_772  # BigGAN-PyTorch's 70.4 M (+ zero biases of the BN maps)
    d_state = _meta("ajbrock_D_I128_ch96")
    d_options = bp_format.discriminator_config(d_state, 128, "D.pth")
    assert d_options["downsample"] == (True,) * 5 + (False,) and d_options["attention_resolution"] == 64
    with torch.device("meta"):
        d = BigGANDiscriminator(**d_options)
    _fits(d, bp_format.discriminator_state(d_state, 6))
    assert d.num_parameters() == 87_982_370
    studio = StudioGANFormat().rename(_meta("studiogan_bigresnet_G_I128"))
    with torch.device("meta"):
        g2 = BigGANGenerator(**bp_format.generator_config(studio, "G", 1e-4))
    _fits(g2, bp_format.generator_state(studio, 5))
    for res, params in ((128, 50_429_825), (256, 55_929_217), (512, 56_213_185)):
        state = _meta(f"hf_biggan_deep_{res}")
        options = deep_format.generator_config(state, "pytorch_model.bin", None)
        assert options["resolution"] == res and options["attention_resolution"] == 64
        with torch.device("meta"):
            gd = BigGANDeepGenerator(**options)
        _fits(gd, deep_format.generator_state(state, options))
        assert gd.num_parameters() == params


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """pytorch-pretrained-biggan's own BigGAN-deep, random weights at width 8, saved as its from_pretrained reads."""
    for name in ("boto3", "botocore", "botocore.exceptions", "requests"):  # imported for downloads only
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["botocore.exceptions"].ClientError = Exception
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(0)
    config = BigGANConfig(output_dim=128, z_dim=32, class_embed_dim=32, channel_width=8, num_classes=10,
                          layers=LAYERS_128, attention_layer_position=8, eps=1e-4, n_stats=51)  # fmt: skip
    model = BigGAN(config)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_means"):
                buf.normal_(0, 0.2)
            elif name.endswith("running_vars"):
                buf.uniform_(0.5, 1.5)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.6)
            elif name in ("generator.bn.weight", "generator.bn.bias"):
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
        model.train()  # its spectral norms' power iterations settle (its BN has no training path: stats stay)
        for _ in range(10):
            model(torch.randn(2, 32), torch.eye(10)[[1, 2]], 1.0)
    model.eval()
    folder = tmp_path_factory.mktemp("biggan-deep")
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(config.to_json_string())
    return model, folder


@pytest.mark.parametrize("truncation", [1.0, 0.4, 0.41])
def test_biggan_deep_equals_the_package(peer, truncation):
    model, folder = peer
    pipe = GanPipeline.from_checkpoint(folder / "pytorch_model.bin")
    pipe.set_progress_bar_config(disable=True)
    z, labels = torch.randn(3, 32, generator=seeded(1)) * truncation, torch.tensor([0, 4, 9])
    with torch.no_grad():
        reference = model(z, torch.eye(10)[labels], truncation)
    out = pipe(latents=z, class_labels=labels, truncation=truncation, output_type="pt").images * 2 - 1
    assert reference.std() > 0.05
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)


def test_biggan_deep_truncation_selects_statistics_and_training_moves_one_row(peer):
    g = GanPipeline.from_checkpoint(peer[1] / "pytorch_model.bin").generator
    z, y = torch.randn(2, 32, generator=seeded(2)), torch.tensor([1, 3])
    with torch.no_grad():
        g.set_truncation(0.4)
        a = g(z, class_labels=y)
        g.set_truncation(1.0)
        b = g(z, class_labels=y)
    assert (a - b).abs().max() > 1e-3  # the batch statistics differ per truncation
    norm = g.blocks[0].norm0.bn
    before = norm.running_means.clone()
    g.train()
    g(torch.randn(4, 32, generator=seeded(3)), class_labels=torch.tensor([0, 1, 2, 3]))
    changed = (norm.running_means != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [50]  # truncation 1.0: the last row only
    with pytest.raises(ValueError, match="0 < truncation ≤ 1"):
        g.set_truncation(1.5)


def _tiny_deep() -> GanPipeline:
    torch.manual_seed(0)
    g = BigGANDeepGenerator(resolution=32, num_classes=4, width=8, z_dim=16, shared_dim=8, attention_resolution=16)
    return GanPipeline(g.eval(), g.build_discriminator(width=8))


SMOKE = {"transfer_gan": {"batch_size": 4, "d_steps": 1}, "bsa": {"batch_size": 4, "perceptual_resolution": 32},
         "minegan": {"batch_size": 4, "d_steps": 1}, "cgan_transfer": {"batch_size": 4}}  # fmt: skip


@pytest.mark.parametrize("method", sorted(SMOKE))
@pytest.mark.parametrize("source", ["biggan-pytorch", "biggan-deep"])
def test_every_method_adapts_the_imported_backbones(method, source):
    pipe = (GanPipeline.from_checkpoint(BP / "G.pth", discriminator=BP / "D.pth") if source == "biggan-pytorch"
            else _tiny_deep())  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    # cGANTransfer: two new classes; the others on a conditional source: the source class each image belongs to
    labels = [i % 2 for i in range(8)] if method == "cgan_transfer" else None if method == "minegan" else [1] * 8
    tuned = pipe.adapt(EMOJI, method=method, class_labels=labels, steps=2, progress=False, **SMOKE[method])
    images = tuned(num_images=2, class_labels=[0, 1], generator=seeded(0), output_type="pt").images
    assert images.shape[-1] == pipe.generator.config.resolution and torch.isfinite(images).all()
    if method != "transfer_gan":  # the adapter methods leave the source's weights as they were
        assert all(torch.equal(v, before[k]) for k, v in pipe.generator.state_dict().items())


def test_transfer_i2i_multi_class_on_the_imported_biggan():
    pipe = GanPipeline.from_checkpoint(BP / "G.pth", discriminator=BP / "D.pth")
    i2i = I2IPipeline.from_gan(pipe, EMOJI, class_labels=[i % 5 for i in range(8)], steps=2, init_steps=1,
                               self_init_steps=2, batch_size=4, progress=False)  # fmt: skip
    assert i2i.num_targets == 5  # its multi-class setting: the source's own classes as the targets


def test_bad_input_gets_one_sentence(tmp_path, peer, capsys):
    with pytest.raises(ValueError, match=r"is a BigGAN-PyTorch discriminator .* pass this file as discriminator="):
        convert_checkpoint(BP / "D.pth", "biggan-pytorch")
    with pytest.raises(ValueError, match=r"discriminator=.*G.pth. is a generator"):
        convert_checkpoint(BP / "G.pth", discriminator=BP / "G.pth")
    with pytest.raises(ValueError, match="is a 64 px BigGAN-PyTorch generator, not 128 px"):
        convert_checkpoint(BP / "G.pth", resolution=128)
    deep = peer[1] / "pytorch_model.bin"
    with pytest.raises(ValueError, match=r"laid out as .biggan-deep.*pass format=.biggan-deep."):
        convert_checkpoint(deep, "biggan-pytorch")
    with pytest.raises(ValueError, match="laid out as 'studiogan'"):
        convert_checkpoint(SG_G, "biggan-pytorch")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    shutil.copy(deep, wrong / "pytorch_model.bin")
    config = json.loads((peer[1] / "config.json").read_text())
    config.update(output_dim=256, layers=[[False, 16, 16], [True, 16, 16]] * 6)
    (wrong / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json beside .* does not describe its tensors: output_dim=256"):
        convert_checkpoint(wrong / "pytorch_model.bin")
    extra = torch.load(BP / "G.pth", weights_only=True) | {"linear2.weight": torch.zeros(3, 3)}
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"1 tensors a BigGAN-PyTorch BigGAN of this layout has no place for"):
        convert_checkpoint(tmp_path / "extra.pth")
    assert main(["convert", "biggan-pytorch", str(BP / "D.pth"), str(tmp_path / "out")]) == 2
    assert "discriminator" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_cli_converts_g_and_d_into_a_pipeline_folder(tmp_path, capsys):
    out = tmp_path / "biggan"
    assert main(["convert", "biggan-pytorch", str(BP / "G.pth"), str(out), "--discriminator", str(BP / "D.pth")]) == 0
    assert "BigGANGenerator 64 px, 5 classes" in capsys.readouterr().out
    loaded = GanPipeline.from_pretrained(out)
    direct = convert_checkpoint(BP / "G.pth", discriminator=BP / "D.pth")
    assert isinstance(loaded.discriminator, BigGANDiscriminator)
    z, y = torch.randn(2, loaded.generator.config.z_dim, generator=seeded(4)), torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.equal(loaded.generator.eval()(z, class_labels=y), direct.generator(z, class_labels=y))


def test_for_inference_bakes_spectral_norms_and_draws_the_same_images():
    g = convert_checkpoint(BP / "G.pth").generator
    fast = g.for_inference()
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in fast.modules())
    assert any(torch.nn.utils.parametrize.is_parametrized(m) for m in g.modules())  # the original keeps them
    z, y = torch.randn(3, g.config.z_dim, generator=seeded(5)), torch.tensor([0, 1, 4])
    with torch.no_grad():
        torch.testing.assert_close(fast(z, class_labels=y), g(z, class_labels=y), atol=1e-5, rtol=0)
