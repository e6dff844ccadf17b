"""DCGAN (Radford et al. 2016) in the layout of the PyTorch DCGAN tutorial, the most common plain-PyTorch GAN.

Generator: z (B, z_dim) as a 1×1 map → ConvTranspose(4, 1, 0) to a 4×4 map → [BatchNorm → ReLU → ConvTranspose(4,
2, 1)] per doubling → tanh; no biases; channels halve per doubling down to ``width`` (the tutorial's ngf).
Class-conditional generators either append a one-hot label to z (``conditioning="concat"``, as published
class-conditional DCGANs do) or keep per-class γ/β tables in their batch norms (``conditioning="bn"``, TransferGAN's
"Cond BNorm", what an unconditional DCGAN becomes when transferred to classes). With concat conditioning the label's
contribution to the first layer is an embedding (its rows are the first layer's label columns), so adapters can find
and combine class embeddings as in the other families.

Discriminator: Conv(4, 2, 1) → LeakyReLU(0.2) → [Conv(4, 2, 1) → BatchNorm → LeakyReLU(0.2)] per halving → a 4×4
map → Conv(4, 1, 0) to one logit (the tutorial's Sigmoid is left to the loss). Classes by projection or an
auxiliary classifier on the pooled last features; spectral norm optional.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODEL_REGISTRY, Discriminator, Generator, ModelConfig
from .layers import BatchNorm, ClassBatchNorm, maybe_sn

CONDITIONING = ("concat", "bn")
CLASS_HEADS = ("projection", "classifier")


def dcgan_layers(resolution: int) -> int:
    """Transposed convolutions from 1×1 to ``resolution``: 32 → 4, 64 → 5, 128 → 6, 256 → 7."""
    if resolution < 32 or resolution > 256 or resolution & (resolution - 1):
        raise ValueError(f"resolution={resolution}: a DCGAN needs a power of two from 32 to 256.")
    return int(math.log2(resolution)) - 1


def dcgan_channels(resolution: int, width: int) -> list[int]:
    """Feature-map channels after each transposed convolution but the last: 8·w, 4·w, 2·w, w at 64 px."""
    layers = dcgan_layers(resolution)
    return [width * 2 ** (layers - 2 - i) for i in range(layers - 1)]


@dataclasses.dataclass
class DCGANGeneratorConfig(ModelConfig):
    z_dim: int = 100
    width: int = 64  # ngf: channels of the last hidden map
    conditioning: str = "concat"  # for num_classes > 0: "concat" (one-hot appended to z) or "bn" (class γ/β tables)
    dropout: float = 0.0  # dropout after the first block (some published DCGANs train with it; eval ignores it)

    def __post_init__(self) -> None:
        super().__post_init__()
        dcgan_layers(self.resolution)
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning='{self.conditioning}': use one of {', '.join(CONDITIONING)}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout}: use a probability in [0, 1).")


@dataclasses.dataclass
class DCGANDiscriminatorConfig(ModelConfig):
    width: int = 64  # ndf: channels after the first convolution
    norm: str = "batch"  # "batch" (the tutorial) or "none"
    class_head: str = "projection"  # for num_classes > 0: "projection" or "classifier" (AC-GAN)
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        dcgan_layers(self.resolution)
        if self.norm not in ("batch", "none"):
            raise ValueError(f"norm='{self.norm}': use 'batch' or 'none'.")
        if self.class_head not in CLASS_HEADS:
            raise ValueError(f"class_head='{self.class_head}': use one of {', '.join(CLASS_HEADS)}.")


class DCGANBlock(nn.Module):
    """Norm → ReLU → (dropout) → ConvTranspose(4, 2, 1): one doubling of the generator."""

    def __init__(self, in_ch: int, out_ch: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.norm = ClassBatchNorm(in_ch, num_classes) if num_classes else BatchNorm(in_ch)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(self.dropout(F.relu(self.norm(x, cond))))


@MODEL_REGISTRY.register()
class DCGANGenerator(Generator):
    config_class = DCGANGeneratorConfig
    config: DCGANGeneratorConfig

    def __init__(self, config: DCGANGeneratorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        chs = dcgan_channels(c.resolution, c.width)
        concat = c.num_classes > 0 and c.conditioning == "concat"
        table_classes = c.num_classes if c.num_classes and c.conditioning == "bn" else 0
        self.stem = nn.ConvTranspose2d(c.z_dim, chs[0], 4, 1, 0, bias=False)
        # Concat conditioning: the one-hot label's share of the first layer, one (C·4·4) row per class.
        self.label_embedding = nn.Embedding(c.num_classes, chs[0] * 16) if concat else None
        self.class_embedding_dim = chs[0] * 16 if concat else c.num_classes
        self.first_feature_map = nn.Identity()  # named, so adapters can reach the (B, C, 4, 4) map
        outs = [*chs[1:], c.channels]
        self.blocks = nn.ModuleList(
            DCGANBlock(chs[i], outs[i], table_classes, c.dropout if i == 0 else 0.0) for i in range(len(chs))
        )

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        if self.label_embedding is not None:
            return self.label_embedding(class_labels)
        return F.one_hot(class_labels, self.config.num_classes).to(self.dtype)

    def class_embedding_module(self) -> nn.Module | None:
        return self.label_embedding

    def conditional_config(self, num_classes: int) -> DCGANGeneratorConfig:
        """An unconditional DCGAN becomes conditional through class γ/β tables ("Cond BNorm"), so every class can
        start exactly as the source (concat conditioning would add untrained label columns)."""
        return dataclasses.replace(self.config, num_classes=num_classes, conditioning="bn")

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cond = self.class_condition(z.shape[0], class_labels, class_embedding)
        h = self.stem(z.reshape(z.shape[0], -1, 1, 1))
        if self.label_embedding is not None:
            h = h + cond.view(h.shape)
            cond = None
        h = self.first_feature_map(h)
        for block in self.blocks:
            h = block(h, cond)
        return torch.tanh(h)


@MODEL_REGISTRY.register()
class DCGANDiscriminator(Discriminator):
    config_class = DCGANDiscriminatorConfig
    config: DCGANDiscriminatorConfig

    def __init__(self, config: DCGANDiscriminatorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        chs = list(reversed(dcgan_channels(c.resolution, c.width)))  # w, 2w, 4w, 8w at 64 px
        ins = [c.channels, *chs[:-1]]
        blocks = []
        for i, (a, b) in enumerate(zip(ins, chs, strict=True)):
            layers: list[nn.Module] = [maybe_sn(nn.Conv2d(a, b, 4, 2, 1, bias=False), c.spectral_norm)]
            if i > 0 and c.norm == "batch":
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(0.2))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.head = maybe_sn(nn.Conv2d(chs[-1], 1, 4, 1, 0, bias=False), c.spectral_norm)
        self.has_classifier = c.num_classes > 0 and c.class_head == "classifier"
        self.embedding = (
            nn.Embedding(c.num_classes, chs[-1]) if c.num_classes and c.class_head == "projection" else None
        )
        self.aux_head = nn.Linear(chs[-1], c.num_classes) if self.has_classifier else None

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B,); with a projection head, + ⟨embed(y), pooled features⟩ for class-conditional critics."""
        h = self.features(x)[-1]
        out = self.head(h).flatten(1).sum(dim=1)
        if self.embedding is not None:
            if class_labels is None:
                raise ValueError("This discriminator is class-conditional: pass class_labels.")
            out = out + (self.embedding(class_labels) * h.sum(dim=(2, 3))).sum(dim=1)
        return out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        if self.aux_head is None:
            raise ValueError("This discriminator has no auxiliary classifier (class_head='classifier').")
        return self.aux_head(self.features(x)[-1].sum(dim=(2, 3)))


DCGANGenerator.discriminator_class = DCGANDiscriminator
