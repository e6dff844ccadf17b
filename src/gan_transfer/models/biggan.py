"""BigGAN / SNGAN-projection family (Brock et al. 2019; Miyato & Koyama 2018).

Generator: spectral norm, a shared class embedding, hierarchical z (one chunk for the base map, one per block),
conditional batch norm whose γ/β are linear maps of [class embedding, z-chunk], optional self-attention.
Discriminator: spectral-norm residual down-blocks, optional self-attention, sum pooling, linear output plus the
projection term ⟨embed(y), h⟩ when class-conditional.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODEL_REGISTRY, Discriminator, Generator, ModelConfig
from .layers import BatchNorm, DownBlock, SelfAttention, UpBlock, block_layout, default_multipliers, maybe_sn


@dataclasses.dataclass
class BigGANGeneratorConfig(ModelConfig):
    z_dim: int = 128
    width: int = 64
    channel_multipliers: tuple[int, ...] | None = None
    shared_dim: int = 128  # width of the shared class embedding
    hierarchical_z: bool = True
    attention_resolution: int = 0  # feature-map size that gets self-attention; 0 = none
    spectral_norm: bool = True
    norm_eps: float = 1e-5  # batch-norm ε (BigGAN-PyTorch 1e-5, StudioGAN 1e-4)


@dataclasses.dataclass
class BigGANDiscriminatorConfig(ModelConfig):
    width: int = 64
    channel_multipliers: tuple[int, ...] | None = None
    attention_resolution: int = 0
    spectral_norm: bool = True
    # Which blocks halve the map, one per block; () = one block per ×2 stage. BigGAN-PyTorch adds a last block that
    # does not (its 128 px critic: five True, one False).
    downsample: tuple[bool, ...] = ()
    relu_shortcut: bool = False  # StudioGAN's critic: in-place ReLU makes every block after the first see relu(x)


def _check_attention(resolution: int, sizes: list[int], name: str) -> None:
    if resolution and resolution not in sizes:
        raise ValueError(f"{name}: attention_resolution={resolution} is not a feature-map size; use one of {sizes}.")


@MODEL_REGISTRY.register()
class BigGANGenerator(Generator):
    config_class = BigGANGeneratorConfig
    config: BigGANGeneratorConfig

    def __init__(self, config: BigGANGeneratorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        self.base, stages = block_layout(c.resolution)
        mults = c.channel_multipliers or default_multipliers(stages)
        if len(mults) != stages + 1:
            raise ValueError(f"BigGANGenerator needs {stages + 1} channel multipliers; got {len(mults)}.")
        chs = [c.width * m for m in mults]
        if c.hierarchical_z:
            chunk = c.z_dim // (stages + 1)
            if chunk == 0:
                raise ValueError(f"z_dim={c.z_dim} is too small to split over {stages + 1} chunks.")
            self.z_chunks = [c.z_dim - stages * chunk] + [chunk] * stages
        else:
            chunk, self.z_chunks = 0, [c.z_dim]
        self.class_embedding_dim = c.shared_dim if c.num_classes else 0
        self.shared = nn.Embedding(c.num_classes, c.shared_dim) if c.num_classes else None
        cond_dim = self.class_embedding_dim + chunk
        sizes = [self.base * 2 ** (i + 1) for i in range(stages)]
        _check_attention(c.attention_resolution, sizes, "BigGANGenerator")

        self.stem = maybe_sn(nn.Linear(self.z_chunks[0], chs[0] * self.base * self.base), c.spectral_norm)
        self.first_feature_map = nn.Identity()  # named, so adapters can reach the (B, C, b, b) map
        self.blocks = nn.ModuleList(
            UpBlock(chs[i], chs[i + 1], cond_dim, class_table=False, sn=c.spectral_norm, eps=c.norm_eps)
            for i in range(stages)
        )
        self.attention = nn.ModuleDict(
            {
                str(i): SelfAttention(chs[i + 1], c.spectral_norm)
                for i in range(stages)
                if sizes[i] == c.attention_resolution
            }
        )
        self.out_norm = BatchNorm(chs[-1], c.norm_eps)
        self.to_image = maybe_sn(nn.Conv2d(chs[-1], c.channels, 3, padding=1), c.spectral_norm)

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        return self.shared(class_labels)

    def class_embedding_module(self) -> nn.Module | None:
        return self.shared

    def forward(
        self,
        z: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        class_embedding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if z.shape[-1] != self.config.z_dim:
            raise ValueError(f"z has {z.shape[-1]} dimensions; this generator takes z_dim={self.config.z_dim}.")
        emb = self.class_condition(z.shape[0], class_labels, class_embedding)
        zs = torch.split(z, self.z_chunks, dim=1)
        h = self.first_feature_map(self.stem(zs[0]).view(z.shape[0], -1, self.base, self.base))
        for i, block in enumerate(self.blocks):
            parts = [p for p in (emb, zs[i + 1] if self.config.hierarchical_z else None) if p is not None]
            h = block(h, torch.cat(parts, dim=1) if parts else None)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.to_image(F.relu(self.out_norm(h))))


@MODEL_REGISTRY.register()
class BigGANDiscriminator(Discriminator):
    config_class = BigGANDiscriminatorConfig
    config: BigGANDiscriminatorConfig

    def __init__(self, config: BigGANDiscriminatorConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        c = self.config
        _, stages = block_layout(c.resolution)
        down = c.downsample or (True,) * stages
        if sum(down) > stages:
            raise ValueError(f"BigGANDiscriminator: downsample={down} halves a {c.resolution} px map {sum(down)} "
                             f"times; at most {stages} keep it at least 4 px.")  # fmt: skip
        default = tuple(reversed(default_multipliers(stages)))[1:]
        mults = c.channel_multipliers or default + default[-1:] * (len(down) - stages)
        if len(mults) != len(down):
            raise ValueError(f"BigGANDiscriminator needs {len(down)} channel multipliers; got {len(mults)}.")
        chs = [c.width * m for m in mults]
        ins = [c.channels, *chs[:-1]]
        sizes = [c.resolution // 2 ** sum(down[: i + 1]) for i in range(len(down))]
        _check_attention(c.attention_resolution, sizes, "BigGANDiscriminator")
        self.blocks = nn.ModuleList(
            DownBlock(ins[i], chs[i], sn=c.spectral_norm, norm="none", first=i == 0, downsample=down[i],
                      relu_shortcut=c.relu_shortcut)
            for i in range(len(down))
        )
        self.attention = nn.ModuleDict(
            {str(i): SelfAttention(chs[i], c.spectral_norm) for i, size in enumerate(sizes)
             if size == c.attention_resolution}  # after every block of that size, as BigGAN-PyTorch places it
        )  # fmt: skip
        self.head = maybe_sn(nn.Linear(chs[-1], 1), c.spectral_norm)
        self.embed = maybe_sn(nn.Embedding(c.num_classes, chs[-1]), c.spectral_norm) if c.num_classes else None

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.attention:
                x = self.attention[str(i)](x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.features(x)[-1]).sum(dim=(2, 3))
        out = self.head(h).squeeze(1)
        if self.embed is None:
            if class_labels is not None:
                raise ValueError("This discriminator is unconditional: leave class_labels unset.")
            return out
        if class_labels is None:
            raise ValueError("This projection discriminator is class-conditional: pass class_labels.")
        return out + (self.embed(torch.as_tensor(class_labels, device=x.device).long()) * h).sum(dim=1)


BigGANGenerator.discriminator_class = BigGANDiscriminator
