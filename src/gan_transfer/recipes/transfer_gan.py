"""TransferGAN (Wang et al., ECCV 2018): fine-tune a pretrained generator and discriminator on the target images.

Paper defaults: WGAN-GP with λ = 10, Adam β = (0, 0.9), learning rate 1e-4 (1e-5 for ≤ 1000 target images), five
critic steps per generator step, batch 64, no EMA. Options reproduce the paper's four-way table (re-initialise G
and/or D), FreezeD (Mo et al. 2020: freeze the first k discriminator blocks) and the unconditional → conditional
transfer ("Cond BNorm": every class starts from the source's batch-norm γ/β).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..models import Discriminator, Generator
from ..options import NON_NEGATIVE, Range
from .base import FitOutput, Recipe, register_recipe
from .engine import GeneratorSide, StepCallback, TrainConfig

FEW_SHOT_LIMIT = 1000  # at or below this many images the paper lowers the learning rate to 1e-5


@dataclasses.dataclass
class TransferGANConfig(TrainConfig):
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    lr_g: float | None = None  # None: 1e-4, or 1e-5 for ≤ 1000 target images
    lr_d: float | None = None
    betas: tuple[float, float] = (0.0, 0.9)
    d_steps: int = 5
    batch_size: int = 64
    ema_decay: float | None = None
    reinit_generator: bool = False
    reinit_discriminator: bool = False
    freeze_d_blocks: int = 0  # FreezeD: keep the first k discriminator blocks fixed
    num_classes: int = 0  # > 0 with class_labels and an unconditional source: transfer into a conditional GAN

    RANGES: ClassVar[dict[str, Range]] = {"freeze_d_blocks": NON_NEGATIVE, "num_classes": NON_NEGATIVE}
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's few-shot lr for 200 steps at batch 16: the one setting that ended below the face GAN source at
        # 10, 25 and 100 cartoon faces (KID 0.500 → 0.474 / 0.469 / 0.464; bench/RESULTS.md 2026-11-25, 2026-12-02)
        "few-shot": {"lr_g": 1e-5, "lr_d": 1e-5, "steps": 200, "batch_size": 16},
    }

    def learning_rate(self, num_images: int) -> float:
        return 1e-5 if num_images <= FEW_SHOT_LIMIT else 1e-4


def make_conditional(generator: Generator, num_classes: int) -> Generator:
    """TransferGAN's "Cond BNorm": a conditional copy of an unconditional generator, every class = the source."""
    return generator.conditional_copy(num_classes)


@register_recipe
class TransferGAN(Recipe):
    name = "transfer_gan"
    config_class = TransferGANConfig

    def train(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: torch.Tensor,
        class_labels: torch.Tensor | None,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """Fine-tune copies of ``generator`` and ``discriminator`` (the originals are left untouched)."""
        c = self.config
        x, labels = images, class_labels
        g = copy.deepcopy(generator)
        if discriminator is None:
            warnings.warn(
                "The source pipeline has no discriminator, so a new one is trained from scratch; TransferGAN found "
                "that transfer quality suffers without the pretrained discriminator.",
                stacklevel=4,
            )
            d = g.build_discriminator()
        else:
            d = copy.deepcopy(discriminator)
        num_classes = self._num_classes(g, labels)
        if num_classes and not g.config.num_classes:
            g = make_conditional(g, num_classes)
        if num_classes and not d.config.num_classes:
            d = d.with_num_classes(num_classes)
        if c.reinit_generator:
            g = type(g)(g.config)
        if c.reinit_discriminator:
            d = type(d)(d.config)
        if c.freeze_d_blocks > len(d.blocks):
            raise ValueError(f"freeze_d_blocks={c.freeze_d_blocks}, but the discriminator has {len(d.blocks)} blocks.")
        for block in d.blocks[: c.freeze_d_blocks]:
            block.requires_grad_(False)
        lr = c.learning_rate(x.shape[0])
        config = dataclasses.replace(c, lr_g=c.lr_g or lr, lr_d=c.lr_d or lr)
        trainer = self.trainer(
            config, GeneratorSide(g), d, x, z_dim=g.config.z_dim, class_labels=labels, num_classes=num_classes
        )
        result = trainer.fit(callbacks)
        return FitOutput(generator=trainer.sampling_generator.generator, discriminator=d, result=result, config=config)

    def _num_classes(self, g: Generator, labels: torch.Tensor | None) -> int:
        if labels is None:
            if g.config.num_classes:
                raise ValueError(
                    f"The source is class-conditional ({g.config.num_classes} classes): "
                    "pass class_labels, one per image."
                )
            return 0
        needed = int(labels.max()) + 1 if labels.numel() else 0
        k = g.config.num_classes or self.config.num_classes or needed
        if labels.min() < 0 or needed > k:
            raise ValueError(f"class_labels must lie in 0..{k - 1}; got values up to {needed - 1}.")
        return k
