"""TransferI2I's adaptor (Wang et al., ICCV 2021): encoder features → the generator's own feature maps.

An image is translated as ``G(z, A(E(x)))``: the encoder E (a copy of a discriminator's body) gives one feature map
per level, and at each tapped level of the generator the matching sub-adaptor's output is added to the generator's
feature map (``h_l ← h_l + A_l(E(x)_l)``, weight 1). The levels are the generator's smallest feature maps that the
discriminator also has, up to four (the paper's 4/8/16/32 px on BigGAN-128).

Sub-adaptors, after the paper's §4.1: ``"resblock"`` (multi-class) is ReLU → Conv3×3 → ReLU → Conv3×3 plus a
shortcut — a Conv1×1 where the channel counts differ, the identity where they agree (the paper's deepest adaptor
"has only two Conv3×3"); ``"conv"`` (two-class) is one Conv3×3.

One adaptor holds one *set* of sub-adaptors per target domain: one set for a class-conditional generator, two for
the two-class setting (a :class:`~gan_transfer.models.DomainGenerator`, set t feeding domain t's generator and reading
the encoder of domain ``encoder_domains[t]``). The hooks add nothing unless the call's :class:`CallContext` carries
encoder features, so the generator alone draws exactly as before.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import Discriminator, Generator
from .base import Adapter, CallContext, register_adapter

BLOCKS = ("resblock", "conv")


class SubAdaptor(nn.Module):
    """One level: (B, c_in, r, r) encoder features → (B, c_out, r, r), added to the generator's map."""

    def __init__(self, c_in: int, c_out: int, block: str) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"adaptor block '{block}': use one of {', '.join(BLOCKS)}.")
        self.block = block
        if block == "conv":
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
            return
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.block == "conv":
            return self.conv(x)
        h = self.conv2(torch.relu(self.conv1(torch.relu(x))))
        return h + (x if self.shortcut is None else self.shortcut(x))


@register_adapter
class I2IAdaptor(Adapter):
    """``channels``: per level [encoder channels, generator channels]; ``taps``: per set, the generator module whose
    output each level adds to; ``features``: per level, the index into ``encoder.features(x)``;
    ``encoder_domains``: per set, the encoder member that reads the input (two-class), or None (one encoder)."""

    kind = "i2i_adaptor"

    def __init__(
        self,
        channels: list[list[int]],
        taps: list[list[str]],
        features: list[int],
        block: str = "resblock",
        encoder_domains: list[int] | None = None,
    ) -> None:
        super().__init__(channels=[list(c) for c in channels], taps=[list(t) for t in taps], features=list(features),
                         block=block, encoder_domains=encoder_domains)  # fmt: skip
        if not taps or any(len(t) != len(channels) for t in taps) or len(features) != len(channels):
            raise ValueError("An i2i_adaptor needs one tap per level in every set and one feature index per level.")
        if encoder_domains is not None and len(encoder_domains) != len(taps):
            raise ValueError("encoder_domains needs one entry per set of sub-adaptors.")
        self.sets = nn.ModuleList(nn.ModuleList(SubAdaptor(ci, co, block) for ci, co in channels) for _ in taps)

    @property
    def num_levels(self) -> int:
        return len(self.config.kwargs["features"])

    @classmethod
    def stack(cls, adaptors: list[I2IAdaptor], prefixes: list[str], encoder_domains: list[int]) -> I2IAdaptor:
        """One adaptor of several single-set ones (one per target domain); their modules are shared, not copied."""
        first = adaptors[0].config.kwargs
        taps = [[f"{prefix}{name}" for name in a.config.kwargs["taps"][0]] for a, prefix in zip(adaptors, prefixes,
                strict=True)]  # fmt: skip
        out = cls(first["channels"], taps, first["features"], first["block"], encoder_domains)
        out.sets = nn.ModuleList(a.sets[0] for a in adaptors)
        return out

    def encode(self, encoder: Discriminator, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features at this adaptor's levels (``encoder``: one plain discriminator body)."""
        feats = encoder.features(x)
        return [feats[i] for i in self.config.kwargs["features"]]

    def contributions(self, features: list[torch.Tensor], target: int = 0) -> list[torch.Tensor]:
        """What set ``target`` adds at each level."""
        return [a(f) for a, f in zip(self.sets[target], features, strict=True)]

    def check_compatible(self, generator: Generator) -> None:
        names = set(generator.block_modules())
        missing = [t for taps in self.config.kwargs["taps"] for t in taps if t not in names]
        if missing:
            raise ValueError(
                f"This i2i_adaptor adds into generator modules {missing}, which this generator does not have; "
                "load it onto the generator it was trained with."
            )

    def hooks(self, generator: Generator, context: CallContext):
        modules = generator.block_modules()

        def make(target: int, level: int):
            def hook(module, args, output):
                if context.features is None:
                    return output
                feature = context.features[level]
                if feature.shape[0] != output.shape[0]:
                    raise ValueError("An i2i_adaptor translates one target domain per call; group inputs by target.")
                return output + self.sets[target][level](feature.to(output.dtype))

            return hook

        return [(modules[name], make(t, level)) for t, taps in enumerate(self.config.kwargs["taps"])
                for level, name in enumerate(taps)]  # fmt: skip
