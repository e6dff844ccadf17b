"""BSA (Noguchi & Harada, ICCV 2019): learn only per-channel scale and shift of a frozen generator, by reconstruction.

No discriminator. Each training image gets its own latent z (starting at 0, jittered with small noise every step);
the loss is L1 on pixels + L1 on perceptual features + λ_z · symmetric nearest-neighbour (Chamfer) distance between
the latents and k ≫ n Gaussian draws (so the latents spread like the prior and random z hit the new domain) +
λ · (‖γ − 1‖² + ‖β‖²). Every generator weight and running statistic stays as it was; the result is a
``scale_shift`` adapter, sampled with a truncated normal (threshold 0.3).

Defaults: the structure above, the truncation (0.2–0.4 in the paper) and the zero-initialised latents follow the
paper; the loss weights, learning rates and step count are chosen here (the paper tunes them per dataset), and the
perceptual network is EfficientNet-Lite0 (the offline default; VGG16 when its weights are given).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..adapters import CallContext, ScaleShiftAdapter, attach
from ..metrics.extractors import FeatureExtractor, cached_extractor
from ..models import Discriminator, Generator
from ..options import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Range
from .base import FitOutput, Recipe, register_recipe
from .engine import GeneratorSide, StepCallback, TrainConfig


@dataclasses.dataclass
class BSAConfig(TrainConfig):
    steps: int = 3000
    batch_size: int = 25  # images per step (all of them when there are fewer)
    lr_g: float = 1e-3  # γ / β
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's usual values (no discriminator to balance against)
    ema_decay: float | None = None
    lr_latent: float = 0.05  # per-image z
    latent_noise: float = 0.05  # std of the jitter added to each z every step
    perceptual_weight: float = 0.1
    perceptual_extractor: str = "efficientnet-lite0"  # or "vgg16" with perceptual_weights
    perceptual_weights: str | None = None
    perceptual_resolution: int = 128  # input size of the perceptual network (224 is its native size)
    latent_weight: float = 0.1  # λ_z, Chamfer distance to Gaussian draws
    latent_draws: int = 10  # k = latent_draws · n Gaussian draws per step
    reg_weight: float = 0.01  # λ, on ‖γ − 1‖² + ‖β‖²
    truncation: float | None = 0.3  # sampling: z ~ N(0, I) truncated at ±truncation; None = untruncated
    latent_init: str = "zeros"  # the paper's; "normal": N(0, I) draws, for generators whose z ≈ 0 draws nothing
    first_feature_map: bool = True
    per_class: bool = False  # one γ/β set per class (needs class_labels; new class ids on an unconditional base)

    RANGES: ClassVar[dict[str, Range]] = {
        "lr_latent": POSITIVE, "latent_noise": NON_NEGATIVE, "perceptual_weight": NON_NEGATIVE,
        "perceptual_resolution": Range(32), "latent_weight": NON_NEGATIVE, "latent_draws": AT_LEAST_ONE,
        "reg_weight": NON_NEGATIVE, "truncation": POSITIVE,
    }  # fmt: skip
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # the paper's Adam lr for 25 images (App. A.3.1), for γ/β and the latents: reconstructs the 25 Twemoji faces
        # from the face GAN to pixel L1 0.209 in 300 steps vs 0.223 at the defaults (bench/RESULTS.md, papers section)
        "few-shot": {"lr_g": 0.1, "lr_latent": 0.1},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.latent_init not in ("zeros", "normal"):
            raise ValueError(f"latent_init='{self.latent_init}': use 'zeros' (the paper's) or 'normal'.")


def chamfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric nearest-neighbour distance: mean over a of min ‖a − b‖² plus mean over b of min ‖b − a‖²."""
    d = torch.cdist(a, b).pow(2)
    return d.min(dim=1).values.mean() + d.min(dim=0).values.mean()


