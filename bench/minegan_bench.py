"""MineGAN benchmarks (issue 7).

``selector``: the paper's Table 1 check. Two bundled single-domain sources, Fashion-MNIST tops (classes 0, 2, 4, 6)
and footwear (5, 7, 9); targets of ``--mix-size`` training images mixing tops and footwear 30:70, 50:50 and 70:30.
Multi-source MineGAN (stage 1, generators frozen) learns one miner per source and a selector; its p_tops is the share
of minibatch wins over the last ``--window`` minibatches. Goal: |p_tops − true share| ≤ 0.1.

``compare``: MineGAN (mining, then fine-tuning), MineGAN without fine-tuning (the same run scored at the end of
stage 1) and TransferGAN at 25 and 100 target images, on-manifold (Google emoji of one category, from the
Google-emoji source) and off-manifold (MNIST digits, from the unconditional Fashion-MNIST source). FD and KID
(EfficientNet-Lite0) of ``--samples`` draws against held-out images the source never saw; sample grids.

    python bench/minegan_bench.py selector     # about 15 minutes on 2 cores
    python bench/minegan_bench.py compare      # about 45 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tracking import ScoreTracker, score_features, table

from gan_transfer import GanPipeline
from gan_transfer.data import load_images
from gan_transfer.data.datasets import few_shot, load_dataset
from gan_transfer.metrics import compute_features
from gan_transfer.rendering import make_image_grid, save_image, to_pil

TOPS, FOOTWEAR = [0, 2, 4, 6], [5, 7, 9]
EMOJI_CATEGORY = "People & Body"  # the largest category: 305 training, 81 held-out images


def mixed_target(n: int, share_tops: float, seed: int = 0) -> torch.Tensor:
    """n Fashion-MNIST training images, round(n · share_tops) of them tops and the rest footwear."""
    tops = round(n * share_tops)
    parts = [few_shot("fashion-mnist", tops, seed, TOPS), few_shot("fashion-mnist", n - tops, seed, FOOTWEAR)]
    return torch.cat([load_images(p.images, 28, 1) for p in parts])


def selector(args: argparse.Namespace) -> None:
    sources = [GanPipeline.from_pretrained(name) for name in (args.tops, args.footwear)]
    pipe = GanPipeline.from_sources(sources)
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for share in (0.3, 0.5, 0.7):
        started = time.perf_counter()
        tuned = pipe.adapt(mixed_target(args.mix_size, share), method="minegan", stage2=False, steps=args.steps,
                           selector_window=args.window, batch_size=args.batch, progress=False, seed=0)  # fmt: skip
        p = tuned.selector_probabilities
        rows.append([f"{round(share * 100)}:{round((1 - share) * 100)}", share, p[0], abs(p[0] - share),
                     "yes" if abs(p[0] - share) <= 0.1 else "no", time.perf_counter() - started])  # fmt: skip
        print(rows[-1], flush=True)
    print(f"\n{args.mix_size} target images, {args.steps} stage-1 steps, batch {args.batch}, p over the last "
          f"{args.window} minibatches; torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print(table(["tops:footwear", "true share of tops", "p_tops", "error", "within 0.1", "seconds"], rows))


def emoji_category() -> list[int]:
    return [load_dataset("emoji-google", "test").classes.index(EMOJI_CATEGORY)]


Setting = tuple[str, Callable[[int], np.ndarray], Callable[[], np.ndarray], int]


def settings(args: argparse.Namespace) -> dict[str, Setting]:
    """name → (source, shots → training images, () → held-out images, channels); data loads only when used."""
    return {
        "on-manifold: Google emoji 'People & Body'": (
            args.emoji,
            lambda shots: few_shot("emoji-google", shots, 0, emoji_category()).images,
            lambda: load_dataset("emoji-google", "test", emoji_category()).images,
            3,
        ),
        "off-manifold: MNIST digits": (
            args.fashion,
            lambda shots: few_shot("mnist-5k", shots, 0).images,
            lambda: load_dataset("mnist-5k", "test").images,
            1,
        ),
    }


def compare(args: argparse.Namespace) -> None:
    out = Path(args.out or "bench/out/minegan-" + "-".join(args.settings))
    rows, curves, grid = [], {}, []
    chosen = {k: v for k, v in settings(args).items() if k.split(":")[0] in args.settings}
    for setting, (source_id, target_of, held_of, channels) in chosen.items():
        source = GanPipeline.from_pretrained(source_id)
        source.set_progress_bar_config(disable=True)
        res = source.generator.config.resolution
        reference = compute_features(load_images(held_of(), res, channels), batch_size=32)
        z = torch.randn(args.samples, source.generator.config.z_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            s = score_features(compute_features(source.generator(z), batch_size=32), reference, 100)
        rows.append([setting, "-", "source, not adapted", 0, s["fd"], s["kid"], 0.0])
        for shots in args.shots:
            images = load_images(target_of(shots), res, channels)
            grid += to_pil(images[:10])
            runs = {"minegan": {"method": "minegan", "stage2_steps": args.steps},
                    "transfer_gan": {"method": "transfer_gan", "steps": 2 * args.steps}}  # fmt: skip
            for name, options in runs.items():
                tracker = ScoreTracker(reference, z, every=args.every)
                options = {"steps": args.steps, **options}
                started = time.perf_counter()
                tuned = source.adapt(images, callbacks=[tracker], batch_size=args.batch, progress=False, seed=0,
                                     **options)  # fmt: skip
                wall = time.perf_counter() - started - tracker.eval_seconds
                curves[f"{setting}/{shots}/{name}"] = tracker.rows
                if name == "minegan":
                    mined = next(r for r in tracker.rows if r["step"] == args.steps)
                    rows.append([setting, shots, "MineGAN w/o fine-tuning (stage 1)", args.steps, mined["fd"],
                                 mined["kid"], mined["seconds"]])  # fmt: skip
                last = tracker.rows[-1]
                label = "MineGAN (mine, then fine-tune)" if name == "minegan" else "TransferGAN"
                rows.append([setting, shots, label, last["step"], last["fd"], last["kid"], wall])
                grid += to_pil(tuned(latents=z[:10], output_type="pt").images * 2 - 1)
                print(rows[-1], flush=True)
    print(f"\n{args.samples} samples vs held-out images; batch {args.batch}; scores at the last step; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    header = ["setting", "target images", "method", "generator steps", "FD (EfficientNet-Lite0)", "KID", "train s"]
    print(table(header, rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps({"rows": rows, "curves": curves}, indent=1))
    save_image(make_image_grid([im.convert("RGB") for im in grid], cols=10), out / "samples.png")
    print(f"{out / 'samples.png'}: per setting and size, rows: target, MineGAN, TransferGAN")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["selector", "compare"])
    parser.add_argument("--steps", type=int, default=200, help="stage-1 steps (compare: stage 2 as many again)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mix-size", type=int, default=200)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--shots", type=int, nargs="+", default=[25, 100])
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--out", default=None, help="default: bench/out/minegan-PART")
    parser.add_argument("--settings", nargs="+", default=["on-manifold", "off-manifold"])
    parser.add_argument("--tops", default="gan-transfer/fashion-tops")
    parser.add_argument("--footwear", default="gan-transfer/fashion-footwear")
    parser.add_argument("--emoji", default="gan-transfer/emoji-google")
    parser.add_argument("--fashion", default="gan-transfer/fashion-mnist")
    args = parser.parse_args()
    if args.part == "selector":
        selector(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
