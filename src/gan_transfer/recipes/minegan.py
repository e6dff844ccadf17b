"""MineGAN (Wang et al., CVPR 2020): mine the source's latent space for the target, then fine-tune everything.

Stage 1 trains a miner M (and the critic) in front of the frozen generator: the target is reached by moving z, not
by changing G. Stage 2 (on by default) releases G and fine-tunes miner, generator and critic together. Defaults:
WGAN-GP with λ = 10 as the paper; Adam (0.5, 0.999) and the learning rates are chosen here. ``miner_space="w"`` (not
in the paper) mines StyleGAN2's intermediate latent w instead of z.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..adapters import MinerAdapter, attach
from ..adapters.miner import MINER_SPACES, MultiSourceMinerAdapter
from ..models import Discriminator, Generator, MultiSourceGenerator
from ..models.multi_source import conform
from ..options import AT_LEAST_ONE, Range
from .base import FitOutput, Recipe, register_recipe
from .engine import GeneratorSide, StepCallback, TrainConfig, TrainResult


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
    selector_window: int = 1000  # p_i = share of argmax wins over this many recent minibatches
    miner_space: str = "z"  # "z" (the paper) or "w" (StyleGAN2's intermediate latent, one source)

    RANGES: ClassVar[dict[str, Range]] = {"stage2_steps": AT_LEAST_ONE, "miner_depth": AT_LEAST_ONE,
                                          "miner_width": AT_LEAST_ONE, "selector_window": AT_LEAST_ONE}  # fmt: skip
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # a target on the source's manifold: mining alone (bench/RESULTS.md 2026-11-23: Google emoji → their 'People &
        # Body', KID 0.081 → 0.063 at 25 images, 0.052 at 100; fine-tuning G on top made it worse, 0.114 / 0.084)
        "on-manifold": {"stage2": False, "steps": 200, "batch_size": 16},
        # off it, with the source's own critic: mine, then fine-tune (Fashion-MNIST GAN → MNIST digits, KID 0.337 →
        # 0.075 at 25 and 100 images; with a new critic on the face GAN the same schedule collapsed, 0.500 → 0.826)
        "off-manifold": {"stage2": True, "steps": 200, "stage2_steps": 200, "batch_size": 32},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.miner_space not in MINER_SPACES:
            raise ValueError(f"miner_space='{self.miner_space}': use 'z' (the paper's) or 'w' (StyleGAN2's w).")


class MinedGenerator(GeneratorSide):
    """The engine's generator side: (u, y) → G(M(u), y), or G(M(u), class_embedding=M^c(u)) with a class miner,
    or G with w → M(w) (``miner_space="w"``): the adapter runs as a pipeline runs it.

    It trains the miner adapter's own modules, so the adapter it hands back is what was trained.
    """

    def __init__(self, adapter: MinerAdapter, generator: Generator) -> None:
        super().__init__(generator, train_generator=False)
        self.adapter = adapter

    def forward(self, u: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        with attach([self.adapter], self.generator) as transform:  # as a pipeline runs it: inputs and hooks
            z, labels, embedding = transform(u, y, None)
            return self.generator(z, class_labels=labels, class_embedding=embedding)

    def to_adapter(self) -> MinerAdapter:
        return self.adapter

    def trained_generator(self) -> Generator:
        return self.generator


class MultiSourceMined(GeneratorSide):
    """Several sources at once: u = [u₁ … u_K] → one candidate image per source (a "supersample").

    The engine lets the critic score every candidate and keeps each supersample's best (``candidates``), so only
    the winning source's miner (and generator, in stage 2) learns from it; the wins, counted over the last
    ``window`` minibatches, are the selector's probabilities.
    """

    def __init__(self, adapter: MultiSourceMinerAdapter, generators: list[Generator], window: int) -> None:
        super().__init__(nn.ModuleList(generators), train_generator=False)
        self.adapter = adapter
        self.candidates = len(generators)
        self.z_dims = [g.config.z_dim for g in generators]
        self.wins: collections.deque[torch.Tensor] = collections.deque(maxlen=window)

    def forward(self, u: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        parts = u.split(self.z_dims, dim=1)
        c = self.generator[0].config  # the first source's size: its discriminator judges every candidate
        images = [conform(g(m(p)), c.resolution, c.channels)
                  for g, m, p in zip(self.generator, self.adapter.miners, parts, strict=True)]  # fmt: skip
        return torch.stack(images, dim=1).flatten(0, 1)  # (B·K, C, H, W), the K candidates of a row together

    def record_winners(self, winners: torch.Tensor) -> None:
        self.wins.append(torch.bincount(winners.long(), minlength=self.candidates))

    @property
    def probabilities(self) -> torch.Tensor:
        if not self.wins:
            return torch.full((self.candidates,), 1.0 / self.candidates)
        counts = torch.stack(list(self.wins)).sum(0).double()
        return (counts / counts.sum()).float()

    def to_adapter(self) -> MultiSourceMinerAdapter:
        self.adapter.probabilities.copy_(self.probabilities)
        return self.adapter

    def trained_generator(self) -> MultiSourceGenerator:
        return MultiSourceGenerator.from_generators(list(self.generator))


@register_recipe
class MineGAN(Recipe):
    name = "minegan"
    config_class = MineGANConfig

    def train(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: torch.Tensor,
        class_labels: torch.Tensor | None,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """Stage 1 mines with the generator frozen; stage 2 (``stage2``) releases it. One loop for both, and for
        one source or several (one miner per source and a selector; the critic starts from the first source's)."""
        c = self.config
        sources = generator.sources if isinstance(generator, MultiSourceGenerator) else [generator]
        if c.miner_space != "z" and len(sources) > 1:
            raise ValueError("miner_space='w' mines one source; several sources are mined in z (miner_space='z').")
        copies = [copy.deepcopy(g) for g in sources]
        d = copy.deepcopy(discriminator) if discriminator is not None else copies[0].build_discriminator()
        labels, k, tags = class_labels, copies[0].config.num_classes, []
        if len(copies) > 1:
            miners = MultiSourceMinerAdapter([g.config.z_dim for g in copies], c.miner_depth, c.miner_width)
            side: MinedGenerator | MultiSourceMined = MultiSourceMined(miners, copies, c.selector_window)
            z_dim, labels, k, tags = sum(side.z_dims), None, 0, ["multi-source"]
        else:
            g = copies[0]
            # A conditional source with unlabelled target images: a class miner picks the class embedding, and the
            # critic loses its class head (the target has no labels to condition it on).
            mine_classes = bool(k) and labels is None
            if mine_classes and c.miner_space != "z":
                raise ValueError("A class-conditional source with unlabelled images is mined with a class miner, "
                                 "which reads z: use miner_space='z', or give class_labels.")  # fmt: skip
            miner = MinerAdapter.for_generator(g, c.miner_depth, c.miner_width, mine_classes, c.miner_space)
            if mine_classes:
                k = 0
                if d.config.num_classes:
                    d = d.with_num_classes(0)
            side, z_dim = MinedGenerator(miner, g), g.config.z_dim
        stages = [("stage1", False, c.steps)] + ([("stage2", True, c.stage2_steps or c.steps)] if c.stage2 else [])
        results: list[TrainResult] = []
        for name, release, steps in stages:
            out = str(Path(c.output_dir) / name) if c.output_dir else None
            config = dataclasses.replace(c, steps=steps, output_dir=out)
            side.set_generator_trainable(release)
            trainer = self.trainer(config, side, d, images, z_dim=z_dim, class_labels=labels, num_classes=k)
            results.append(trainer.fit(callbacks))
            side = trainer.sampling_generator
        adapter = side.to_adapter()
        return FitOutput(
            generator=side.trained_generator() if c.stage2 else None,
            discriminator=d if c.stage2 else None,
            adapter=adapter,
            result=TrainResult.merged(results),
            card_data={"tags": tags},
        )
