"""The ResNet GAN of TransferGAN (Wang et al., ECCV 2018), after the WGAN-GP ResNets of Gulrajani et al. 2017.

Generator: linear → base map → residual up-blocks with batch norm (per-class γ/β tables when class-conditional)
→ BN-ReLU-conv-tanh. Discriminator (critic): residual down-blocks with layer norm (batch norm would break the
gradient penalty), ReLU, global sum pooling, linear; optionally an auxiliary-classifier head (AC-GAN).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODEL_REGISTRY, Discriminator, Generator, ModelConfig
from .layers import BatchNorm, DownBlock, UpBlock, block_layout, default_multipliers


@dataclasses.dataclass
class ResNetGeneratorConfig(ModelConfig):
    z_dim: int = 128
    width: int = 64
    channel_multipliers: tuple[int, ...] | None = None  # base map → output; None: halve per stage from ≤8


@dataclasses.dataclass
class ResNetDiscriminatorConfig(ModelConfig):
    width: int = 64
    channel_multipliers: tuple[int, ...] | None = None  # after each down-block; None: double per stage to ≤8
    norm: str = "layer"  # "layer" (WGAN-GP critic) or "none"
    aux_classifier: bool | None = None  # AC-GAN head; None: on when num_classes > 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.norm not in ("layer", "none"):
            raise ValueError(f"norm='{self.norm}': use 'layer' or 'none'.")


def _multipliers(given: tuple[int, ...] | None, stages: int, name: str) -> tuple[int, ...]:
    mults = given or default_multipliers(stages)
    if len(mults) != stages + 1:
        raise ValueError(f"{name} needs {stages + 1} channel multipliers for this resolution; got {len(mults)}.")
    return tuple(mults)


@MODEL_REGISTRY.register()
class ResNetGenerator(Generator):
    config_class = ResNetGeneratorConfig
    config: ResNetGeneratorConfig

    def __init__(self, config: ResNetGeneratorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        self.base, stages = block_layout(c.resolution)
        mults = _multipliers(c.channel_multipliers, stages, "ResNetGenerator")
        chs = [c.width * m for m in mults]
        self.class_embedding_dim = c.num_classes
        self.stem = nn.Linear(c.z_dim, chs[0] * self.base * self.base)
        self.first_feature_map = nn.Identity()  # named, so adapters can reach the (B, C, b, b) map
        self.blocks = nn.ModuleList(
            UpBlock(chs[i], chs[i + 1], c.num_classes, class_table=True, sn=False) for i in range(stages)
        )
        self.out_norm = BatchNorm(chs[-1])
        self.to_image = nn.Conv2d(chs[-1], c.channels, 3, padding=1)

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        """One-hot rows: the class embedding of a table-BN generator is a mix of its classes."""
        return F.one_hot(class_labels, self.config.num_classes).to(self.dtype)

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cond = self.class_condition(z.shape[0], class_labels, class_embedding)
        h = self.first_feature_map(self.stem(z).view(z.shape[0], -1, self.base, self.base))
        for block in self.blocks:
            h = block(h, cond)
        return torch.tanh(self.to_image(F.relu(self.out_norm(h))))


@MODEL_REGISTRY.register()
class ResNetDiscriminator(Discriminator):
    config_class = ResNetDiscriminatorConfig
    config: ResNetDiscriminatorConfig

    def __init__(self, config: ResNetDiscriminatorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        _, stages = block_layout(c.resolution)
        given = c.channel_multipliers
        mults = given or tuple(reversed(default_multipliers(stages)))[1:]
        if len(mults) != stages:
            raise ValueError(f"ResNetDiscriminator needs {stages} channel multipliers; got {len(mults)}.")
        chs = [c.width * m for m in mults]
        ins = [c.channels, *chs[:-1]]
        self.blocks = nn.ModuleList(
            DownBlock(ins[i], chs[i], sn=False, norm=c.norm, first=i == 0) for i in range(stages)
        )
        self.head = nn.Linear(chs[-1], 1)
        use_aux = c.num_classes > 0 if c.aux_classifier is None else c.aux_classifier
        if use_aux and c.num_classes == 0:
            raise ValueError("aux_classifier=True needs num_classes > 0.")
        self.aux_head = nn.Linear(chs[-1], c.num_classes) if use_aux else None
        self.has_classifier = use_aux

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.features(x)[-1]).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Critic logits (B,); AC-GAN critics ignore ``class_labels`` here and classify in :meth:`classify`."""
        return self.head(self._pooled(x)).squeeze(1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Auxiliary-classifier logits (B, num_classes)."""
        if self.aux_head is None:
            raise ValueError("This discriminator has no auxiliary classifier (aux_classifier=False).")
        return self.aux_head(self._pooled(x))


ResNetGenerator.discriminator_class = ResNetDiscriminator
