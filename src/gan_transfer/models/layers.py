"""Building blocks shared by the model families: normalisation layers, residual blocks, self-attention.

Every normalisation layer of a generator is a :class:`NormLayer`. Adapters find them through
``Generator.normalization_layers()`` and can hook their outputs or fold a per-channel scale and shift into them with
:meth:`NormLayer.fuse_scale_shift`, without knowing which family they belong to.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import _SpectralNorm, spectral_norm


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (one power iteration per training step) when ``enabled``.

    On the meta device (a model built for its shapes only, e.g. to check a config against a weight file before
    allocating) the 15 start-up power iterations are skipped: they only change values, and meta maths is slow.
    """
    if not enabled:
        return module
    if not module.weight.is_meta:
        return spectral_norm(module)
    power_method = _SpectralNorm._power_method
    _SpectralNorm._power_method = lambda self, weight_mat, n: None  # type: ignore[method-assign]
    try:
        return spectral_norm(module)
    finally:
        _SpectralNorm._power_method = power_method  # type: ignore[method-assign]


class NormLayer(nn.Module):
    """A normalisation layer: ``forward(x, cond=None)`` normalises ``x`` and applies a (maybe conditional) affine."""

    num_features: int

    def fuse_scale_shift(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        """Fold ``y -> y * scale + shift`` (per channel) into this layer's own parameters, in place."""
        raise NotImplementedError

    def init_from_unconditional(self, source: NormLayer) -> None:
        """Start as ``source`` (the same layer of the unconditional generator) for every class, in place."""
        raise NotImplementedError

    def class_tables(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Per-class (γ, β) tables of shape (num_classes, C) for layers that have them, else None."""
        return None

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised input before any affine: what per-class γ/β multiply."""
        if not self.bn.affine:
            return self.bn(x)
        if isinstance(self.bn, TruncationStats):
            stats = (None, None) if self.bn.training else self.bn.statistics()
            return F.batch_norm(x, *stats, None, None, self.bn.training, 0.0, self.bn.eps)
        return F.batch_norm(x, self.bn.running_mean, self.bn.running_var, None, None, self.bn.training,
                            self.bn.momentum or 0.0, self.bn.eps)  # fmt: skip


class TruncationStats(nn.Module):
    """Batch norm that keeps one row of running statistics per truncation 0, 1/(n−1), …, 1 (BigGAN-deep).

    Eval mode normalises with the statistics of the current truncation (:meth:`set_truncation`), interpolated as
    ``pytorch-pretrained-biggan`` does it — verbatim, so outputs match: with ``coef, i = modf(t / step)``,
    μ = μ[i]·coef + μ[i+1]·(1 − coef), the weights reversed relative to linear interpolation (exact on the grid).
    Training mode normalises with batch statistics and moves the row nearest the current truncation (momentum 0.1).
    ``affine=True`` adds a per-channel weight and bias (the generator's last, unconditional norm).
    """

    def __init__(self, num_features: int, n_stats: int = 51, eps: float = 1e-4, affine: bool = False) -> None:
        super().__init__()
        self.num_features, self.eps, self.affine, self.momentum = num_features, eps, affine, 0.1
        self.register_buffer("running_means", torch.zeros(n_stats, num_features))
        self.register_buffer("running_vars", torch.ones(n_stats, num_features))
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        self.truncation = 1.0

    def set_truncation(self, truncation: float) -> None:
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation={truncation}: BigGAN-deep keeps batch statistics for 0 < truncation ≤ 1 "
                             "only; use a value in that range.")  # fmt: skip
        self.truncation = float(truncation)

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, σ²) of the current truncation."""
        coef, start = math.modf(self.truncation / (1.0 / (self.running_means.shape[0] - 1)))
        i = int(start)
        if coef == 0.0:
            return self.running_means[i], self.running_vars[i]
        mean = self.running_means[i] * coef + self.running_means[i + 1] * (1 - coef)
        return mean, self.running_vars[i] * coef + self.running_vars[i + 1] * (1 - coef)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                row = round(self.truncation * (self.running_means.shape[0] - 1))
                self.running_means[row].lerp_(x.mean(dim=(0, 2, 3)), self.momentum)
                self.running_vars[row].lerp_(x.var(dim=(0, 2, 3)), self.momentum)
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        mean, var = self.statistics()
        return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)


class BatchNorm(NormLayer):
    """Plain batch norm with a learned per-channel affine; ``cond`` is ignored.

    ``bn``: the normalising module (default ``nn.BatchNorm2d``; BigGAN-deep's :class:`TruncationStats`).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, bn: nn.Module | None = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = bn if bn is not None else nn.BatchNorm2d(num_features, eps=eps)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.bn(x)

    @torch.no_grad()
    def fuse_scale_shift(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        self.bn.bias.mul_(scale).add_(shift)
        self.bn.weight.mul_(scale)

    @torch.no_grad()
    def init_from_unconditional(self, source: NormLayer) -> None:
        self.bn.load_state_dict(_plain_bn(source).state_dict())


class ClassBatchNorm(NormLayer):
    """Batch norm whose γ/β are rows of per-class tables (TransferGAN's conditional BN).

    ``cond`` is a (B, num_classes) class embedding: a one-hot row picks a class's γ/β, a soft row mixes them.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, eps=eps, affine=False)
        self.weight = nn.Parameter(torch.ones(num_classes, num_features))
        self.bias = nn.Parameter(torch.zeros(num_classes, num_features))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            raise ValueError("This generator is class-conditional: pass class_labels or class_embedding.")
        gamma = cond @ self.weight
        beta = cond @ self.bias
        return self.bn(x) * gamma[:, :, None, None] + beta[:, :, None, None]

    @torch.no_grad()
    def fuse_scale_shift(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        # A class embedding is a convex mix of classes, so shifting every row shifts every mix.
        self.bias.mul_(scale).add_(shift)
        self.weight.mul_(scale)

    def class_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weight, self.bias

    @torch.no_grad()
    def init_from_unconditional(self, source: NormLayer) -> None:
        """TransferGAN's "Cond BNorm": every class's γ/β row starts as the unconditional γ/β."""
        bn = _plain_bn(source)
        self.weight.copy_(bn.weight.expand_as(self.weight))
        self.bias.copy_(bn.bias.expand_as(self.bias))
        _copy_running_stats(self.bn, bn)


class ProjectedBatchNorm(NormLayer):
    """BigGAN conditional batch norm: γ = 1 + W_γ·c, β = W_β·c for a conditioning vector c.

    c is [shared class embedding, z-chunk] (either part optional). The linear maps carry no spectral norm, so a
    scale and shift fold into them exactly. ``bn``: the normalising module without affine (default
    ``nn.BatchNorm2d``; BigGAN-deep's :class:`TruncationStats`).
    """

    def __init__(self, num_features: int, cond_dim: int, eps: float = 1e-5, bn: nn.Module | None = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = bn if bn is not None else nn.BatchNorm2d(num_features, eps=eps, affine=False)
        self.gain = nn.Linear(cond_dim, num_features)
        self.shift = nn.Linear(cond_dim, num_features)
        nn.init.zeros_(self.gain.bias)
        nn.init.zeros_(self.shift.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            raise ValueError("ProjectedBatchNorm needs its conditioning vector.")
        gamma = 1.0 + self.gain(cond)
        beta = self.shift(cond)
        return self.bn(x) * gamma[:, :, None, None] + beta[:, :, None, None]

    @torch.no_grad()
    def fuse_scale_shift(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        # s·((1 + W_γc + b_γ)x̂ + W_βc + b_β) + t = (1 + s·W_γc + s·b_γ + s − 1)x̂ + s·W_βc + s·b_β + t
        self.gain.weight.mul_(scale[:, None])
        self.gain.bias.mul_(scale).add_(scale - 1)
        self.shift.weight.mul_(scale[:, None])
        self.shift.bias.mul_(scale).add_(shift)

    @torch.no_grad()
    def init_from_unconditional(self, source: NormLayer) -> None:
        """The class-embedding columns (first in c) start at zero; the z-chunk columns and biases are copied."""
        for mine in (self.gain, self.shift):
            mine.weight.zero_()
            mine.bias.zero_()
        if isinstance(source, ProjectedBatchNorm):
            k = source.gain.in_features
            self.gain.weight[:, -k:] = source.gain.weight
            self.shift.weight[:, -k:] = source.shift.weight
            self.gain.bias.copy_(source.gain.bias)
            self.shift.bias.copy_(source.shift.bias)
            _copy_running_stats(self.bn, source.bn)
        else:
            bn = _plain_bn(source)
            self.gain.bias.copy_(bn.weight - 1)
            self.shift.bias.copy_(bn.bias)
            _copy_running_stats(self.bn, bn)


def _plain_bn(source: NormLayer) -> nn.BatchNorm2d:
    if not isinstance(source, BatchNorm):
        raise ValueError(f"Cannot start a conditional layer from a {type(source).__name__}; expected plain BatchNorm.")
    return source.bn


def _copy_running_stats(target: nn.BatchNorm2d, source: nn.BatchNorm2d) -> None:
    target.running_mean.copy_(source.running_mean)
    target.running_var.copy_(source.running_var)
    target.num_batches_tracked.copy_(source.num_batches_tracked)


def make_norm(num_features: int, cond_dim: int, class_table: bool, eps: float = 1e-5) -> NormLayer:
    """The generator norm for a conditioning size: plain BN, per-class tables, or projected γ/β."""
    if cond_dim == 0:
        return BatchNorm(num_features, eps)
    if class_table:
        return ClassBatchNorm(num_features, cond_dim, eps)
    return ProjectedBatchNorm(num_features, cond_dim, eps)


class UpBlock(nn.Module):
    """Generator residual block: norm-ReLU-up-conv-norm-ReLU-conv, shortcut up-conv1x1."""

    def __init__(
        self, in_ch: int, out_ch: int, cond_dim: int, class_table: bool, sn: bool, eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.norm1 = make_norm(in_ch, cond_dim, class_table, eps)
        self.conv1 = maybe_sn(nn.Conv2d(in_ch, out_ch, 3, padding=1), sn)
        self.norm2 = make_norm(out_ch, cond_dim, class_table, eps)
        self.conv2 = maybe_sn(nn.Conv2d(out_ch, out_ch, 3, padding=1), sn)
        self.shortcut = maybe_sn(nn.Conv2d(in_ch, out_ch, 1), sn)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), cond)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class LayerNorm2d(nn.Module):
    """Layer norm over (C, H, W) with a per-channel affine: the semantics of ``nn.GroupNorm(1, C)``.

    Not ``F.group_norm``: torch 2.13's CPU ``group_norm`` backward crashes (segfault) on channels-last inputs that
    do not require grad, which is what a FreezeD-frozen block feeds the next one. ``F.layer_norm`` over the
    (H, W, C) view is as fast and has no such case.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[2], x.shape[3], x.shape[1]), eps=self.eps)
        return y.permute(0, 3, 1, 2) * self.weight[:, None, None] + self.bias[:, None, None]


class DownBlock(nn.Module):
    """Discriminator residual block: [norm]-ReLU-conv-[norm]-ReLU-conv-avgpool, shortcut conv1x1-avgpool.

    ``first=True`` is the "optimised" input block (no activation before the first conv, pool before the shortcut).
    ``norm="layer"`` uses layer norm over (C, H, W) as the WGAN-GP critic of TransferGAN. A block that neither
    downsamples nor changes the width has an identity shortcut (BigGAN's last discriminator block).
    ``relu_shortcut=True`` feeds the shortcut relu(x), as StudioGAN's in-place ReLU does to its non-first blocks.
    """

    def __init__(
        self, in_ch: int, out_ch: int, *, sn: bool, norm: str, first: bool, downsample: bool = True,
        relu_shortcut: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.first, self.downsample, self.relu_shortcut = first, downsample, relu_shortcut and not first
        self.conv1 = maybe_sn(nn.Conv2d(in_ch, out_ch, 3, padding=1), sn)
        self.conv2 = maybe_sn(nn.Conv2d(out_ch, out_ch, 3, padding=1), sn)
        learned = in_ch != out_ch or downsample
        self.shortcut = maybe_sn(nn.Conv2d(in_ch, out_ch, 1), sn) if learned else nn.Identity()
        use_ln = norm == "layer"
        self.norm1 = LayerNorm2d(in_ch) if use_ln and not first else nn.Identity()
        self.norm2 = LayerNorm2d(out_ch) if use_ln else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.norm1(x))
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.first:
            s = self.shortcut(F.avg_pool2d(x, 2) if self.downsample else x)
        else:
            s = self.shortcut(F.relu(x) if self.relu_shortcut else x)
            if self.downsample:
                s = F.avg_pool2d(s, 2)
        return h + s


class SelfAttention(nn.Module):
    """SAGAN self-attention with a zero-initialised residual gain."""

    def __init__(self, ch: int, sn: bool) -> None:
        super().__init__()
        self.theta = maybe_sn(nn.Conv2d(ch, max(ch // 8, 1), 1, bias=False), sn)
        self.phi = maybe_sn(nn.Conv2d(ch, max(ch // 8, 1), 1, bias=False), sn)
        self.g = maybe_sn(nn.Conv2d(ch, max(ch // 2, 1), 1, bias=False), sn)
        self.out = maybe_sn(nn.Conv2d(max(ch // 2, 1), ch, 1, bias=False), sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2) if h > 1 else self.phi(x).flatten(2)
        g = F.max_pool2d(self.g(x), 2).flatten(2) if h > 1 else self.g(x).flatten(2)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)
        o = (g @ attn.transpose(1, 2)).view(b, -1, h, w)
        return x + self.gamma * self.out(o)


def block_layout(resolution: int) -> tuple[int, int]:
    """(base size, number of ×2 stages) with base ≥ 4: 28 → (7, 2), 32 → (4, 3), 128 → (4, 5)."""
    if resolution < 8:
        raise ValueError(f"resolution={resolution} is too small; use at least 8 (e.g. 28, 32, 64, 128).")
    stages = 0
    while resolution % 2 ** (stages + 1) == 0 and resolution // 2 ** (stages + 1) >= 4:
        stages += 1
    if stages == 0:
        raise ValueError(
            f"resolution={resolution} cannot be reached by doubling a 4-7 px base; use e.g. 28, 32, 48, 64 or 128."
        )
    return resolution // 2**stages, stages


def default_multipliers(stages: int) -> tuple[int, ...]:
    """Channel multipliers from the base feature map up to the output, halving per stage, capped at 8."""
    return tuple(min(2 ** max(stages - 1 - i, 0), 8) for i in range(stages + 1))
