"""Miner adapters (MineGAN, Wang et al. 2020): a small network in front of a frozen generator that moves z.

The miner is residual, M(u) = u + MLP(u), with the MLP's last layer starting at zero: a fresh miner is the identity,
so mining starts from the source distribution. A miner-only adapter is a few kilobytes and loads onto the unchanged
source pipeline.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import Generator, MultiSourceGenerator
from ..models.multi_source import source_code, uniform_of
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


@register_adapter
class MultiSourceMinerAdapter(Adapter):
    """One miner per source of a :class:`MultiSourceGenerator`, plus the selector's probabilities p_i.

    Sampling draws the source from p (through the CDF of the first latent coordinate, so seeded calls repeat) and
    mines that source's latent with its own miner.
    """

    kind = "multi_source_miner"

    def __init__(self, z_dims: list[int], depth: int = 4, width: int | None = None) -> None:
        super().__init__(z_dims=list(z_dims), depth=depth, width=width)
        self.miners = nn.ModuleList(Miner(d, depth, width) for d in z_dims)
        self.register_buffer("probabilities", torch.full((len(z_dims),), 1.0 / len(z_dims)))

    def check_compatible(self, generator: Generator) -> None:
        if not isinstance(generator, MultiSourceGenerator) or generator.z_dims != self.config.kwargs["z_dims"]:
            raise ValueError(
                f"This adapter mines {len(self.miners)} sources with latents {self.config.kwargs['z_dims']}; "
                "load it onto the multi-source pipeline it was trained for (GanPipeline.from_sources)."
            )

    def transform_inputs(self, z, class_labels, class_embedding):
        k = len(self.miners)
        uniform = uniform_of(z[:, 0])
        cdf = self.probabilities.double().cumsum(0).to(uniform.device)
        chosen = torch.searchsorted(cdf, uniform.contiguous(), right=True).clamp(max=k - 1)
        out = z.clone()
        out[:, 0] = source_code(chosen, k).to(z)
        for i, miner in enumerate(self.miners):
            mask = chosen.to(z.device) == i
            if mask.any():
                d = self.config.kwargs["z_dims"][i]
                out[mask, 1 : 1 + d] = miner(z[mask, 1 : 1 + d].to(out.dtype))
        return out, class_labels, class_embedding
