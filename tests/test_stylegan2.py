"""StyleGAN2: the family equals NVIDIA's code (golden network pickles its code wrote), NVIDIA pickles open without
running their code, rosinality files give the same images as the same weights in NVIDIA's layout (the triangle),
every method runs on it, bad input gets one sentence."""

from __future__ import annotations

import argparse
import dataclasses
import math
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan_transfer import GanPipeline, I2IPipeline
from gan_transfer.cli import main
from gan_transfer.convert import convert_checkpoint
from gan_transfer.convert.base import read_checkpoint
from gan_transfer.data import list_image_files
from gan_transfer.models import StyleGAN2Discriminator, StyleGAN2Generator

from .conftest import seeded, tiny_pipeline

DATA = Path(__file__).parent / "data"
SG = DATA / "checkpoints" / "stylegan2"
EMOJI = DATA / "emoji"


def _io(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(SG / f"io-{name}.safetensors"))


@pytest.mark.parametrize("name", ["uncond", "cond"])
def test_nvidia_pickles_equal_nvidias_code(name):
    io = _io(name)
    pipe = GanPipeline.from_checkpoint(SG / f"network-snapshot-{name}.pkl")
    pipe.set_progress_bar_config(disable=True)
    g, d = pipe.generator, pipe.discriminator
    assert isinstance(g, StyleGAN2Generator) and isinstance(d, StyleGAN2Discriminator)
    assert g.config.conv_clamp == 256 and g.config.mapping_layers == 2  # from the pickle's constructor arguments
    labels = io["labels"] if g.config.num_classes else None
    for psi, key in ((1.0, "images"), (0.7, "images_psi07")):
        out = pipe(latents=io["z"], class_labels=labels, truncation=psi, output_type="pt", batch_size=4).images
        with torch.no_grad(), g.truncated(psi):
            raw = g(io["z"], class_labels=labels)  # unclamped, as NVIDIA's G returns it
        torch.testing.assert_close(raw, io[key], atol=1e-4, rtol=0)
        torch.testing.assert_close(out, ((io[key] + 1) / 2).clamp(0, 1), atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(d(io["images"], labels), io["logits"], atol=1e-4, rtol=1e-5)


# ------------------------------------------------------------------ the ADA → rosinality map, written independently
def _ada_to_rosinality(ada: dict[str, torch.Tensor], resolution: int) -> tuple[dict, dict]:
    """NVIDIA's G_ema / D state dicts in rosinality's layout (CHECKPOINTS.md §4's map; export_weights.py's)."""
    g: dict[str, torch.Tensor] = {}
    for key, v in ada["G"].items():
        if key.endswith("resample_filter"):
            continue
        if key.startswith("mapping.fc"):
            i, what = key[len("mapping.fc"):].split(".")
            g[f"style.{int(i) + 1}.{what}"] = v
        elif key == "synthesis.b4.const":
            g["input.input"] = v.unsqueeze(0)
    for r in (4 * 2**i for i in range(int(math.log2(resolution)) - 1)):
        i = int(math.log2(r)) - 2
        layers = [("conv1", "conv1")] if r == 4 else [("conv0", f"convs.{2 * i - 2}"), ("conv1", f"convs.{2 * i - 1}")]
        for ada_name, ros in layers:
            p = f"synthesis.b{r}.{ada_name}"
            noise_index = 0 if r == 4 else 2 * i - 1 + (ada_name == "conv1")
            g.update({f"{ros}.conv.weight": ada["G"][f"{p}.weight"].unsqueeze(0),
                      f"{ros}.conv.modulation.weight": ada["G"][f"{p}.affine.weight"],
                      f"{ros}.conv.modulation.bias": ada["G"][f"{p}.affine.bias"],
                      f"{ros}.noise.weight": ada["G"][f"{p}.noise_strength"].reshape(1),
                      f"{ros}.activate.bias": ada["G"][f"{p}.bias"],
                      f"noises.noise_{noise_index}": ada["G"][f"{p}.noise_const"][None, None]})  # fmt: skip
        rgb = "to_rgb1" if r == 4 else f"to_rgbs.{i - 1}"
        p = f"synthesis.b{r}.torgb"
        g.update({f"{rgb}.conv.weight": ada["G"][f"{p}.weight"].unsqueeze(0),
                  f"{rgb}.conv.modulation.weight": ada["G"][f"{p}.affine.weight"],
                  f"{rgb}.conv.modulation.bias": ada["G"][f"{p}.affine.bias"],
                  f"{rgb}.bias": ada["G"][f"{p}.bias"].reshape(1, -1, 1, 1)})  # fmt: skip
    d: dict[str, torch.Tensor] = {"convs.0.0.weight": ada["D"][f"b{resolution}.fromrgb.weight"],
                                  "convs.0.1.bias": ada["D"][f"b{resolution}.fromrgb.bias"]}  # fmt: skip
    for k, r in enumerate((resolution // 2**j for j in range(int(math.log2(resolution)) - 2)), start=1):
        d.update({f"convs.{k}.conv1.0.weight": ada["D"][f"b{r}.conv0.weight"],
                  f"convs.{k}.conv1.1.bias": ada["D"][f"b{r}.conv0.bias"],
                  f"convs.{k}.conv2.1.weight": ada["D"][f"b{r}.conv1.weight"],
                  f"convs.{k}.conv2.2.bias": ada["D"][f"b{r}.conv1.bias"],
                  f"convs.{k}.skip.1.weight": ada["D"][f"b{r}.skip.weight"]})  # fmt: skip
    for ada_name, ros in (("conv", "final_conv"), ("fc", "final_linear.0"), ("out", "final_linear.1")):
        weight_at, bias_at = ("0", "1") if ros == "final_conv" else ("", "")
        d[f"{ros}.{weight_at}.weight".replace("..", ".")] = ada["D"][f"b4.{ada_name}.weight"]
        d[f"{ros}.{bias_at}.bias".replace("..", ".")] = ada["D"][f"b4.{ada_name}.bias"]
    return g, d


@pytest.fixture(scope="module")
def ada_weights():
    obj = read_checkpoint(SG / "network-snapshot-uncond.pkl")
    return {"G": obj["G_ema"].state_dict(), "D": obj["D"].state_dict()}


def test_triangle_ada_and_rosinality_layouts_give_identical_images(tmp_path, ada_weights):
    g, d = _ada_to_rosinality(ada_weights, 32)
    torch.save({"g_ema": g, "latent_avg": ada_weights["G"]["mapping.w_avg"]}, tmp_path / "converted.pt")
    noiseless = {k: v for k, v in g.items() if not k.startswith("noises.")}  # train.py files of old versions
    torch.save({"g": noiseless, "g_ema": noiseless, "d": d, "args": argparse.Namespace(size=32, channel_multiplier=2),
                "ada_aug_p": 0.0}, tmp_path / "train.pt")  # fmt: skip
    ada = GanPipeline.from_checkpoint(SG / "network-snapshot-uncond.pkl")
    ros = GanPipeline.from_checkpoint(tmp_path / "converted.pt")
    assert ros.generator.config == dataclasses.replace(ada.generator.config, conv_clamp=None)  # rosinality: none
    io = _io("uncond")
    with torch.no_grad():
        for psi in (1.0, 0.7):
            ada.generator.set_truncation(psi)
            ros.generator.set_truncation(psi)
            assert torch.equal(ros.generator(io["z"]), ada.generator(io["z"]))
    trained = GanPipeline.from_checkpoint(tmp_path / "train.pt", "stylegan2-rosinality")
    assert "noise buffers were missing" in trained.card_data["conversion_notes"]
    assert "4,096 mapped latents" in trained.card_data["conversion_notes"]
    with torch.no_grad():
        assert torch.equal(trained.discriminator(io["images"]), ada.discriminator(io["images"]))
        ada.generator.set_noise_mode("none")
        trained.generator.set_noise_mode("none")
        trained.generator.set_truncation(1.0)
        ada.generator.set_truncation(1.0)
        assert torch.equal(trained.generator(io["z"]), ada.generator(io["z"]))  # noise aside, the same weights


def _reconstruct_persistent_obj(meta):  # stands in for NVIDIA's while pickling; unpickling must never call it
    raise AssertionError("unpickling ran a network's reconstruction code")


def _fake_persistence() -> types.ModuleType:
    module = types.ModuleType("torch_utils.persistence")
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    return module


class _Persistent:
    def __reduce__(self):
        fn = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        return fn, (dict(type="class", version=6, module_src="print('hi')", class_name="Generator", state={}),)


class _WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return open, (str(self.target), "w")


def test_malicious_pickles_are_refused_and_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", _fake_persistence())
    target = tmp_path / "pwned.txt"
    bad = tmp_path / "network-snapshot.pkl"
    with open(bad, "wb") as f:  # looks like NVIDIA's: a persistent network first, then a call to open()
        pickle.dump({"G_ema": _Persistent(), "x": _WritesAFile(target)}, f)
    with pytest.raises(ValueError, match=r"will not open: it needs '(builtins|io).open'.*never runs code"):
        convert_checkpoint(bad)
    plain = tmp_path / "plain.pkl"
    with open(plain, "wb") as f:  # no NVIDIA header: torch's weights_only reader refuses it
        pickle.dump({"x": _WritesAFile(target)}, f)
    with pytest.raises(ValueError, match="can only be loaded by running the pickled code"):
        convert_checkpoint(plain)
    assert not target.exists()
    assert main(["convert", "stylegan2-ada", str(bad), str(tmp_path / "out")]) == 2 and not target.exists()


class _TFNetwork:
    """Stands in for dnnlib.tflib.network.Network while pickling."""


_TFNetwork.__module__, _TFNetwork.__qualname__ = "dnnlib.tflib.network", "Network"


def test_bad_input_gets_one_sentence(tmp_path, ada_weights, monkeypatch):
    data = (SG / "network-snapshot-uncond.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"not a complete network pickle.*truncated"):
        convert_checkpoint(tmp_path / "cut.pkl")
    g, _ = _ada_to_rosinality(ada_weights, 32)
    torch.save({"g_ema": g, "latent_avg": ada_weights["G"]["mapping.w_avg"]}, tmp_path / "ros.pt")
    with pytest.raises(ValueError, match=r"laid out as 'stylegan2-rosinality'.*pass format='stylegan2-rosinality'"):
        convert_checkpoint(tmp_path / "ros.pt", "stylegan2-ada")
    torch.save(ada_weights["D"], tmp_path / "D.pt")
    with pytest.raises(ValueError, match="is a stylegan2-ada-pytorch discriminator"):
        convert_checkpoint(tmp_path / "D.pt")
    with pytest.raises(ValueError, match=r"discriminator='.*ros.pt' is not a stylegan2-ada-pytorch critic"):
        convert_checkpoint(SG / "network-snapshot-uncond.pkl", discriminator=tmp_path / "ros.pt")
    torch.save({"g_ema": g, "args": argparse.Namespace(size=64)}, tmp_path / "train.pt")
    with pytest.raises(ValueError, match=r"says size=64 in its args but holds a 32 px generator"):
        convert_checkpoint(tmp_path / "train.pt")
    tf = tmp_path / "karras2019stylegan-ffhq.pkl"  # NVIDIA's TensorFlow pickles: (G, D, Gs) of tflib Networks
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["dnnlib.tflib.network"].Network = _TFNetwork
    tf.write_bytes(pickle.dumps((_TFNetwork(), _TFNetwork(), _TFNetwork())))
    with pytest.raises(ValueError, match=r"TensorFlow network.*legacy.py"):
        convert_checkpoint(tf)
    monkeypatch.setattr("gan_transfer.hub.available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match=r"needs .* for its weights alone and .* is free"):
        convert_checkpoint(SG / "network-snapshot-uncond.pkl")


def _tiny() -> GanPipeline:
    return GanPipeline.from_checkpoint(SG / "network-snapshot-uncond.pkl")


SMOKE = {"transfer_gan": {"batch_size": 4, "d_steps": 1}, "bsa": {"batch_size": 4, "perceptual_resolution": 32},
         "minegan": {"batch_size": 4, "d_steps": 1}}  # fmt: skip


@pytest.mark.parametrize("method", sorted(SMOKE))
@pytest.mark.parametrize("critic", ["shipped", "built"])
def test_methods_adapt_stylegan2(method, critic):
    pipe = _tiny() if critic == "shipped" else GanPipeline(_tiny().generator)  # built: a rosinality g_ema-only file
    pipe.set_progress_bar_config(disable=True)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    images = list_image_files(EMOJI / "google_a")[:8]
    tuned = pipe.adapt(images, method=method, steps=2, progress=False, **SMOKE[method])
    out = tuned(num_images=2, generator=seeded(0), output_type="pt").images
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()
    if method != "transfer_gan":
        assert all(torch.equal(v, before[k]) for k, v in pipe.generator.state_dict().items())


def test_multi_source_latents_are_drawn_as_each_source_draws_its_own():
    """u₀ is a plain N(0, 1) at any truncation, so three sources keep a third each; a StyleGAN2 source's rows are
    N(0, I), untruncated (ψ acts in W); a BigGAN-family source's rows are the truncated normal scaled by ψ."""
    from gan_transfer.models.multi_source import source_of

    sources = [_tiny(), tiny_pipeline("biggan", seed=1), tiny_pipeline("resnet", seed=2)]
    multi = GanPipeline.from_sources(sources)
    g = multi.generator
    z = g.sample_latents(3000, 0.5, seeded(0))
    assert torch.equal(z, g.sample_latents(3000, 0.5, seeded(0)))
    which = source_of(z[:, 0], 3)
    assert z[:, 0].abs().max() > 2.5 and all(abs((which == i).sum().item() - 1000) < 120 for i in range(3))
    for i, pipe in enumerate(sources):
        d = pipe.generator.config.z_dim
        rows = z[which == i]
        assert torch.equal(rows[:, 1 + d :], torch.zeros_like(rows[:, 1 + d :]))
        peak = rows[:, 1 : 1 + d].abs().max().item()
        assert peak > 3 if i == 0 else peak <= 2 * 0.5
    images = multi(num_images=3, truncation=0.5, generator=seeded(), output_type="pt").images
    assert images.shape == (3, 3, 32, 32) and torch.isfinite(images).all()
    assert g.sources[0].psi == 1.0  # ψ is set for the call only


def test_minegan_in_w_moves_w_only_and_round_trips(tmp_path):
    """miner_space="w": the miner sits on the mapping network's output; z reaches the mapping unchanged, the source
    is untouched, the adapter saves, reloads and draws the same, and disabled it draws the source bit for bit."""
    pipe = _tiny()
    pipe.set_progress_bar_config(disable=True)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    images = list_image_files(EMOJI / "google_a")[:8]
    tuned = pipe.adapt(images, method="minegan", miner_space="w", stage2=False, steps=3, lr_g=1e-2, progress=False,
                       **SMOKE["minegan"])  # fmt: skip
    adapter = tuned.get_adapter("minegan")
    assert adapter.config.kwargs["space"] == "w" and adapter.config.kwargs["z_dim"] == pipe.generator.config.w_dim
    assert all(torch.equal(v, before[k]) for k, v in tuned.generator.state_dict().items())
    z = torch.randn(3, 32, generator=seeded(4))
    g = tuned.generator
    with torch.no_grad():
        w = g.mapping(z, None)
        expected = g.synthesis(adapter.miner(w).unsqueeze(1).repeat(1, g.num_ws, 1))
    mined = tuned(latents=z, output_type="pt").images
    torch.testing.assert_close(mined, ((expected + 1) / 2).clamp(0, 1), atol=1e-6, rtol=0)
    with tuned.disable_adapters():
        source = tuned(latents=z, output_type="pt").images
    assert (mined - source).abs().max() > 1e-4  # three steps at lr 1e-2 moved w
    assert torch.equal(source, _tiny()(latents=z, output_type="pt").images)
    tuned.save_adapter(tmp_path / "miner", "minegan")
    again = _tiny()
    again.set_progress_bar_config(disable=True)
    again.load_adapter(tmp_path / "miner")
    assert torch.equal(again(latents=z, output_type="pt").images, mined)


def test_bsa_style_adapter_scales_the_styles_and_fuses_exactly():
    """BSA's counterpart on StyleGAN2: per-layer scale/shift of the style vectors (this library's extension)."""
    from gan_transfer.adapters import ScaleShiftAdapter

    g = _tiny().generator
    adapter = ScaleShiftAdapter.for_generator(g, truncation=None, first_feature_map=False)
    assert set(adapter.config.kwargs["channels"]) == set(g.normalization_layers())  # every style affine
    with torch.no_grad():
        for p in adapter.scale.values():
            p.uniform_(0.8, 1.2)
        for p in adapter.shift.values():
            p.normal_(0, 0.1)
    pipe = GanPipeline(g)
    pipe.set_progress_bar_config(disable=True)
    pipe.add_adapter(adapter, "styles")
    z = torch.randn(3, 32, generator=seeded(7))
    hooked = pipe(latents=z, output_type="pt").images
    pipe.disable_adapters()
    plain = pipe(latents=z, output_type="pt").images
    adapter.fuse_into(g)
    fused = pipe(latents=z, output_type="pt").images
    assert (hooked - plain).abs().max() > 1e-3
    torch.testing.assert_close(fused, hooked, atol=1e-5, rtol=0)


def test_transfer_i2i_two_class_on_stylegan2():
    google, twitter = list_image_files(EMOJI / "google_b")[:8], list_image_files(EMOJI / "twitter_b")[8:16]
    i2i = I2IPipeline.from_gan(_tiny(), google, twitter, steps=2, init_steps=1, self_init_steps=2, batch_size=4,
                               progress=False)  # fmt: skip
    assert i2i.num_targets == 2  # the source domain and the target
    i2i.set_progress_bar_config(disable=True)
    out = i2i(google[:2], target_class=1, num_variants=2, generator=seeded(5), output_type="pt")
    assert out.images.shape[-1] == 32 and torch.isfinite(out.images).all()
    torch.testing.assert_close(out.latents, torch.randn(4, 32, generator=seeded(5)))  # z ~ N(0, I), as NVIDIA's
    half = i2i(google[:2], target_class=1, num_variants=2, truncation=0.5, latents=out.latents, output_type="pt")
    assert (half.images - out.images).abs().max() > 1e-3  # ψ = 0.5 pulls w towards w̄


def test_a_truncated_call_leaves_nothing_behind():
    """ψ is per call: after pipe(truncation=0.5), the generator (as training and callbacks see it) is at ψ = 1."""
    pipe = _tiny()
    pipe.set_progress_bar_config(disable=True)
    z = torch.randn(3, 32, generator=seeded(3))
    plain = pipe(latents=z, output_type="pt").images
    half = pipe(latents=z, truncation=0.5, output_type="pt").images
    assert (half - plain).abs().max() > 1e-3 and pipe.generator.psi == 1.0
    assert torch.equal(pipe(latents=z, output_type="pt").images, plain)


def test_cli_converts_a_pickle_into_a_folder_that_draws_the_same(tmp_path, capsys):
    out = tmp_path / "sg"
    assert main(["convert", "stylegan2-ada", str(SG / "network-snapshot-cond.pkl"), str(out)]) == 0
    assert "StyleGAN2Generator 32 px, 3 classes" in capsys.readouterr().out
    saved, direct = GanPipeline.from_pretrained(out), GanPipeline.from_checkpoint(SG / "network-snapshot-cond.pkl")
    draws = []
    for pipe in (saved, direct):
        pipe.set_progress_bar_config(disable=True)
        draws.append(pipe(num_images=3, class_labels=[0, 1, 2], truncation=0.7, generator=seeded(0),
                          output_type="pt").images)  # fmt: skip
    assert torch.equal(*draws) and isinstance(saved.discriminator, StyleGAN2Discriminator)


def test_transfer_gan_with_freeze_d_keeps_the_first_critic_blocks():
    pipe = _tiny()
    before = {k: v.clone() for k, v in pipe.discriminator.state_dict().items()}
    tuned = pipe.adapt(list_image_files(EMOJI / "google_a")[:8], method="transfer_gan", steps=2, batch_size=4,
                       d_steps=1, freeze_d_blocks=2, progress=False)  # fmt: skip
    after = tuned.discriminator.state_dict()
    frozen = [k for k in after if k.startswith(("blocks.0.", "blocks.1."))]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen)
    assert not torch.equal(after["out.weight"], before["out.weight"])  # the rest of the critic trained
