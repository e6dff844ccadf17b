"""Miner adapters (MineGAN, Wang et al. 2020): a small network in front of a frozen generator that moves z.

The miner is residual, M(u) = u + MLP(u), with the MLP's last layer starting at zero: a fresh miner is the identity,
so mining starts from the source distribution. A miner-only adapter is a few kilobytes and loads onto the unchanged
source pipeline. It moves z, as the paper's, or (``space="w"``) the generator's intermediate latent where the family
has one (StyleGAN2's w, after the mapping network and before the truncation).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import Generator, MultiSourceGenerator
from ..models.multi_source import source_code, uniform_of
from .base import Adapter, CallContext, register_adapter


def _mlp(dims: list[int]) -> nn.Sequential:
    """Linear layers with LeakyReLU(0.2) between them; the last layer starts at zero."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.LeakyReLU(0.2))
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class Miner(nn.Module):
    """u → u + MLP(u): ``depth`` linear layers of width ``width`` with LeakyReLU(0.2); identity at initialisation."""

    def __init__(self, z_dim: int, depth: int = 4, width: int | None = None) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth={depth}: a miner needs at least one layer.")
        self.net = _mlp([z_dim] + [width or z_dim] * (depth - 1) + [z_dim])

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u + self.net(u)


class ClassMiner(nn.Module):
    """u → a point of the generator's class-embedding space, so the target needs no class label (MineGAN's M^c).

    ``mix=True`` (per-class BN tables: the embedding is a mix of classes) outputs softmax weights, starting as the
    even mix of all classes; otherwise it outputs ``start + MLP(u)``, starting at ``start`` (the mean class
    embedding).
    """

    def __init__(self, z_dim: int, embedding_dim: int, mix: bool, depth: int = 4, width: int | None = None) -> None:
        super().__init__()
        self.net = _mlp([z_dim] + [width or z_dim] * (depth - 1) + [embedding_dim])
        self.mix = mix
        self.register_buffer("start", torch.zeros(embedding_dim))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        out = self.net(u)
        return torch.softmax(out, dim=1) if self.mix else self.start + out


def class_miner_for(generator: Generator, depth: int = 4, width: int | None = None) -> ClassMiner:
    """A class miner for ``generator``: softmax mixing for one-hot embeddings, else starting at the mean embedding."""
    k = generator.config.num_classes
    with torch.no_grad():
        table = generator.embed_classes(torch.arange(k, device=generator.device)).float()
    mix = bool(torch.equal(table, torch.eye(k, device=table.device)))  # embeddings that are class mixes
    miner = ClassMiner(generator.config.z_dim, generator.class_embedding_dim, mix, depth, width)
    if not mix:
        miner.start.copy_(table.mean(dim=0).cpu())
    return miner


MINER_SPACES = ("z", "w")


def _latent_dim(generator: Generator, space: str) -> int:
    """The width of the latent a miner in ``space`` moves; a clear error where the generator has no such space."""
    if space not in MINER_SPACES:
        raise ValueError(f"miner_space='{space}': use 'z' (the generator's input) or 'w' (its intermediate latent).")
    if space == "z":
        return generator.config.z_dim
    if generator.intermediate_latent() is None:
        raise ValueError(f"{type(generator).__name__} has no intermediate latent space to mine; use miner_space='z' "
                         "(a 'w' miner needs a mapping network, as StyleGAN2's).")  # fmt: skip
    return generator.config.w_dim


