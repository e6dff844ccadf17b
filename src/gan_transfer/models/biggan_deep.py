"""BigGAN-deep generator (Brock et al. 2019, appendix B), as ``pytorch-pretrained-biggan`` ships it.

Two bottleneck blocks per resolution (the second upsamples): BN-ReLU-conv1×1 (÷4 channels), BN-ReLU-[up]-conv3×3,
BN-ReLU-conv3×3, BN-ReLU-conv1×1; the shortcut drops channels (keeps the first ``out``) instead of a learned
convolution. Every batch norm is conditioned on c = [class embedding, whole z] (no hierarchical split) with
γ = 1 + W_γc, β = W_βc, and keeps one row of running statistics per truncation value (:class:`TruncationStats`):
:meth:`Generator.set_truncation` picks it, as the pipeline does from ``truncation=``. The output convolution draws
``width`` channels of which the first three are kept. There is no public BigGAN-deep discriminator: methods that need
one build a :class:`~gan_transfer.models.BigGANDiscriminator`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..options import POSITIVE, Range
from .base import MODEL_REGISTRY, Generator, ModelConfig
from .biggan import BigGANDiscriminator
from .layers import BatchNorm, ProjectedBatchNorm, SelfAttention, TruncationStats, block_layout, maybe_sn


@dataclasses.dataclass
class BigGANDeepGeneratorConfig(ModelConfig):
    z_dim: int = 128
    width: int = 128  # channel_width: the last stage's channels
    channel_multipliers: tuple[int, ...] | None = None  # per stage, base map first; default 16,16,8,4,2,1 at 128 px
    shared_dim: int = 128  # class embedding width
    attention_resolution: int = 64  # feature-map size after whose first block self-attention runs; 0 = none
    n_stats: int = 51  # rows of per-truncation batch statistics (truncation 0, 0.02, …, 1)
    norm_eps: float = 1e-4
    spectral_norm: bool = True

    RANGES: ClassVar[dict[str, Range]] = {"n_stats": Range(2), "norm_eps": POSITIVE}


def deep_multipliers(stages: int) -> tuple[int, ...]:
    """pytorch-pretrained-biggan's widths: 128 px 16,16,8,4,2,1; 256 px 16,16,8,8,4,2,1; 512 px …,2,1,1."""
    table = {5: (16, 16, 8, 4, 2, 1), 6: (16, 16, 8, 8, 4, 2, 1), 7: (16, 16, 8, 8, 4, 2, 1, 1)}
    return table.get(stages, tuple(min(2 ** max(stages - 1 - i, 0), 16) for i in range(stages + 1)))


class DeepBlock(nn.Module):
    """A BigGAN-deep bottleneck block (see the module docstring); ``up`` doubles the map in the middle."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, up: bool, c: BigGANDeepGeneratorConfig) -> None:
        super().__init__()
        if out_ch not in (in_ch, in_ch // 2):
            raise ValueError(f"A BigGAN-deep block keeps or halves its width; got {in_ch} → {out_ch} channels.")
        mid, self.up, self.out_ch = in_ch // 4, up, out_ch

        def norm(ch: int) -> ProjectedBatchNorm:
            return ProjectedBatchNorm(ch, cond_dim, c.norm_eps, bn=TruncationStats(ch, c.n_stats, c.norm_eps))

        self.norm0, self.conv0 = norm(in_ch), maybe_sn(nn.Conv2d(in_ch, mid, 1), c.spectral_norm)
        self.norm1, self.conv1 = norm(mid), maybe_sn(nn.Conv2d(mid, mid, 3, padding=1), c.spectral_norm)
        self.norm2, self.conv2 = norm(mid), maybe_sn(nn.Conv2d(mid, mid, 3, padding=1), c.spectral_norm)
        self.norm3, self.conv3 = norm(mid), maybe_sn(nn.Conv2d(mid, out_ch, 1), c.spectral_norm)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv0(F.relu(self.norm0(x, cond)))
        h = F.relu(self.norm1(h, cond))
        if self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), cond)))
        h = self.conv3(F.relu(self.norm3(h, cond)))
        skip = x[:, : self.out_ch]
        if self.up:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        return h + skip


@MODEL_REGISTRY.register()
class BigGANDeepGenerator(Generator):
    config_class = BigGANDeepGeneratorConfig
    config: BigGANDeepGeneratorConfig

    def __init__(self, config: BigGANDeepGeneratorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        if not c.num_classes:
            raise ValueError("BigGANDeepGenerator is class-conditional: give num_classes (1000 for ImageNet).")
        self.base, stages = block_layout(c.resolution)
        mults = c.channel_multipliers or deep_multipliers(stages)
        if len(mults) != stages + 1:
            raise ValueError(f"BigGANDeepGenerator needs {stages + 1} channel multipliers; got {len(mults)}.")
        chs = [c.width * m for m in mults]
        self.class_embedding_dim = c.shared_dim
        cond_dim = c.shared_dim + c.z_dim
        sizes = [self.base * 2 ** (i // 2 + i % 2) for i in range(2 * stages)]  # each block's output size
        if c.attention_resolution and c.attention_resolution not in sizes:
            raise ValueError(f"BigGANDeepGenerator: attention_resolution={c.attention_resolution} is not a "
                             f"feature-map size; use one of {sorted(set(sizes))}.")  # fmt: skip

        self.shared = nn.Embedding(c.num_classes, c.shared_dim)
        self.stem = maybe_sn(nn.Linear(cond_dim, chs[0] * self.base * self.base), c.spectral_norm)
        self.first_feature_map = nn.Identity()
        self.blocks = nn.ModuleList()
        for s in range(stages):
            self.blocks.append(DeepBlock(chs[s], chs[s], cond_dim, False, c))
            self.blocks.append(DeepBlock(chs[s], chs[s + 1], cond_dim, True, c))
        first = sizes.index(c.attention_resolution) if c.attention_resolution else -1
        self.attention = nn.ModuleDict({str(first): SelfAttention(chs[(first + 1) // 2], c.spectral_norm)}
                                       if first >= 0 else {})  # fmt: skip
        self.out_norm = BatchNorm(chs[-1], bn=TruncationStats(chs[-1], c.n_stats, c.norm_eps, affine=True))
        self.to_image = maybe_sn(nn.Conv2d(chs[-1], chs[-1], 3, padding=1), c.spectral_norm)

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        return self.shared(class_labels)

    def class_embedding_module(self) -> nn.Module | None:
        return self.shared

    def build_discriminator(self, **overrides) -> BigGANDiscriminator:
        """A fresh BigGAN critic (BigGAN-deep ships none) at this resolution, width 64 unless overridden."""
        c = self.config
        fields = {"resolution": c.resolution, "channels": c.channels, "num_classes": c.num_classes, "width": 64}
        return BigGANDiscriminator(**{**fields, **overrides})

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if z.shape[-1] != self.config.z_dim:
            raise ValueError(f"z has {z.shape[-1]} dimensions; this generator takes z_dim={self.config.z_dim}.")
        cond = torch.cat([self.class_condition(z.shape[0], class_labels, class_embedding), z], dim=1)
        h = self.first_feature_map(self.stem(cond).view(z.shape[0], -1, self.base, self.base))
        for i, block in enumerate(self.blocks):
            h = block(h, cond)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.to_image(F.relu(self.out_norm(h)))[:, : self.config.channels])


BigGANDeepGenerator.discriminator_class = BigGANDiscriminator
