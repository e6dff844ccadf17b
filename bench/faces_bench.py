"""The real face GAN (`gan-transfer/digiface-faces`, a generator-only DCGAN) → cartoon human faces (Twemoji `person`).

Each setting adapts the source to the bundled 25 training faces (or a seeded subset of 10) and scores 250 samples
(fixed latents) against the 137 held-out faces — different emoji characters from the training ones — with KID, KMMD
and FD on EfficientNet-Lite0 features, every ``--every`` steps; wall-clock is training time only. The source ships no
discriminator, so every adversarial method builds a fresh DCGAN critic; ``critic_warmup`` trains it alone against the
frozen source first. Writes a markdown table and a grid (rows: targets, source, each setting from the same latents).

More than 25 targets (``--targets 100``) use a split of their own, not bundled: ``bench/out/data/twitter-person-N``
and its own held-out faces ``twitter-person-N-heldout`` (fewer: more characters go to training), made on first use
by ``scripts/make_person_data.py --shots N --out-dir bench/out/data`` (fetches the npm package).

    python bench/faces_bench.py --settings warmup --steps 200
    python bench/faces_bench.py --settings demo --steps 300
    python bench/faces_bench.py --settings demo --targets 100 --steps 150
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from tracking import ScoreTracker, score_features

from gan_transfer import GanPipeline
from gan_transfer.data import list_image_files, load_images
from gan_transfer.metrics import compute_features
from gan_transfer.rendering import make_image_grid, save_image, to_pil

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "gan_transfer" / "zoo" / "data"
TRAIN, HELD_OUT = DATA / "twitter-person-25", DATA / "twitter-person-heldout"
SPLITS = ROOT / "bench" / "out" / "data"  # larger splits (folder names as scripts/make_person_data.py writes them)
OUT = Path(__file__).parent / "results"

FAST_GAN = {"batch_size": 16, "d_steps": 1, "loss": "hinge"}  # one critic step: what fits a CPU minute
SETTINGS = {
    "warmup": {
        "TransferGAN (hinge, lr 1e-4)": ("transfer_gan", {**FAST_GAN, "lr_g": 1e-4, "lr_d": 1e-4}),
        "TransferGAN (hinge, lr 1e-4) + 200 warm-up": ("transfer_gan", {**FAST_GAN, "lr_g": 1e-4, "lr_d": 1e-4,
                                                                         "critic_warmup": 200}),
        "MineGAN stage 1": ("minegan", {**FAST_GAN, "stage2": False}),
        "MineGAN stage 1 + 200 warm-up": ("minegan", {**FAST_GAN, "stage2": False, "critic_warmup": 200}),
    },
    "paper-lr": {  # the papers' own loss and critic steps at a larger learning rate (their few-shot lr is 1e-5)
        "TransferGAN (WGAN-GP, 5 critic steps, lr 1e-4)": ("transfer_gan", {"batch_size": 16, "lr_g": 1e-4,
                                                                              "lr_d": 1e-4}),
        "MineGAN stage 1 (paper: WGAN-GP, 5 critic steps, lr 1e-4)": ("minegan", {"batch_size": 16, "stage2": False}),
    },
    "demo": {
        "TransferGAN (paper: WGAN-GP, 5 critic steps, lr 1e-5)": ("transfer_gan", {"batch_size": 16}),
        "TransferGAN (hinge, lr 1e-4)": ("transfer_gan", {**FAST_GAN, "lr_g": 1e-4, "lr_d": 1e-4}),
        "MineGAN stage 1+2": ("minegan", {**FAST_GAN}),
        "BSA": ("bsa", {"batch_size": 25, "perceptual_resolution": 64}),
    },
}


def person_split(targets: int) -> tuple[Path, Path]:
    """(training, held-out) folders: the bundled 25 for up to 25 targets, else the ``targets``-shot split, made if
    missing."""
    if targets <= 25:
        return TRAIN, HELD_OUT
    train, held_out = SPLITS / f"twitter-person-{targets}", SPLITS / f"twitter-person-{targets}-heldout"
    if not (train.is_dir() and held_out.is_dir()):
        script = ROOT / "scripts" / "make_person_data.py"
        command = [sys.executable, str(script), "--shots", str(targets), "--out-dir", str(SPLITS)]
        print(f"{train} is missing; making it: {shlex.join(command)}", flush=True)
        if subprocess.run(command, check=False).returncode:
            make = f"python scripts/make_person_data.py --shots {targets} --out-dir bench/out/data"
            raise SystemExit(f"Could not make the {targets}-face split; make it with:\n    {make}")
    return train, held_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", choices=sorted(SETTINGS), default="warmup")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument(
        "--targets", type=int, default=25, help="≤ 25: seeded subset of the bundled 25; more (e.g. 100): own split"
    )
    parser.add_argument("--samples", type=int, default=250)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # "no discriminator": expected here, it is the point

    train, held_out = person_split(args.targets)
    files = list_image_files(train)
    if args.targets < len(files):
        keep = torch.randperm(len(files), generator=torch.Generator().manual_seed(0))[: args.targets]
        files = [files[i] for i in sorted(keep.tolist())]
    reference = compute_features(load_images(held_out, 64), batch_size=32)
    source = GanPipeline.from_pretrained("gan-transfer/digiface-faces")
    source.set_progress_bar_config(disable=True)
    z = torch.randn(args.samples, 100, generator=torch.Generator().manual_seed(1))
    base = source(latents=z, output_type="pt").images * 2 - 1
    rows = [{"setting": "source (no adaptation)", "steps": 0, "seconds": 0.0,
             **score_features(compute_features(base, batch_size=32), reference, 100)}]  # fmt: skip
    grid = [*to_pil(load_images(files, 64)[:8]), *to_pil(base[:8])]
    for name, (method, options) in SETTINGS[args.settings].items():
        tracker = ScoreTracker(reference, z, every=args.every)
        started = time.perf_counter()
        tuned = source.adapt(files, method=method, steps=args.steps, progress=False, callbacks=[tracker], **options)
        wall = time.perf_counter() - started - tracker.eval_seconds
        best = min(tracker.rows, key=lambda r: r["kid"])
        final = tracker.rows[-1]
        rows.append({"setting": name, **final, "steps": final["step"], "seconds": round(wall, 1),
                     "best_kid_step": best["step"], "best_kid": best["kid"]})  # fmt: skip
        grid += to_pil(tuned(latents=z[:8], output_type="pt").images[:8] * 2 - 1)
        print(json.dumps(rows[-1]), flush=True)
    OUT.mkdir(exist_ok=True)
    stem = f"faces_{args.settings}_{args.targets}"
    save_image(make_image_grid(grid, cols=8), OUT / f"{stem}.png")
    print(f"\n{len(files)} training faces, {reference.shape[0]} held-out, {args.samples} samples, "
          f"{torch.get_num_threads()} threads; grid rows: targets, source, then each setting "
          f"({OUT / stem}.png)\n")  # fmt: skip
    print("| setting | steps | train s | KID | KMMD | FD | best KID (step) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        best = f"{r['best_kid']:.4f} ({r['best_kid_step']})" if "best_kid" in r else "—"
        print(f"| {r['setting']} | {r['steps']} | {r['seconds']} | {r['kid']:.4f} | {r['kmmd']:.4f} | "
              f"{r['fd']:.1f} | {best} |")  # fmt: skip


if __name__ == "__main__":
    main()
