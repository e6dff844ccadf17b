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


@dataclasses.dataclass
class I2IPipelineOutput:
    """What an :class:`I2IPipeline` call returns.

    ``images``: the translations, input-major (input i's ``num_variants`` variants are ``images[i·k : (i+1)·k]``),
    as PIL images, an array or a tensor (see :class:`GanPipelineOutput`). ``latents`` and ``target_class`` are one
    per translation, so ``pipe(images, target_class=..., latents=out.latents)`` repeats the call exactly.
    """

    images: Any
    latents: torch.Tensor
    target_class: torch.Tensor
    num_variants: int = 1
