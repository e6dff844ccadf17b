"""The offline main job: adapt the bundled Google-emoji GAN to 25 bundled Twitter emoji, and show what changed.

Writes ``samples.png`` (rows: real target images, source samples, adapted samples from the same latents), the
adapted pipeline ``adapted/`` (TransferGAN, the default, changes weights; with ``method="bsa"`` it keeps the source's
weights and holds a few kilobytes of γ/β under ``adapters/0``, also loadable alone with ``load_adapter``), and
``metrics.json`` (FD / KID on EfficientNet-Lite0 features of source and adapted samples against 100 held-out
Twitter emoji, with the real-vs-real distance of the 25 training images as a floor).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data import load_images
from ..hub import write_json
from ..pipelines import GanPipeline
from ..rendering import make_image_grid, save_image, to_pil
from ..zoo import ZOO_DIR, bundled_folder

SOURCE = "gan-transfer/emoji-google"
DATA_DIR = ZOO_DIR / "data"
TARGET = DATA_DIR / "twitter-emoji-25"
HELD_OUT = DATA_DIR / "twitter-emoji-heldout-100"
TARGET_CREDIT = (
    "Adapted on 25 Twemoji images, © Twitter, Inc. and other contributors, CC-BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/)."
)


def source_available() -> bool:
    return bundled_folder(SOURCE) is not None


# TransferGAN is the default because it measured best on this pair (bench/RESULTS.md, 2026-11-23): KMMD 0.043 → 0.040
# and KID 0.067 → 0.061, best FD by step 100; BSA blurred these 25 mixed-category emoji (KMMD 0.140).
DEFAULT_METHOD = "transfer_gan"
DEFAULT_STEPS = {"bsa": 300, "transfer_gan": 100, "minegan": 200}


def run_demo(
    output: str | Path = "demo_out",
    *,
    method: str = DEFAULT_METHOD,
    steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Adapt, sample, score and save; returns the scores written to ``metrics.json``."""
    if not source_available():
        raise FileNotFoundError(f"The bundled source {SOURCE} is not in {ZOO_DIR}; reinstall gan_transfer.")
    out = Path(output)
    started = time.perf_counter()
    source = GanPipeline.from_pretrained(SOURCE)
    source.set_progress_bar_config(disable=True)
    steps = steps or DEFAULT_STEPS.get(method, 200)
    options = {"output_dir": str(out / "training"), "progress": progress, "seed": seed, **options}
    tuned = source.adapt(TARGET, method=method, steps=steps, **options)
    tuned.card_data["credits"] = "\n\n".join(filter(None, [source.card_data.get("credits"), TARGET_CREDIT]))
    saved = out / "adapted"  # the whole adapted pipeline; an adapter method's adapter is inside (adapters/0)
    tuned.save_pretrained(saved)

    n = 8
    real = load_images(TARGET, source.generator.config.resolution)[:n]
    before = source(num_images=n, generator=torch.Generator().manual_seed(seed), output_type="pt")
    after = tuned(latents=before.latents, output_type="pt")
    rows = [*to_pil(real), *to_pil(before.images * 2 - 1), *to_pil(after.images * 2 - 1)]
    save_image(make_image_grid(rows, cols=n), out / "samples.png")

    from ..metrics import evaluate  # metrics load EfficientNet-Lite0; only needed from here on

    score = {"num_samples": 100, "kid_subset_size": 50, "seed": seed}
    reports = {
        "source vs held-out": evaluate(source, HELD_OUT, **score),
        "adapted vs held-out": evaluate(tuned, HELD_OUT, **score),
        "25 training images vs held-out (floor)": evaluate(TARGET, HELD_OUT, kid_subset_size=25,
                                                            resolution=source.generator.config.resolution),
    }  # fmt: skip
    result = {
        "source": SOURCE,
        "method": method,
        "saved": str(saved),
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "scores": {name: r.labeled() for name, r in reports.items()},
    }
    write_json(out / "metrics.json", result)
    return result
