"""Several single-domain models behind one class-conditional interface: class label = domain.

TransferI2I's two-class setting keeps one generator (and one discriminator, one encoder) per domain; stacked here,
they save and load as one component, and ``GanPipeline(DomainGenerator(...))(class_labels=1)`` draws domain 1.
Every member is an unconditional model of the same family, resolution and channels; a batch is split by label and
each part runs through its own member.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..hub import stamp
from .base import MODEL_REGISTRY, Discriminator, GanModel, Generator, ModelConfig


@dataclasses.dataclass
class DomainStackConfig(ModelConfig):
    domains: tuple[dict[str, Any], ...] = ()  # each member's stamped config
    z_dim: int = 0  # generators: the members' z_dim


def _stack_config(models: list[GanModel]) -> DomainStackConfig:
    if len(models) < 2:
        raise ValueError("A domain stack needs at least two single-domain models.")
    first = models[0].config
    for m in models:
        c = m.config
        if (c.resolution, c.channels, type(m)) != (first.resolution, first.channels, type(models[0])) or c.num_classes:
            raise ValueError(
                "Domain members must be unconditional models of one family, resolution and channel count; got "
                f"{type(m).__name__} at {c.resolution} px × {c.channels} ch ({c.num_classes} classes)."
            )
    return DomainStackConfig(
        resolution=first.resolution,
        channels=first.channels,
        num_classes=len(models),
        domains=tuple(stamp(type(m).__name__, m.config.to_dict()) for m in models),
        z_dim=getattr(first, "z_dim", 0),
    )


def _dispatch(members: nn.ModuleList, labels: torch.Tensor, run: Any, batch: int) -> torch.Tensor:
    """Run each member on its rows (``run(member, mask)``) and put the results back in batch order."""
    out = None
    for i, member in enumerate(members):
        mask = labels == i
        if mask.any():
            part = run(member, mask)
            if out is None:
                out = part.new_empty(batch, *part.shape[1:])
            out[mask] = part
    return out


def _labels(model: GanModel, class_labels: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
    k = model.config.num_classes
    if class_labels is None:
        raise ValueError(f"This model holds {k} domains: pass class_labels (the domain of each row).")
    labels = torch.as_tensor(class_labels, device=device).long().reshape(-1)
    if labels.numel() != batch or (labels.numel() and (labels.min() < 0 or labels.max() >= k)):
        raise ValueError(f"class_labels must give one domain in 0..{k - 1} per row; got {labels.tolist()}.")
    return labels


@MODEL_REGISTRY.register()
class DomainGenerator(Generator):
    """One unconditional generator per domain; ``class_labels`` picks the domain of each latent."""

    config_class = DomainStackConfig
    config: DomainStackConfig

    def __init__(
        self, config: DomainStackConfig | None = None, *, members: list[Generator] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(config, **kwargs)
        self.domains = self.members(self.config.domains, members, "DomainGenerator config")
        self.class_embedding_dim = self.config.num_classes

    @classmethod
    def from_generators(cls, generators: list[Generator]) -> DomainGenerator:
        """Stack existing generators (their modules are shared, not copied)."""
        config = _stack_config(generators)
        if len({g.config.z_dim for g in generators}) != 1:
            raise ValueError("Domain generators must share z_dim.")
        return cls(config, members=generators)

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(class_labels, self.config.num_classes).to(self.dtype)

    def block_modules(self) -> dict[str, nn.Module]:
        return {f"domains.{i}.{k}": m for i, g in enumerate(self.domains) for k, m in g.block_modules().items()}

    def sample_latents(
        self, num: int, truncation: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """As the domains' family draws them (the domains share one z; they are built from one source)."""
        return self.domains[0].sample_latents(num, truncation, generator)

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if class_embedding is not None:
            raise ValueError("A domain generator takes class_labels (one domain per latent), not a class embedding.")
        labels = _labels(self, class_labels, z.shape[0], z.device)
        return _dispatch(self.domains, labels, lambda g, mask: g(z[mask]), z.shape[0])


@MODEL_REGISTRY.register()
class DomainDiscriminator(Discriminator):
    """One unconditional discriminator (or encoder) per domain; ``class_labels`` picks the domain of each image."""

    config_class = DomainStackConfig
    config: DomainStackConfig

    def __init__(
        self, config: DomainStackConfig | None = None, *, members: list[Discriminator] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(config, **kwargs)
        self.domains = self.members(self.config.domains, members, "DomainDiscriminator config")

    @classmethod
    def from_discriminators(cls, discriminators: list[Discriminator]) -> DomainDiscriminator:
        """Stack existing discriminators (shared, not copied)."""
        return cls(_stack_config(discriminators), members=discriminators)

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = _labels(self, class_labels, x.shape[0], x.device)
        return _dispatch(self.domains, labels, lambda d, mask: d(x[mask]), x.shape[0])

    def features(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each image's features from its own domain's member (``class_labels`` are required here)."""
        labels = _labels(self, class_labels, x.shape[0], x.device)
        out: list[torch.Tensor] = []
        for i, member in enumerate(self.domains):
            mask = labels == i
            if mask.any():
                feats = member.features(x[mask])
                out = out or [f.new_empty(x.shape[0], *f.shape[1:]) for f in feats]
                for level, f in zip(out, feats, strict=True):
                    level[mask] = f
        return out
