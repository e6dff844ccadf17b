"""MineGAN (Wang et al., CVPR 2020): mine the source's latent space for the target, then fine-tune everything.

Stage 1 trains a miner M (and the critic) in front of the frozen generator: the target is reached by moving z, not
by changing G. Stage 2 (on by default) releases G and fine-tunes miner, generator and critic together. Defaults:
WGAN-GP with λ = 10 as the paper; Adam (0.5, 0.999) and the learning rates are chosen here.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..adapters import MinerAdapter
from ..adapters.miner import Miner
from ..data import ImagesLike, load_images
from ..models import Discriminator, Generator
from .engine import FitOutput, GanTrainer, StepCallback, TrainConfig, TrainResult, register_recipe


@dataclasses.dataclass
class MineGANConfig(TrainConfig):
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    lr_g: float = 1e-4  # miner (and generator in stage 2)
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 5
    batch_size: int = 64
    ema_decay: float | None = None
    stage2: bool = True
    stage2_steps: int | None = None  # None: as many as stage 1
    miner_depth: int = 4
    miner_width: int | None = None  # None: z_dim


class MinedGenerator(nn.Module):
    """The engine's generator side: (u, y) → G(M(u), y). A frozen generator stays in eval mode (running stats kept)."""

    def __init__(self, miner: Miner, generator: Generator, train_generator: bool) -> None:
        super().__init__()
        self.miner, self.generator, self.train_generator = miner, generator, train_generator
        generator.requires_grad_(train_generator)

    def train(self, mode: bool = True) -> MinedGenerator:
        super().train(mode)
        if not self.train_generator:
            self.generator.eval()
        return self

    def forward(self, u: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.generator(self.miner(u), class_labels=y)


@register_recipe
class MineGAN:
    name = "minegan"
    config_class = MineGANConfig

    def __init__(self, config: MineGANConfig) -> None:
        self.config = config

    def fit(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: ImagesLike,
        class_labels: Sequence[int] | torch.Tensor | None = None,
        callbacks: Sequence[StepCallback] = (),
    ) -> FitOutput:
        c = self.config
        if generator.config.num_classes and class_labels is None:
            raise ValueError("MineGAN on a class-conditional source needs class_labels (one per image) for now.")
        x = load_images(images, generator.config.resolution, generator.config.channels, purpose="MineGAN")
        labels = None if class_labels is None else torch.as_tensor(class_labels).long().reshape(-1)
        g = copy.deepcopy(generator)
        d = copy.deepcopy(discriminator) if discriminator is not None else g.build_discriminator()
        torch.manual_seed(c.seed)
        miner = Miner(g.config.z_dim, c.miner_depth, c.miner_width)
        k = g.config.num_classes
        stages = [("stage1", False, c.steps)] + ([("stage2", True, c.stage2_steps or c.steps)] if c.stage2 else [])
        results: list[TrainResult] = []
        for name, release, steps in stages:
            out = str(Path(c.output_dir) / name) if c.output_dir else None
            config = dataclasses.replace(c, steps=steps, output_dir=out)
            side = MinedGenerator(miner, g, train_generator=release)
            trainer = GanTrainer(config, side, d, x, z_dim=g.config.z_dim, class_labels=labels, num_classes=k)
            results.append(trainer.fit(callbacks))
            trained = trainer.sampling_generator
            miner, g = trained.miner, trained.generator
        g.requires_grad_(True).eval()
        adapter = MinerAdapter(g.config.z_dim, c.miner_depth, c.miner_width)
        adapter.miner.load_state_dict(miner.state_dict())
        adapter.requires_grad_(False).eval()
        adapter.config.method = "minegan"
        adapter.config.hyperparameters = {"stage2": c.stage2, "steps": c.steps, "loss": c.loss, "num_images": len(x)}
        history = [h for r in results for h in r.history]
        result = TrainResult(history, sum(r.steps for r in results), sum(r.seconds for r in results),
                             results[-1].output_dir, sum(r.total_seconds for r in results))  # fmt: skip
        return FitOutput(
            generator=g if c.stage2 else None,
            discriminator=d.requires_grad_(True).eval() if c.stage2 else None,
            adapter=adapter,
            card_data={"tags": ["minegan"]},
            result=result,
            hyperparameters=adapter.config.hyperparameters,
        )
