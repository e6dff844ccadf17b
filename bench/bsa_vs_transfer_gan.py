"""BSA vs full fine-tuning (TransferGAN) on 25 Twitter emoji, from the bundled Google-emoji source (issue 6).

Both methods start from ``gan-transfer/emoji-google`` and see the 25 bundled Twitter emoji; every ``--every`` steps
the model as it stands draws ``--samples`` images from fixed latents, scored against the 100 bundled held-out Twitter
emoji: FD and KID (EfficientNet-Lite0) and KMMD (Gaussian kernel, median-distance width). Training seconds exclude
the scoring. The paper's claim to check (Noguchi & Harada 2019, Table 1): at 25 images BSA beats full fine-tuning
on KMMD.

    python bench/bsa_vs_transfer_gan.py                # about 25 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tracking import ScoreTracker, score_features, table

from gan_transfer import GanPipeline
from gan_transfer.cli.demo import HELD_OUT, SOURCE, TARGET
from gan_transfer.data import load_images
from gan_transfer.metrics import compute_features
from gan_transfer.rendering import make_image_grid, save_image, to_pil


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=SOURCE)
    parser.add_argument("--bsa-steps", type=int, default=1000)
    parser.add_argument("--tg-steps", type=int, default=300, help="TransferGAN generator steps (5 D steps each)")
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--out", default="bench/out/bsa_vs_transfer_gan")
    args = parser.parse_args()
    out = Path(args.out)
    torch.manual_seed(0)
    source = GanPipeline.from_pretrained(args.source)
    source.set_progress_bar_config(disable=True)
    res = source.generator.config.resolution
    reference = compute_features(load_images(HELD_OUT, res, 3), batch_size=32)
    train = load_images(TARGET, res, 3)
    z = torch.randn(args.samples, source.generator.config.z_dim, generator=torch.Generator().manual_seed(1))

    rows, trackers, pipes = [], {}, {}
    floor = score_features(compute_features(train, batch_size=32), reference, 25)
    rows.append(["25 training images (floor)", "-", "-", floor["fd"], "-", floor["kid"], floor["kmmd"], "-"])
    with torch.no_grad():
        s = score_features(compute_features(source.generator(z), batch_size=32), reference, 100)
    rows.append(["source, not adapted", 0, 0.0, s["fd"], "-", s["kid"], s["kmmd"], "-"])
    runs = {"bsa": {"steps": args.bsa_steps}, "transfer_gan": {"steps": args.tg_steps}}
    for method, options in runs.items():
        tracker = ScoreTracker(reference, z, every=args.every)
        started = time.perf_counter()
        tuned = source.adapt(TARGET, method=method, callbacks=[tracker], progress=False, seed=0,
                             output_dir=str(out / method), overwrite=True, **options)  # fmt: skip
        wall = time.perf_counter() - started - tracker.eval_seconds
        trackers[method], pipes[method] = tracker, tuned
        best, last = tracker.best(), tracker.rows[-1]
        rows.append([method, options["steps"], wall, last["fd"], f"{best['fd']:.4g} @ {best['step']}", last["kid"],
                     last["kmmd"], tracker.seconds_to_within(0.1)])  # fmt: skip
        print(f"{method}: {wall:.0f} s training, final FD {last['fd']:.2f}, KMMD {last['kmmd']:.4f}", flush=True)

    header = ["model", "steps", "train s", "FD (EfficientNet-Lite0)", "best FD @ step", "KID", "KMMD",
              "s to within 10 % of final FD"]  # fmt: skip
    threads = torch.get_num_threads()
    print(f"\n{len(z)} samples vs 100 held-out Twitter emoji; torch {torch.__version__}, {threads} threads")
    print(table(header, rows))
    curves = {m: t.rows for m, t in trackers.items()}
    (out / "scores.json").write_text(json.dumps({"rows": rows, "curves": curves}, indent=1, default=str))

    n = 8
    zz = z[:n]
    with torch.no_grad():
        grid = [*to_pil(train[:n]), *to_pil(source.generator(zz))]
    for pipe in pipes.values():
        grid += to_pil(pipe(latents=zz, output_type="pt").images * 2 - 1)
    save_image(make_image_grid(grid, cols=n), out / "samples.png")
    print(f"rows: target, source, {', '.join(pipes)}; saved {out / 'samples.png'}")


if __name__ == "__main__":
    main()
