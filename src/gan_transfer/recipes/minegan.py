"""MineGAN (Wang et al., CVPR 2020): mine the source's latent space for the target, then fine-tune everything.

Stage 1 trains a miner M (and the critic) in front of the frozen generator: the target is reached by moving z, not
by changing G. Stage 2 (on by default) releases G and fine-tunes miner, generator and critic together. Defaults:
WGAN-GP with λ = 10 as the paper; Adam (0.5, 0.999) and the learning rates are chosen here.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..adapters import MinerAdapter
from ..adapters.miner import ClassMiner, Miner, MultiSourceMinerAdapter, class_miner_for
from ..data import ImagesLike, load_images
from ..models import Discriminator, Generator, MultiSourceGenerator
from .engine import FitOutput, GanTrainer, Recipe, StepCallback, TrainConfig, TrainResult, register_recipe


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


def _merge(results: list[TrainResult]) -> TrainResult:
    """One record for both stages: histories concatenated, steps and times added."""
    return TrainResult([h for r in results for h in r.history], sum(r.steps for r in results),
                       sum(r.seconds for r in results), results[-1].output_dir,
                       sum(r.total_seconds for r in results))  # fmt: skip


class MinedGenerator(nn.Module):
    """The engine's generator side: (u, y) → G(M(u), y), or G(M(u), class_embedding=M^c(u)) with a class miner.

    A frozen generator stays in eval mode (running statistics kept).
    """

    def __init__(
        self, miner: Miner, generator: Generator, train_generator: bool, class_miner: ClassMiner | None = None
    ) -> None:
        super().__init__()
        self.miner, self.generator, self.train_generator = miner, generator, train_generator
        self.class_miner = class_miner
        generator.requires_grad_(train_generator)

    def train(self, mode: bool = True) -> MinedGenerator:
        super().train(mode)
        if not self.train_generator:
            self.generator.eval()
        return self

    def forward(self, u: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.class_miner is not None:
            return self.generator(self.miner(u), class_embedding=self.class_miner(u))
        return self.generator(self.miner(u), class_labels=y)


class MultiSourceMined(nn.Module):
    """Several sources at once: u = [u₁ … u_K] → one candidate image per source (a "supersample").

    The engine lets the critic score every candidate and keeps each supersample's best (``candidates``), so only
    the winning source's miner (and generator, in stage 2) learns from it; the wins, counted over the last
    ``window`` minibatches, are the selector's probabilities.
    """

    def __init__(self, miners: nn.ModuleList, generators: list[Generator], train_generator: bool, window: int):
        super().__init__()
        self.miners, self.generators = miners, nn.ModuleList(generators)
        self.train_generator = train_generator
        self.generators.requires_grad_(train_generator)
        self.candidates = len(generators)
        self.z_dims = [g.config.z_dim for g in generators]
        self.wins: collections.deque[torch.Tensor] = collections.deque(maxlen=window)

    def train(self, mode: bool = True) -> MultiSourceMined:
        super().train(mode)
        if not self.train_generator:
            self.generators.eval()
        return self

    def forward(self, u: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        parts = u.split(self.z_dims, dim=1)
        images = [g(m(p)) for g, m, p in zip(self.generators, self.miners, parts, strict=True)]
        return torch.stack(images, dim=1).flatten(0, 1)  # (B·K, C, H, W), the K candidates of a row together

    def record_winners(self, winners: torch.Tensor) -> None:
        self.wins.append(torch.bincount(winners.long(), minlength=self.candidates))

    @property
    def probabilities(self) -> torch.Tensor:
        if not self.wins:
            return torch.full((self.candidates,), 1.0 / self.candidates)
        counts = torch.stack(list(self.wins)).sum(0).double()
        return (counts / counts.sum()).float()


@register_recipe
class MineGAN(Recipe):
    name = "minegan"
    config_class = MineGANConfig

    def fit(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: ImagesLike,
        class_labels: Sequence[int] | torch.Tensor | None = None,
        callbacks: Sequence[StepCallback] = (),
    ) -> FitOutput:
        c = self.config
        if isinstance(generator, MultiSourceGenerator):
            return self._fit_sources(generator, discriminator, images, callbacks)
        x = load_images(images, generator.config.resolution, generator.config.channels, purpose="MineGAN")
        labels = None if class_labels is None else torch.as_tensor(class_labels).long().reshape(-1)
        g = copy.deepcopy(generator)
        d = copy.deepcopy(discriminator) if discriminator is not None else g.build_discriminator()
        torch.manual_seed(c.seed)
        miner = Miner(g.config.z_dim, c.miner_depth, c.miner_width)
        # A conditional source with unlabelled target images: a class miner picks the class embedding, and the
        # critic loses its class head (the target has no labels to condition it on).
        class_miner = (
            class_miner_for(g, c.miner_depth, c.miner_width) if g.config.num_classes and labels is None else None
        )
        if class_miner is not None and d.config.num_classes:
            d = d.with_num_classes(0)
        k = 0 if class_miner is not None else g.config.num_classes
        stages = [("stage1", False, c.steps)] + ([("stage2", True, c.stage2_steps or c.steps)] if c.stage2 else [])
        results: list[TrainResult] = []
        for name, release, steps in stages:
            out = str(Path(c.output_dir) / name) if c.output_dir else None
            config = dataclasses.replace(c, steps=steps, output_dir=out)
            side = MinedGenerator(miner, g, release, class_miner)
            trainer = GanTrainer(config, side, d, x, z_dim=g.config.z_dim, class_labels=labels, num_classes=k)
            results.append(trainer.fit(callbacks))
            trained = trainer.sampling_generator
            miner, g, class_miner = trained.miner, trained.generator, trained.class_miner
        g.requires_grad_(True).eval()
        adapter = MinerAdapter(g.config.z_dim, c.miner_depth, c.miner_width,
                               g.class_embedding_dim if class_miner is not None else 0,
                               class_miner.mix if class_miner is not None else False)  # fmt: skip
        adapter.miner.load_state_dict(miner.state_dict())
        if class_miner is not None:
            adapter.class_miner.load_state_dict(class_miner.state_dict())
        adapter.requires_grad_(False).eval()
        adapter.config.method = "minegan"
        adapter.config.hyperparameters = {"stage2": c.stage2, "steps": c.steps, "loss": c.loss, "num_images": len(x)}
        result = _merge(results)
        return FitOutput(
            generator=g if c.stage2 else None,
            discriminator=d.requires_grad_(True).eval() if c.stage2 else None,
            adapter=adapter,
            card_data={"tags": ["minegan"]},
            result=result,
            hyperparameters=adapter.config.hyperparameters,
        )

    def _fit_sources(
        self,
        generator: MultiSourceGenerator,
        discriminator: Discriminator | None,
        images: ImagesLike,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """One miner per source and a selector; the critic starts from the first source's discriminator."""
        c = self.config
        x = load_images(images, generator.config.resolution, generator.config.channels, purpose="MineGAN")
        sources = [copy.deepcopy(g) for g in generator.sources]
        d = copy.deepcopy(discriminator) if discriminator is not None else sources[0].build_discriminator()
        torch.manual_seed(c.seed)
        miners = nn.ModuleList(Miner(g.config.z_dim, c.miner_depth, c.miner_width) for g in sources)
        stages = [("stage1", False, c.steps)] + ([("stage2", True, c.stage2_steps or c.steps)] if c.stage2 else [])
        results: list[TrainResult] = []
        side = None
        for name, release, steps in stages:
            out = str(Path(c.output_dir) / name) if c.output_dir else None
            config = dataclasses.replace(c, steps=steps, output_dir=out)
            side = MultiSourceMined(miners, sources, release, c.selector_window)
            trainer = GanTrainer(config, side, d, x, z_dim=sum(side.z_dims))
            results.append(trainer.fit(callbacks))
            trained = trainer.sampling_generator
            miners, sources = trained.miners, list(trained.generators)
        adapter = MultiSourceMinerAdapter([g.config.z_dim for g in sources], c.miner_depth, c.miner_width)
        adapter.miners.load_state_dict(miners.state_dict())
        adapter.probabilities.copy_(side.probabilities)
        adapter.requires_grad_(False).eval()
        adapter.config.method = "minegan"
        adapter.config.hyperparameters = {"stage2": c.stage2, "steps": c.steps, "num_images": len(x),
                                          "selector_window": c.selector_window}  # fmt: skip
        new_generator = None
        if c.stage2:
            new_generator = MultiSourceGenerator.from_generators([g.requires_grad_(True).eval() for g in sources])
        result = _merge(results)
        return FitOutput(
            generator=new_generator,
            discriminator=d.requires_grad_(True).eval() if c.stage2 else None,
            adapter=adapter,
            card_data={"tags": ["minegan", "multi-source"]},
            result=result,
            hyperparameters=adapter.config.hyperparameters,
        )
