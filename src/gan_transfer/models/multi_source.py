"""Several pretrained generators behind one generator interface (the sources of multi-source mining).

``z`` = [u₀, latent]: the first coordinate picks the source — Φ(u₀) falls into one of K equal bins, so a standard
normal u₀ picks each source with probability 1/K — and the rest (the first ``z_dim`` of the chosen source) is its
latent. Adapters that prefer some sources (MineGAN's selector) rewrite u₀ with :meth:`source_code`. Sources must
be unconditional; they may differ in resolution and channels: every image is brought to the first source's (whose
discriminator a multi-source run starts from) by :func:`conform` — bilinear resizing (antialiased when shrinking),
gray repeated to RGB, RGB to gray by ITU-R 601 luma.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..hub import stamp
from ..latents import check_generator
from .base import MODEL_REGISTRY, Generator, ModelConfig


@dataclasses.dataclass
class MultiSourceGeneratorConfig(ModelConfig):
    sources: tuple[dict[str, Any], ...] = ()  # each source's stamped config
    z_dim: int = 0  # 1 + the largest source z_dim


def conform(images: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """(N, C, H, W) images in [-1, 1] brought to ``resolution``² and ``channels`` (returned as they are if equal)."""
    if images.shape[1] != channels:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1)
        else:
            luma = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
            images = (images * luma).sum(dim=1, keepdim=True)
    if images.shape[-1] != resolution or images.shape[-2] != resolution:
        shrink = images.shape[-1] > resolution
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False,
                               antialias=shrink)  # fmt: skip
    return images


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

    def __init__(
        self, config: MultiSourceGeneratorConfig | None = None, *, members: list[Generator] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(config, **kwargs)
        self.sources = self.members(self.config.sources, members, "MultiSourceGenerator config")
        self.class_embedding_dim = 0

    @classmethod
    def from_generators(cls, generators: list[Generator]) -> MultiSourceGenerator:
        """Compose existing generators (their modules are shared, not copied)."""
        if len(generators) < 2:
            raise ValueError("A multi-source generator needs at least two source generators.")
        first = generators[0].config
        for i, g in enumerate(generators):
            if g.config.num_classes:
                raise ValueError(
                    f"Source {i} is class-conditional ({g.config.num_classes} classes); multi-source mining takes "
                    "unconditional sources."
                )
        config = MultiSourceGeneratorConfig(
            resolution=first.resolution,
            channels=first.channels,
            sources=tuple(stamp(type(g).__name__, g.config.to_dict()) for g in generators),
            z_dim=1 + max(g.config.z_dim for g in generators),
        )
        return cls(config, members=generators)

    @property
    def num_sources(self) -> int:
        return len(self.sources)

    @property
    def z_dims(self) -> list[int]:
        return [s.config.z_dim for s in self.sources]

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        raise ValueError("Multi-source generators are unconditional.")

    def sample_latents(
        self, num: int, truncation: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """[u₀, latent] rows: u₀ ~ N(0, 1), never truncated, so each source keeps its 1/K share at any ``truncation``;
        the latent as the chosen source's family draws it (BigGAN's truncated normal, StyleGAN2's N(0, I) with ψ in
        W), zero past that source's ``z_dim``. Each source draws ``num`` rows from ``generator`` in turn."""
        check_generator(generator)
        u0 = torch.randn(num, generator=generator)
        which = source_of(u0, self.num_sources)
        z = torch.zeros(num, self.config.z_dim)
        z[:, 0] = u0
        for i, source in enumerate(self.sources):
            latents = source.sample_latents(num, truncation, generator)
            mask = which == i
            z[mask, 1 : 1 + source.config.z_dim] = latents[mask]
        return z

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
                images = conform(images, self.config.resolution, self.config.channels)
                if out is None:
                    out = images.new_empty(z.shape[0], *images.shape[1:])
                out[mask] = images
        return out
