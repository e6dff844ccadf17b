"""Miner adapters (MineGAN, Wang et al. 2020): a small network in front of a frozen generator that moves z.

The miner is residual, M(u) = u + MLP(u), with the MLP's last layer starting at zero: a fresh miner is the identity,
so mining starts from the source distribution. A miner-only adapter is a few kilobytes and loads onto the unchanged
source pipeline.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import Generator
from .base import Adapter, register_adapter


class Miner(nn.Module):
    """u → u + MLP(u): ``depth`` linear layers of width ``width`` with LeakyReLU(0.2); identity at initialisation."""

    def __init__(self, z_dim: int, depth: int = 4, width: int | None = None) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth={depth}: a miner needs at least one layer.")
        width = width or z_dim
        dims = [z_dim] + [width] * (depth - 1) + [z_dim]
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < depth - 1:
                layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u + self.net(u)


@register_adapter
class MinerAdapter(Adapter):
    """Rewrites the generator's latents: z → M(z)."""

    kind = "miner"

    def __init__(self, z_dim: int, depth: int = 4, width: int | None = None) -> None:
        super().__init__(z_dim=z_dim, depth=depth, width=width)
        self.miner = Miner(z_dim, depth, width)

    @classmethod
    def for_generator(cls, generator: Generator, depth: int = 4, width: int | None = None) -> MinerAdapter:
        return cls(generator.config.z_dim, depth, width)

    def check_compatible(self, generator: Generator) -> None:
        if generator.config.z_dim != self.config.kwargs["z_dim"]:
            raise ValueError(
                f"This miner maps {self.config.kwargs['z_dim']}-d latents; the generator takes "
                f"z_dim={generator.config.z_dim}."
            )

    def transform_inputs(self, z, class_labels, class_embedding):
        return self.miner(z.to(next(self.miner.parameters()).dtype)), class_labels, class_embedding
