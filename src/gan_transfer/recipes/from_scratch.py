"""Training a source GAN from scratch on the engine: how the bundled zoo is made, and how users make their own.

Defaults are the usual small-data BigGAN recipe: hinge loss, Adam 2e-4 β = (0, 0.999), one D step per G step,
DiffAugment (colour, translation), EMA 0.999 of the generator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import torch

from ..models import (
    BigGANDiscriminator,
    BigGANGenerator,
    Discriminator,
    Generator,
    ResNetDiscriminator,
    ResNetGenerator,
)
from ..options import AT_LEAST_ONE, NON_NEGATIVE, Range
from .engine import GanTrainer, GeneratorSide, StepCallback, TrainConfig, TrainResult

FAMILIES: dict[str, tuple[type[Generator], type[Discriminator]]] = {
    "biggan": (BigGANGenerator, BigGANDiscriminator),
    "resnet": (ResNetGenerator, ResNetDiscriminator),
}


@dataclasses.dataclass
class SourceConfig(TrainConfig):
    family: str = "biggan"
    resolution: int = 32
    channels: int = 3
    width: int = 32
    z_dim: int = 128
    num_classes: int = 0
    generator_options: dict = dataclasses.field(default_factory=dict)  # e.g. {"shared_dim": 16}
    discriminator_options: dict = dataclasses.field(default_factory=dict)
    diffaugment: str = "color,translation"
    ema_decay: float | None = 0.999
    batch_size: int = 64

    RANGES: ClassVar[dict[str, Range]] = {"resolution": AT_LEAST_ONE, "width": AT_LEAST_ONE, "z_dim": AT_LEAST_ONE,
                                          "num_classes": NON_NEGATIVE}  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.family not in FAMILIES:
            raise ValueError(f"family='{self.family}': use one of {', '.join(FAMILIES)}.")


def build_models(config: SourceConfig, seed: int = 0) -> tuple[Generator, Discriminator]:
    g_cls, d_cls = FAMILIES[config.family]
    common = {"resolution": config.resolution, "channels": config.channels, "num_classes": config.num_classes,
              "width": config.width}  # fmt: skip
    torch.manual_seed(seed)
    return (
        g_cls(**common, z_dim=config.z_dim, **config.generator_options),
        d_cls(**common, **config.discriminator_options),
    )


def train_source(
    config: SourceConfig,
    images: torch.Tensor,
    class_labels: torch.Tensor | None = None,
    callbacks: Sequence[StepCallback] = (),
) -> tuple[Generator, Discriminator, TrainResult]:
    """Train a new GAN on ``images`` ((N, C, R, R) in [-1, 1]); returns the EMA generator, D and the run's record."""
    g, d = build_models(config, config.seed)
    labels = class_labels if config.num_classes else None
    trainer = GanTrainer(config, GeneratorSide(g), d, images, z_dim=config.z_dim, class_labels=labels,
                         num_classes=config.num_classes)  # fmt: skip
    result = trainer.fit(callbacks)
    generator = trainer.sampling_generator.generator.eval().requires_grad_(True)
    return generator, d.eval(), result