class LatentReconstruction(GeneratorSide):
    """BSA's generator side: a frozen generator, a scale/shift adapter and one latent per training image.

    ``forward`` samples as a pipeline would (adapter on, latents truncated), which is what sample grids and callbacks
    see; :meth:`reconstruction_loss` is the training step. The perceptual network and the targets' features are
    kept outside the module's parameters and buffers: they are never trained, checkpointed or averaged.
    """

    def __init__(
        self,
        generator: Generator,
        adapter: ScaleShiftAdapter,
        config: BSAConfig,
        extractor: FeatureExtractor,
        target_features: list[torch.Tensor],
    ) -> None:
        super().__init__(generator, train_generator=False)
        self.adapter, self.config = adapter, config
        shape = (target_features[0].shape[0], generator.config.z_dim)
        self.latents = nn.Parameter(torch.zeros(shape) if config.latent_init == "zeros" else torch.randn(shape))
        self.frozen = (extractor, target_features)  # a tuple: neither a submodule nor a buffer

    plotted_losses = ("pixel_l1", "perceptual")

    def param_groups(self, lr: float) -> list[dict]:
        return [{"params": list(self.adapter.parameters()), "lr": lr},
                {"params": [self.latents], "lr": self.config.lr_latent}]  # fmt: skip

    def draw_start(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The source as its own pipeline draws it: no adapter, so no truncation (held-out step 0)."""
        return self.generator(z, class_labels=y if self.generator.config.num_classes else None)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        with attach([self.adapter], self.generator) as transform:
            z, y, emb = transform(z, y, None)
            return self.generator(z, class_labels=y, class_embedding=emb)

    def reconstruction_loss(
        self, images: torch.Tensor, labels: torch.Tensor | None, index: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c, g = self.config, self.generator
        extractor, targets = self.frozen
        n, d = self.latents.shape
        noise = torch.randn(n, d, generator=rng)[index.cpu()].to(self.latents) * c.latent_noise
        z = self.latents[index] + noise  # training latents are not truncated: hooks only
        context = CallContext(g, labels)
        with attach([self.adapter], g, context):
            recon = g(z, class_labels=labels if g.config.num_classes else None)
        pixel = F.l1_loss(recon, images)
        feats = extractor.blocks(recon, c.perceptual_resolution)
        perceptual = sum(F.l1_loss(f, t[index].to(f)) for f, t in zip(feats, targets, strict=True))
        perceptual = perceptual / len(feats)
        draws = torch.randn(c.latent_draws * n, d, generator=rng).to(self.latents)
        latent = chamfer(self.latents[index], draws)
        reg = self.adapter.regularizer()
        loss = pixel + c.perceptual_weight * perceptual + c.latent_weight * latent + c.reg_weight * reg
        logs = {"loss": loss.item(), "pixel_l1": pixel.item(), "perceptual": perceptual.item(),
                "chamfer": latent.item(), "reg": reg.item()}  # fmt: skip
        return loss, logs


@register_recipe
class BSA(Recipe):
    name = "bsa"
    config_class = BSAConfig

    def train(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: torch.Tensor,
        class_labels: torch.Tensor | None,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """Learn a scale_shift adapter for ``generator`` (left untouched: the run trains on a frozen copy)."""
        c = self.config
        g = copy.deepcopy(generator)
        labels = class_labels
        if (g.config.num_classes or c.per_class) and labels is None:
            raise ValueError("BSA needs class_labels here (the class of every image, or one class to adapt from).")
        n = images.shape[0]
        classes = (g.config.num_classes or int(labels.max()) + 1) if c.per_class else 0
        adapter = ScaleShiftAdapter.for_generator(g, c.truncation, c.first_feature_map, classes).to(g.device)
        adapter.check_compatible(g)
        net = cached_extractor(c.perceptual_extractor, c.perceptual_weights).to(g.device)
        with torch.no_grad():
            targets = [f.detach() for f in net.blocks(images.to(g.device, g.dtype), c.perceptual_resolution)]
        side = LatentReconstruction(g, adapter, c, net, targets)
        config = dataclasses.replace(c, batch_size=min(c.batch_size, n))
        conditional = labels is not None and (g.config.num_classes or c.per_class)
        trainer = self.trainer(config, side, None, images, z_dim=g.config.z_dim,
                             class_labels=labels if conditional else None,
                             num_classes=(g.config.num_classes or classes) if conditional else 0)  # fmt: skip
        side.frozen = (net.to(trainer.device), [t.to(trainer.device) for t in targets])  # where the engine trains
        result = trainer.fit(callbacks)
        trained = trainer.sampling_generator
        result.extras["latents"] = trained.latents.detach().clone()
        if not result.extras.get("selection", {}).get("beat_source", True):
            # No step beat the source on the held-out slice: hand the source back as it was, not behind an
            # identity adapter whose truncated draws are not the source's.
            return FitOutput(result=result, config=config)
        return FitOutput(adapter=trained.adapter, result=result, config=config)
