"""Add Fashion-MNIST classes 8 (bag) and 9 (ankle boot) to the bundled 8-class model (issue 8).

``gan-transfer/fashion-mnist-cond`` knows classes 0–7. From 10 / 25 / 100 training images of each new class, three
ways to add them, all with the same critic fine-tuning, batch and step count:

- ``cgan_transfer``: the paper — each new class's conditioning = S · P + R, learned with the generator frozen;
- ``independent``: the paper's baseline — each new class starts at the mean old class and learns its own conditioning
  (R) alone, generator frozen (``propagate=False``);
- ``fine_tune``: TransferGAN-style — the same start, and the generator's weights train too (``propagate=False,
  fine_tune_generator=True``, lr 2e-4), so the old classes change.

Every ``--every`` steps the model as it stands draws ``--samples`` images per new class from fixed latents; per-class
FD and KID (EfficientNet-Lite0) against that class's 1,000 Fashion-MNIST test images. Reported: the final and the
best mean FD, the step of the best, and the first step at which each method reached the independent baseline's best
FD. The claim to check: equal or better FD with at least 4x fewer iterations than independent learning.

    python bench/cgan_transfer_new_classes.py        # about 30 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tracking import ScoreTracker, table

from gan_transfer import GanPipeline
from gan_transfer.data import load_images
from gan_transfer.data.datasets import few_shot, load_dataset
from gan_transfer.metrics import compute_features
from gan_transfer.rendering import make_image_grid, save_image, to_pil

METHODS = {
    "cgan_transfer": {},
    "independent": {"propagate": False},
    "fine_tune": {"propagate": False, "fine_tune_generator": True, "lr_g": 2e-4},
}
NEW = (8, 9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="gan-transfer/fashion-mnist-cond")
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 25, 100])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--samples", type=int, default=150, help="per new class, per evaluation")
    parser.add_argument("--out", default="bench/out/cgan_transfer_new_classes")
    args = parser.parse_args()
    out = Path(args.out)
    source = GanPipeline.from_pretrained(args.source)
    source.set_progress_bar_config(disable=True)
    g = source.generator.config
    test = load_dataset("fashion-mnist", "test", list(NEW))
    reference = compute_features(load_images(test.images, g.resolution, 1), batch_size=32)
    ref_labels = torch.as_tensor(test.labels)
    z = torch.randn(len(NEW) * args.samples, g.z_dim, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(len(NEW)).repeat_interleave(args.samples)

    rows, curves, grids = [], {}, []
    for shots in args.shots:
        parts = [few_shot("fashion-mnist", shots, seed=0, classes=[c]) for c in NEW]
        images = torch.cat([load_images(p.images, g.resolution, 1) for p in parts])
        new_ids = torch.arange(len(NEW)).repeat_interleave(shots)
        trackers = {}
        for method in args.methods:
            tracker = ScoreTracker(reference, z, labels, every=args.every, reference_labels=ref_labels)
            tuned = source.adapt(images, method="cgan_transfer", class_labels=new_ids, steps=args.steps,
                                 callbacks=[tracker], progress=False, seed=0, **METHODS[method])  # fmt: skip
            trackers[method] = tracker
            with torch.no_grad():
                ids = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 2)
                grids += to_pil(tuned(latents=z[: len(ids)], class_labels=ids, output_type="pt").images * 2 - 1)
            best = tracker.best()
            print(f"{shots} shots, {method}: final FD {tracker.rows[-1]['fd']:.2f}, best {best['fd']:.2f} "
                  f"@ {best['step']}", flush=True)  # fmt: skip
        target = trackers["independent"].best()["fd"] if "independent" in trackers else None
        for method, tracker in trackers.items():
            last, best = tracker.rows[-1], tracker.best()
            reach = next((r["step"] for r in tracker.rows if target is not None and r["fd"] <= target), "never")
            rows.append([shots, method, last["fd"], best["fd"], best["step"], reach, best["fd_0"], best["fd_1"],
                         best["kid_0"], best["kid_1"]])  # fmt: skip
            curves[f"{shots}/{method}"] = tracker.rows

    header = ["shots per class", "method", "final mean FD", "best mean FD", "step of best", "step reaching indep. best",
              "FD class 8 @ best", "FD class 9 @ best", "KID class 8 @ best", "KID class 9 @ best"]  # fmt: skip
    print(f"\n{args.samples} samples per new class vs 1,000 test images each; {args.steps} steps, scored every "
          f"{args.every}; torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    print(table(header, rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps({"rows": rows, "curves": curves}, indent=1))
    save_image(make_image_grid(grids, cols=20), out / "samples.png")
    print(f"{out / 'samples.png'}: per shots × method, two rows of classes 0–9 (8 and 9 are the new ones)")


if __name__ == "__main__":
    main()
