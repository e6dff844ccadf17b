"""Several pretrained generators behind one generator interface (the sources of multi-source mining).

``z`` = [u₀, latent]: the first coordinate picks the source — Φ(u₀) falls into one of K equal bins, so a standard
normal u₀ picks each source with probability 1/K — and the rest (the first ``z_dim`` of the chosen source) is its
latent. Adapters that prefer some sources (MineGAN's selector) rewrite u₀ with :meth:`source_code`. All sources
must share resolution and channels and be unconditional.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..hub import stamp
from .base import MODEL_REGISTRY, GanModel, Generator, ModelConfig


@dataclasses.dataclass
class MultiSourceGeneratorConfig(ModelConfig):
    sources: tuple[dict[str, Any], ...] = ()  # each source's stamped config
    z_dim: int = 0  # 1 + the largest source z_dim


def _normal() -> torch.distributions.Normal:
    return torch.distributions.Normal(torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64))


def uniform_of(u0: torch.Tensor) -> torch.Tensor:
    """Φ(u₀): a standard-normal coordinate turned into a uniform one (float64)."""
    return _normal().cdf(u0.double())


def source_of(u0: torch.Tensor, num_sources: int) -> torch.Tensor:
    """The source index each u₀ selects: Φ(u₀) in one of ``num_sources`` equal bins."""
    return (uniform_of(u0) * num_sources).long().clamp(0, num_sources - 1)


def source_code(index: torch.Tensor, num_sources: int) -> torch.Tensor:
    """A u₀ that selects source ``index`` (the centre of its bin)."""
    return _normal().icdf((index.double() + 0.5) / num_sources).float()


@MODEL_REGISTRY.register()
class MultiSourceGenerator(Generator):
    config_class = MultiSourceGeneratorConfig
    config: MultiSourceGeneratorConfig

    def __init__(self, config: MultiSourceGeneratorConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.sources = nn.ModuleList(
            GanModel.from_stamped(e, "MultiSourceGenerator config") for e in self.config.sources
        )
        self.class_embedding_dim = 0

    @classmethod
    def from_generators(cls, generators: list[Generator]) -> MultiSourceGenerator:
        """Compose existing generators (their modules are shared, not copied)."""
        if len(generators) < 2:
            raise ValueError("A multi-source generator needs at least two source generators.")
        first = generators[0].config
        for g in generators:
            c = g.config
            if (c.resolution, c.channels) != (first.resolution, first.channels) or c.num_classes:
                raise ValueError(
                    "Sources must share resolution and channels and be unconditional; got "
                    f"{c.resolution} px × {c.channels} ch ({c.num_classes} classes) beside "
                    f"{first.resolution} px × {first.channels} ch."
                )
        config = MultiSourceGeneratorConfig(
            resolution=first.resolution,
            channels=first.channels,
            sources=tuple(stamp(type(g).__name__, g.config.to_dict()) for g in generators),
            z_dim=1 + max(g.config.z_dim for g in generators),
        )
        model = cls.__new__(cls)
        Generator.__init__(model, config)
        model.sources = nn.ModuleList(generators)
        model.class_embedding_dim = 0
        return model

    @property
    def num_sources(self) -> int:
        return len(self.sources)

    @property
    def z_dims(self) -> list[int]:
        return [s.config.z_dim for s in self.sources]

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        raise ValueError("Multi-source generators are unconditional.")

    def block_modules(self) -> dict[str, nn.Module]:
        return {f"sources.{i}.{k}": m for i, s in enumerate(self.sources) for k, m in s.block_modules().items()}

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        self.class_condition(z.shape[0], class_labels, class_embedding)
        which = source_of(z[:, 0], self.num_sources).to(z.device)
        out = None
        for i, source in enumerate(self.sources):
            mask = which == i
            if mask.any():
                images = source(z[mask, 1 : 1 + source.config.z_dim].to(source.dtype))
                if out is None:
                    out = images.new_empty(z.shape[0], *images.shape[1:])
                out[mask] = images
        return out
