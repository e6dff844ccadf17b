"""The dcgan family and the dcgan checkpoint format: output-equal to the original code, every method on it, and one
clear sentence for every bad checkpoint (nothing written, no pickled code run)."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan_transfer import GanPipeline
from gan_transfer.cli import main
from gan_transfer.convert import convert_checkpoint
from gan_transfer.data import list_image_files
from gan_transfer.models import DCGANGenerator

from .conftest import seeded

EMOJI = Path(__file__).parent / "data" / "emoji" / "google_a"
EYE_CLASSES = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")


def _package_file(package: str, name: str) -> Path:
    """A file of an installed package, found without importing the package (their __init__ loads CUDA tensors)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None, f"{package} is installed by requirements-reference.txt"
    return Path(spec.origin).parent / name


def _module(package: str, name: str):
    spec = importlib.util.spec_from_file_location(f"_ref_{package}_{name}", _package_file(package, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FaceG = _module("gan_face_generate", "models").Generator
FaceD = _module("gan_face_generate", "models").Discriminator
EyeG = _module("omniart_eye_generator", "generator").Generator


def _saved(tmp_path: Path, state: dict, name: str = "g.pt", wrap: str | None = "netG_state_dict") -> Path:
    path = tmp_path / name
    torch.save({wrap: state} if wrap else state, path)
    return path


# --- output equality with the original code ----------------------------------------------------------------
def test_face_gan_equals_its_package():
    path = _package_file("gan_face_generate", "weights.tar")
    ref = FaceG(0, 3, 100, 64)
    ref.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["netG_state_dict"])
    pipe = GanPipeline.from_checkpoint(path, "dcgan")
    z = torch.randn(6, 100, generator=seeded())
    with torch.no_grad():
        expected = ref.eval()(z.view(6, 100, 1, 1))
        got = pipe.generator(z)
    assert pipe.generator.config.resolution == 64 and pipe.generator.num_parameters() == 3_576_704
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_eye_gan_equals_its_package_and_names_its_classes():
    path = _package_file("omniart_eye_generator", "generator_model_state.pth")
    ref = EyeG()
    ref.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    pipe = GanPipeline.from_checkpoint(path, "dcgan", class_names=EYE_CLASSES, dropout=0.2)
    z, y = torch.randn(8, 100, generator=seeded()), torch.arange(8)
    with torch.no_grad():
        expected = ref.eval()(z.view(8, 100, 1, 1), F.one_hot(y, 8).float())
        got = pipe.generator(z, class_labels=y)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    pipe.set_progress_bar_config(disable=True)
    by_name = pipe(latents=z[:2], class_labels=["blue", "red"], output_type="pt").images
    by_id = pipe(latents=z[:2], class_labels=[1, 7], output_type="pt").images
    assert torch.equal(by_name, by_id)
    with pytest.raises(ValueError, match=r"Unknown class 'purple'.*amber, blue"):
        pipe(num_images=1, class_labels="purple")


@pytest.mark.parametrize("name", ["digiface-faces", "omniart-eyes"])
def test_bundled_copies_match_the_package_weights(name, monkeypatch):
    """The zoo's float16 copies draw what the package's float32 weights draw, to float16 precision."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bundled = GanPipeline.from_pretrained(f"gan-transfer/{name}")
    if name == "digiface-faces":
        direct = GanPipeline.from_checkpoint(_package_file("gan_face_generate", "weights.tar"))
    else:
        direct = GanPipeline.from_checkpoint(_package_file("omniart_eye_generator", "generator_model_state.pth"),
                                             class_names=EYE_CLASSES)  # fmt: skip
    for pipe in (bundled, direct):
        pipe.set_progress_bar_config(disable=True)
    a = bundled(num_images=4, generator=seeded(), output_type="pt").images
    b = direct(num_images=4, generator=seeded(), output_type="pt").images
    torch.testing.assert_close(a, b, rtol=0, atol=2 / 255)
    assert bundled.card_data["license"] == "mit" and bundled.discriminator is None
    if name == "digiface-faces":
        assert "research only" in bundled.card_data["credits"]


@pytest.mark.parametrize(("resolution", "wrap"), [(32, "netG_state_dict"), (128, None)])
def test_tiny_tutorial_generators_convert_exactly(tmp_path, resolution, wrap):
    torch.manual_seed(0)
    ref = FaceG(0, 3, 16, 4)
    ref.main = torch.nn.Sequential(*_tutorial(16, 4, resolution))  # the tutorial's stack at another resolution
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2)
    converted = convert_checkpoint(_saved(tmp_path, ref.state_dict(), wrap=wrap))
    z = torch.randn(3, 16, generator=seeded())
    with torch.no_grad():
        torch.testing.assert_close(converted.generator(z), ref.eval()(z.view(3, 16, 1, 1)), rtol=0, atol=1e-5)
    assert converted.generator.config.resolution == resolution


def _tutorial(nz: int, ngf: int, resolution: int) -> list[torch.nn.Module]:
    layers: list[torch.nn.Module] = []
    n = int(resolution).bit_length() - 2  # transposed convolutions
    chs = [ngf * 2 ** (n - 2 - i) for i in range(n - 1)]
    ins = [nz, *chs]
    for i, c in enumerate(chs):
        stride, pad = (1, 0) if i == 0 else (2, 1)
        layers += [torch.nn.ConvTranspose2d(ins[i], c, 4, stride, pad, bias=False), torch.nn.BatchNorm2d(c),
                   torch.nn.ReLU(True)]  # fmt: skip
    return [*layers, torch.nn.ConvTranspose2d(chs[-1], 3, 4, 2, 1, bias=False), torch.nn.Tanh()]


# --- bad checkpoints: one sentence each, nothing written ---------------------------------------------------
class _WritesAFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_only_file_is_refused_and_runs_nothing(tmp_path):
    canary = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"netG_state_dict": _WritesAFile(str(canary))}))
    with pytest.raises(ValueError, match=r"only be loaded by running the pickled code.*never does"):
        GanPipeline.from_checkpoint(path, "dcgan")
    assert not canary.exists()
    assert main(["convert", "dcgan", str(path), str(tmp_path / "out")]) == 2
    assert not canary.exists() and not (tmp_path / "out").exists()


def test_bad_checkpoints_get_one_sentence(tmp_path, capsys):
    state = FaceG(0, 3, 16, 4).state_dict()
    good = _saved(tmp_path, state)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"not a complete PyTorch checkpoint.*download it again"):
        convert_checkpoint(truncated)
    unknown = _saved(tmp_path, {"layer1.weight": torch.zeros(2, 2), "layer2.bias": torch.zeros(2)}, "u.pt", None)
    with pytest.raises(ValueError, match=r"no registered format knows its layout \(keys seen: layer1.weight, "
                                         r"layer2.bias\); formats known: .*dcgan"):  # fmt: skip
        convert_checkpoint(unknown)
    critic = _saved(tmp_path, FaceD(0, 3, 4).state_dict(), "d.pt")
    with pytest.raises(ValueError, match="looks like a DCGAN discriminator"):
        convert_checkpoint(critic, "dcgan")
    with pytest.raises(ValueError, match=r"is a 64 px DCGAN generator.*not 128 px"):
        convert_checkpoint(good, "dcgan", resolution=128)
    with pytest.raises(ValueError, match="fewer than the 20 classes stated"):
        convert_checkpoint(good, "dcgan", num_classes=20)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_checkpoint(tmp_path / "missing.pt")
    for args in (["dcgan", str(truncated)], ["dcgan", str(critic)], ["nosuch", str(good)]):
        assert main(["convert", *args, str(tmp_path / "never")]) == 2
        assert not (tmp_path / "never").exists()
    assert "Unknown checkpoint format 'nosuch'" in capsys.readouterr().err
    assert main(["convert", "dcgan", str(good), str(tmp_path / "ok"), "--license", "mit"]) == 0
    assert GanPipeline.from_pretrained(tmp_path / "ok").card_data["license"] == "mit"
    assert main(["convert", "dcgan", str(good), str(tmp_path / "ok")]) == 2, "never overwrites"


# --- the family under every method ----------------------------------------------------------------------
def _tiny(num_classes: int = 0) -> GanPipeline:
    torch.manual_seed(0)
    g = DCGANGenerator(resolution=32, width=4, z_dim=16, num_classes=num_classes)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    pipe = GanPipeline(g)  # generator only, as the real releases ship
    pipe.set_progress_bar_config(disable=True)
    return pipe


FAST = {"steps": 2, "progress": False, "batch_size": 8}


@pytest.mark.parametrize(
    ("method", "classes", "labels", "options"),
    [
        ("transfer_gan", 0, None, {"d_steps": 1}),
        ("transfer_gan", 0, [0, 1, 2, 0, 1, 2, 0, 1], {"d_steps": 1, "num_classes": 3}),  # Cond BNorm
        ("bsa", 0, None, {"perceptual_resolution": 32}),
        ("minegan", 0, None, {"d_steps": 1}),
        ("minegan", 3, None, {"d_steps": 1, "stage2": False}),  # class miner over the label embedding
        ("cgan_transfer", 3, [0, 1] * 4, {}),  # new classes from the first layer's label columns
    ],
)
def test_every_method_adapts_a_generator_only_dcgan(tmp_path, method, classes, labels, options):
    source = _tiny(classes)
    before = {k: v.clone() for k, v in source.generator.state_dict().items()}
    images = list_image_files(EMOJI)[:8]
    with pytest.warns(UserWarning, match="no discriminator") if method == "transfer_gan" else _nothing():
        tuned = source.adapt(images, method=method, class_labels=labels, **FAST, **options)
    assert all(torch.equal(v, source.generator.state_dict()[k]) for k, v in before.items()), "source untouched"
    assert type(tuned.discriminator or source.generator.build_discriminator()).__name__ == "DCGANDiscriminator"
    tuned.save_pretrained(tmp_path / "p")
    loaded = GanPipeline.from_pretrained(tmp_path / "p")
    loaded.set_progress_bar_config(disable=True)
    draw = {"num_images": 4, "generator": seeded(1), "output_type": "pt"}
    assert torch.equal(loaded(**draw).images, tuned(**{**draw, "generator": seeded(1)}).images)


def test_cond_bnorm_copy_starts_as_the_source():
    source = _tiny().generator.eval()
    conditional = source.conditional_copy(4).eval()
    z = torch.randn(4, 16, generator=seeded())
    with torch.no_grad():
        for c in range(4):
            torch.testing.assert_close(conditional(z, class_labels=torch.full((4,), c)), source(z), rtol=0, atol=1e-6)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
