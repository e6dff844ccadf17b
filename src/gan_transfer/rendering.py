"""Images out: tensors to PIL, grids, atomic image files, and a small loss-curve plot (no plotting library needed)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import torch

from .atomic import atomic_write


def to_pil(images: torch.Tensor) -> list[PIL.Image.Image]:
    """(N, C, H, W) images in [-1, 1] → PIL images (mode "L" for one channel, "RGB" for three)."""
    array = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    pixels = (array * 255).round().astype(np.uint8)
    return [PIL.Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]


def make_image_grid(images: Sequence[PIL.Image.Image], cols: int | None = None) -> PIL.Image.Image:
    """Paste equally sized images into a grid with ``cols`` columns (default: as square as possible)."""
    if not images:
        raise ValueError("make_image_grid needs at least one image.")
    cols = cols or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    w, h = images[0].size
    grid = PIL.Image.new(images[0].mode, (cols * w, rows * h), color=255 if images[0].mode == "L" else (255,) * 3)
    for i, img in enumerate(images):
        grid.paste(img, ((i % cols) * w, (i // cols) * h))
    return grid


def save_image(image: PIL.Image.Image, path: str | os.PathLike) -> Path:
    """Save atomically: the file appears whole or not at all."""
    path = Path(path)
    fmt = PIL.Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"'{path}' has no image extension PIL can write; use .png or .jpg.")
    with atomic_write(path) as tmp:
        image.save(tmp, format=fmt)
    return path


def plot_curves(curves: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "") -> Path:
    """A line plot of named curves (x = index), smoothed with a moving average, saved as PNG; the legend above it
    takes four names a row, each curve its own colour (ten before they repeat)."""
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (140, 86, 75),
               (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip
    per_row, row_height = 4, 14
    width, margin = 640, 48
    top = max(margin // 2, row_height * math.ceil(len(curves) / per_row) + 8)
    height = top + 360 - margin // 2  # a plot 288 px high under the legend
    image = PIL.Image.new("RGB", (width, height), "white")
    draw = PIL.ImageDraw.Draw(image)
    smooth = {}
    for name, values in curves.items():
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            continue
        k = max(1, v.size // 50)
        smooth[name] = np.convolve(v, np.ones(k) / k, mode="valid")
    finite = np.concatenate([v[np.isfinite(v)] for v in smooth.values()]) if smooth else np.zeros(1)
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1
    span = height - margin - top
    draw.rectangle([margin, top, width - margin // 2, height - margin], outline="black")
    for frac in (0.0, 0.5, 1.0):
        y = height - margin - frac * span
        draw.text((4, y - 6), f"{lo + frac * (hi - lo):.3g}", fill="black")
    for i, (name, v) in enumerate(smooth.items()):
        n = max(len(v) - 1, 1)
        pts = [
            (margin + j / n * (width - 1.5 * margin), height - margin - (x - lo) / (hi - lo) * span)
            for j, x in enumerate(v)
            if np.isfinite(x)
        ]
        colour = colours[i % len(colours)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        draw.text((margin + 8 + 148 * (i % per_row), 4 + row_height * (i // per_row)), name, fill=colour)
    draw.text((width // 2 - 20, height - margin + 8), title or "step", fill="black")
    return save_image(image, path)
