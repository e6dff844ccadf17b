"""cGANTransfer (Shahbazi et al., CVPR 2021): add classes to a class-conditional GAN by propagating old classes.

The generator's weights stay frozen and its old classes keep their exact outputs; each new class's BN parameters
(or class embedding, for BigGAN-style generators) are learned as S · P + R (see ``class_propagation`` adapters).
The critic is fine-tuned with new class embeddings / classifier rows. Loss: hinge + λ_r · mean ‖R‖² + λ_s · mean |S|.
Loss and structure follow the paper; learning rates, λ values and steps are chosen here.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ..adapters import ClassPropagationAdapter, attach
from ..models import Discriminator, Generator
from ..options import NON_NEGATIVE, Range
from .base import FitOutput, Recipe, register_recipe
from .engine import GeneratorSide, StepCallback, TrainConfig, TrainResult


@dataclasses.dataclass
class CGANTransferConfig(TrainConfig):
    loss: str = "hinge"
    lr_g: float = 1e-3  # scores, pseudo-classes and residuals
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.999)
    d_steps: int = 1
    batch_size: int = 32
    ema_decay: float | None = None
    residual_weight: float = 0.1  # λ_r
    score_weight: float = 0.01  # λ_s (L1 on the scores)
    stage2_steps: int = 0  # > 0: then fine-tune the generator with the propagation frozen (changes old classes too)
    propagate: bool = True  # False: the paper's baseline, independent learning — each new class starts as the mean
    # old class (S = 1/K, P = old parameters, both frozen) and only its own parameters R are learned, unpenalised
    fine_tune_generator: bool = False  # True: train the generator's weights together with the new classes (the
    # TransferGAN-style baseline; old classes change too). Use a fine-tuning lr_g (e.g. 2e-4) with it.

    RANGES: ClassVar[dict[str, Range]] = {"residual_weight": NON_NEGATIVE, "score_weight": NON_NEGATIVE,
                                          "stage2_steps": NON_NEGATIVE}  # fmt: skip
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's method, stopped where it was best: 2 new Fashion-MNIST classes, 10 images each, on the ResNet
        # BN-table source: mean FD 183.9 at step 350 (207.5 at 600; independent learning's best 215.7, at step 50);
        # with 25 images each 184.2 at step 400, best 176.5 at 500 (a held-out slice keeps the best step)
        "few-shot": {"steps": 400},
    }


class PropagatedGenerator(GeneratorSide):
    """Engine side: new-class ids 0 … M−1 → the generator with propagated parameters for ids K … K+M−1.

    Stage 1 trains the propagation with the generator frozen (eval mode, running statistics kept); stage 2
    (``train_generator=True, train_propagation=False``) fine-tunes the generator with the propagation frozen; the
    fine-tuning baseline trains both.
    """

    def __init__(
        self,
        generator: Generator,
        adapter: ClassPropagationAdapter,
        weights: tuple[float, float],
        train_generator: bool = False,
        train_propagation: bool = True,
    ) -> None:
        super().__init__(generator, train_generator)
        self.adapter, self.weights = adapter, weights
        adapter.requires_grad_(train_propagation)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        with attach([self.adapter], self.generator) as transform:
            z, labels, emb = transform(z, y + self.adapter.num_old, None)
            return self.generator(z, class_labels=labels, class_embedding=emb)

    def regularizer(self, fake: torch.Tensor, inputs: dict, critic: nn.Module | None) -> torch.Tensor | None:
        if not self.adapter.training_form or not any(p.requires_grad for p in self.adapter.residuals.values()):
            return None
        residual, scores = self.adapter.regularizer()
        return self.weights[0] * residual + self.weights[1] * scores


class NewClassCritic(nn.Module):
    """The critic over old + new classes, addressed with new-class ids 0 … M−1."""

    def __init__(self, discriminator: Discriminator, offset: int) -> None:
        super().__init__()
        self.discriminator, self.offset = discriminator, offset
        self.has_classifier = discriminator.has_classifier

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.discriminator(x, None if y is None else y + self.offset)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator.classify(x)[:, self.offset :]


@register_recipe
class CGANTransfer(Recipe):
    name = "cgan_transfer"
    config_class = CGANTransferConfig

    def train(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: torch.Tensor,
        class_labels: torch.Tensor | None,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """``class_labels``: 0-based new-class ids, one per image; they become ids K, K+1, … of the result."""
        c = self.config
        k = generator.config.num_classes
        if not k:
            raise ValueError("cGANTransfer adds classes to a class-conditional generator; this one is unconditional.")
        if class_labels is None:
            raise ValueError("cGANTransfer needs class_labels: the 0-based new-class id of every image.")
        x, labels = images, class_labels
        m = int(labels.max()) + 1
        d = copy.deepcopy(discriminator) if discriminator is not None else generator.build_discriminator()
        d = d.with_num_classes(k + m)
        adapter = ClassPropagationAdapter.for_training(generator, m)
        weights = (c.residual_weight, c.score_weight) if c.propagate else (0.0, 0.0)
        side = PropagatedGenerator(copy.deepcopy(generator), adapter, weights, train_generator=c.fine_tune_generator)
        if not c.propagate:
            adapter.scores.requires_grad_(False)
            adapter.pseudo.requires_grad_(False)
        trainer = self.trainer(c, side, NewClassCritic(d, k), x, z_dim=generator.config.z_dim, class_labels=labels,
                             num_classes=m)  # fmt: skip
        result = trainer.fit(callbacks)
        trained = trainer.sampling_generator.adapter
        result.extras["propagation"] = trained  # scores, pseudo-classes and residuals, for inspection
        collapsed = trained.collapse()
        new_generator = None
        if c.fine_tune_generator:
            new_generator = trainer.sampling_generator.generator
            collapsed.config.base_model_hash = None  # it belongs to the fine-tuned generator
        if c.stage2_steps:
            stage2 = dataclasses.replace(c, steps=c.stage2_steps, output_dir=c.output_dir and f"{c.output_dir}/stage2")
            side = PropagatedGenerator(trainer.sampling_generator.generator, collapsed, (0.0, 0.0),
                                       train_generator=True, train_propagation=False)  # fmt: skip
            second = self.trainer(stage2, side, NewClassCritic(d, k), x, z_dim=generator.config.z_dim,
                                class_labels=labels, num_classes=m)  # fmt: skip
            result = TrainResult.merged([result, second.fit(callbacks)])
            new_generator = second.sampling_generator.generator
            collapsed.config.base_model_hash = None  # it now belongs to the fine-tuned generator
        return FitOutput(generator=new_generator, adapter=collapsed, result=result,
                         hyperparameters={"num_new_classes": m})  # fmt: skip
