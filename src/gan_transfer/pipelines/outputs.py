"""Output dataclasses of the pipelines."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import PIL.Image
import torch

from ..hub import atomic_write


@dataclasses.dataclass
class GanPipelineOutput:
    """What a :class:`GanPipeline` call returns.

    ``images``: a list of PIL images, an (N, H, W, C) float array in [0, 1] (``"np"``) or an (N, C, H, W) float
    tensor in [0, 1] (``"pt"``). ``latents`` and ``class_labels`` are the generator inputs used (before adapters),
    so a call can be repeated exactly with ``pipe(latents=out.latents, class_labels=out.class_labels)``.
    """

    images: Any
    latents: torch.Tensor
    class_labels: torch.Tensor | None = None


def make_image_grid(images: list[PIL.Image.Image], cols: int | None = None) -> PIL.Image.Image:
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
