"""Output dataclasses of the pipelines."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


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