@register_adapter
class MinerAdapter(Adapter):
    """Moves the generator's latent: z → M(z) (``space="z"``) or w → M(w) (``"w"``, a hook on the mapping network's
    output); with a class miner (z only) the class embedding → M^c(z)."""

    kind = "miner"

    def __init__(
        self,
        z_dim: int,
        depth: int = 4,
        width: int | None = None,
        class_embedding_dim: int = 0,
        class_mix: bool = False,
        space: str = "z",
    ) -> None:
        if space not in MINER_SPACES:
            raise ValueError(f"space='{space}': a miner moves 'z' or 'w'.")
        if space == "w" and class_embedding_dim:
            raise ValueError("A class miner chooses the class embedding from z; mine in space='z' for it.")
        super().__init__(z_dim=z_dim, depth=depth, width=width, class_embedding_dim=class_embedding_dim,
                         class_mix=class_mix, space=space)  # fmt: skip
        self.space = space
        self.miner = Miner(z_dim, depth, width)  # z_dim: the width of the mined latent (w_dim in "w")
        self.class_miner = (
            ClassMiner(z_dim, class_embedding_dim, class_mix, depth, width) if class_embedding_dim else None
        )

    @classmethod
    def for_generator(
        cls,
        generator: Generator,
        depth: int = 4,
        width: int | None = None,
        class_miner: bool = False,
        space: str = "z",
    ) -> MinerAdapter:
        dim = _latent_dim(generator, space)
        if not class_miner:
            return cls(dim, depth, width, space=space)
        cm = class_miner_for(generator, depth, width)
        adapter = cls(dim, depth, width, generator.class_embedding_dim, cm.mix, space=space)
        adapter.class_miner.load_state_dict(cm.state_dict())
        return adapter

    def check_compatible(self, generator: Generator) -> None:
        dim = self.config.kwargs.get("class_embedding_dim", 0)
        if dim and dim != generator.class_embedding_dim:
            raise ValueError(
                f"This class miner outputs {dim}-d class embeddings; the generator's are "
                f"{generator.class_embedding_dim}-d."
            )
        theirs = _latent_dim(generator, self.space)
        if theirs != self.config.kwargs["z_dim"]:
            raise ValueError(
                f"This miner maps {self.config.kwargs['z_dim']}-d latents in {self.space}; the generator's "
                f"{self.space} is {theirs}-d."
            )

    def hooks(self, generator: Generator, context: CallContext):
        if self.space != "w":
            return []
        dtype = next(self.miner.parameters()).dtype
        return [(generator.intermediate_latent(), lambda module, args, w: self.miner(w.to(dtype)).to(w.dtype))]

    @property
    def provides_class_embedding(self) -> bool:
        """True with a class miner: the pipeline then draws no class labels (the miner picks the embedding)."""
        return self.class_miner is not None

    def transform_inputs(self, z, class_labels, class_embedding, context: CallContext):
        if self.space != "z":
            return z, class_labels, class_embedding  # the hook on the mapping network moves w
        z = z.to(next(self.miner.parameters()).dtype)
        if self.class_miner is not None and class_labels is None and class_embedding is None:
            class_embedding = self.class_miner(z)
        return self.miner(z), class_labels, class_embedding


@register_adapter
class MultiSourceMinerAdapter(Adapter):
    """One miner per source of a :class:`MultiSourceGenerator`, plus the selector's probabilities p_i.

    Sampling draws the source from p (through the CDF of the first latent coordinate, so seeded calls repeat) and
    mines that source's latent with its own miner.
    """

    kind = "multi_source_miner"

    def __init__(self, z_dims: list[int], depth: int = 4, width: int | None = None) -> None:
        super().__init__(z_dims=list(z_dims), depth=depth, width=width)
        self.miners = nn.ModuleList(Miner(d, depth, width) for d in z_dims)
        self.register_buffer("probabilities", torch.full((len(z_dims),), 1.0 / len(z_dims)))

    def check_compatible(self, generator: Generator) -> None:
        if not isinstance(generator, MultiSourceGenerator) or generator.z_dims != self.config.kwargs["z_dims"]:
            raise ValueError(
                f"This adapter mines {len(self.miners)} sources with latents {self.config.kwargs['z_dims']}; "
                "load it onto the multi-source pipeline it was trained for (GanPipeline.from_sources)."
            )

    @property
    def selector_probabilities(self) -> list[float]:
        return [float(p) for p in self.probabilities]

    def transform_inputs(self, z, class_labels, class_embedding, context: CallContext):
        k = len(self.miners)
        uniform = uniform_of(z[:, 0])
        cdf = self.probabilities.double().cumsum(0).to(uniform.device)
        chosen = torch.searchsorted(cdf, uniform.contiguous(), right=True).clamp(max=k - 1)
        out = z.clone()
        out[:, 0] = source_code(chosen, k).to(z)
        for i, miner in enumerate(self.miners):
            mask = chosen.to(z.device) == i
            if mask.any():
                d = self.config.kwargs["z_dims"][i]
                out[mask, 1 : 1 + d] = miner(z[mask, 1 : 1 + d].to(out.dtype))
        return out, class_labels, class_embedding
