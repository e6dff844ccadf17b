"""The offline main job: adapt a bundled GAN to a few bundled images, and show what changed.

Default (``demo="faces"``): the real face GAN someone else trained (``gan-transfer/digiface-faces``, a DCGAN that
ships no discriminator), mined by MineGAN (stage 1) for 25 cartoon human faces (Twemoji ``person``), scored against
137 held-out faces of other emoji characters. ``demo="emoji"``: the bundled Google-emoji GAN → 25 Twitter emoji
(100 held out).

Writes ``samples.png`` (rows: real target images, source samples, adapted samples from the same latents), the
adapted pipeline ``adapted/`` (for an adapter method it keeps the source's weights and holds the adapter under
``adapters/0``), and ``metrics.json`` (FD / KID on EfficientNet-Lite0 features of source and adapted samples against
the held-out images, with the training images' own distance as a floor).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ..data import load_images
from ..hub import write_json
from ..pipelines import GanPipeline
from ..rendering import make_image_grid, save_image, to_pil
from ..zoo import ZOO_DIR, bundled_folder

DATA_DIR = ZOO_DIR / "data"
TWEMOJI = "© Twitter, Inc. and other contributors, CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"


@dataclasses.dataclass(frozen=True)
class Demo:
    source: str
    target: Path
    held_out: Path
    credit: str
    steps: dict[str, int]  # per method; the default method is the first
    options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # per method

    @property
    def method(self) -> str:
        return next(iter(self.steps))


DEMOS = {
    # MineGAN stage 1 at its paper's settings (WGAN-GP, 5 critic steps, lr 1e-4) at batch 16 for 150 steps: the best
    # final score in bench/faces_bench.py (2026-11-25; KID 0.500 → 0.455, FD 296 → 272) and a change one can see (the
    # miner finds frontal faces on light backgrounds); the result is a miner adapter of a few kilobytes. TransferGAN
    # at its paper settings came second (KID 0.469 after 200 steps); fine-tuning at lr 1e-4 broke the faces.
    "faces": Demo(
        "gan-transfer/digiface-faces", DATA_DIR / "twitter-person-25", DATA_DIR / "twitter-person-heldout",
        f"Adapted on 25 Twemoji person faces, {TWEMOJI}.",
        {"minegan": 150, "transfer_gan": 150, "bsa": 200},
        {"minegan": {"batch_size": 16, "stage2": False}, "transfer_gan": {"batch_size": 16}},
    ),
    # TransferGAN measured best on this pair (bench/RESULTS.md, 2026-11-23): KMMD 0.043 → 0.040, KID 0.067 → 0.061.
    "emoji": Demo(
        "gan-transfer/emoji-google", DATA_DIR / "twitter-emoji-25", DATA_DIR / "twitter-emoji-heldout-100",
        f"Adapted on 25 Twemoji images, {TWEMOJI}.",
        {"transfer_gan": 100, "bsa": 300, "minegan": 200},
    ),
}  # fmt: skip
# The emoji pair by name, for the benchmarks and examples that use it.
SOURCE, TARGET, HELD_OUT, TARGET_CREDIT = (DEMOS["emoji"].source, DEMOS["emoji"].target, DEMOS["emoji"].held_out,
                                           DEMOS["emoji"].credit)  # fmt: skip


def source_available(demo: str = "faces") -> bool:
    return bundled_folder(DEMOS[demo].source) is not None


def run_demo(
    output: str | Path = "demo_out",
    *,
    demo: str = "faces",
    method: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Adapt, sample, score and save; returns the scores written to ``metrics.json``."""
    if demo not in DEMOS:
        raise ValueError(f"demo='{demo}': use one of {', '.join(DEMOS)}.")
    d = DEMOS[demo]
    if not source_available(demo):
        raise FileNotFoundError(f"The bundled source {d.source} is not in {ZOO_DIR}; reinstall gan_transfer.")
    out = Path(output)
    started = time.perf_counter()
    source = GanPipeline.from_pretrained(d.source)
    source.set_progress_bar_config(disable=True)
    method = method or d.method
    steps = steps or d.steps.get(method, 200)
    options = {**d.options.get(method, {}), "output_dir": str(out / "training"), "progress": progress, "seed": seed,
               "overwrite": True, **options}  # fmt: skip  (the demo's folder is its own: a rerun replaces it)
    with warnings.catch_warnings():  # the face GAN ships no discriminator: building one is this demo's point
        warnings.filterwarnings("ignore", message="The source pipeline has no discriminator")
        tuned = source.adapt(d.target, method=method, steps=steps, **options)
    tuned.card_data["credits"] = "\n\n".join(filter(None, [source.card_data.get("credits"), d.credit]))
    saved = out / "adapted"  # the whole adapted pipeline; an adapter method's adapter is inside (adapters/0)
    tuned.save_pretrained(saved)

    n = 8
    real = load_images(d.target, source.generator.config.resolution)[:n]
    before = source(num_images=n, generator=torch.Generator().manual_seed(seed), output_type="pt")
    after = tuned(latents=before.latents, output_type="pt")
    rows = [*to_pil(real), *to_pil(before.images * 2 - 1), *to_pil(after.images * 2 - 1)]
    save_image(make_image_grid(rows, cols=n), out / "samples.png")

    from ..metrics import evaluate  # metrics load EfficientNet-Lite0; only needed from here on

    score = {"num_samples": 100, "kid_subset_size": 50, "seed": seed}
    reports = {
        "source vs held-out": evaluate(source, d.held_out, **score),
        "adapted vs held-out": evaluate(tuned, d.held_out, **score),
        "training images vs held-out (floor)": evaluate(d.target, d.held_out, kid_subset_size=25,
                                                         resolution=source.generator.config.resolution),
    }  # fmt: skip
    result = {
        "demo": demo,
        "source": d.source,
        "method": method,
        "saved": str(saved),
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "scores": {name: r.labeled() for name, r in reports.items()},
    }
    write_json(out / "metrics.json", result)
    return result
