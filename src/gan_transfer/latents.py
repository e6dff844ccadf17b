"""Latent draws: the one truncation function every layer uses (pipelines, BSA adapters, evaluation through pipelines).

``truncate(z, t)`` maps standard-normal draws to a normal truncated at ±t through the CDF: deterministic and
order-preserving, so an adapter can apply it to latents it is handed, and a seeded draw is the same on every device
and batch size. ``sample_latents(n, d, ψ)`` is BigGAN's truncation trick as ``pytorch-pretrained-biggan`` defines it,
z = ψ · TruncatedNormal(−2, 2), built on the same map.
"""

from __future__ import annotations

import torch

BIGGAN_THRESHOLD = 2.0  # pytorch-pretrained-biggan's truncnorm(-2, 2)


def _normal() -> torch.distributions.Normal:
    return torch.distributions.Normal(torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64))


def truncate(z: torch.Tensor, threshold: float) -> torch.Tensor:
    """Map standard-normal draws to TruncatedNormal(−t, t) through the CDF: deterministic, order-preserving."""
    if not threshold > 0:
        raise ValueError(f"threshold={threshold}: use a positive truncation threshold.")
    normal = _normal()
    lo = normal.cdf(torch.tensor(-threshold, dtype=torch.float64))
    u = lo + normal.cdf(z.double()) * (1 - 2 * lo)
    return normal.icdf(u.clamp(1e-12, 1 - 1e-12)).clamp(-threshold, threshold).to(z.dtype)


def check_generator(generator: object) -> None:
    """Refuse, in one sentence, a ``generator=`` argument that is not a ``torch.Generator`` (or None)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator={generator!r} is of type {type(generator).__name__}; pass a torch.Generator, "
            "e.g. torch.Generator().manual_seed(0)."
        )


def sample_latents(
    num: int, z_dim: int, truncation: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """z = truncation · TruncatedNormal(−2, 2) (the BigGAN truncation trick), drawn on the CPU from ``generator``."""
    check_generator(generator)
    if not (isinstance(truncation, (int, float)) and 0 < truncation < float("inf")):
        raise ValueError(f"truncation={truncation}: use a finite value > 0 (1.0 = no shrinking, 0.4 = near the mode).")
    return truncate(torch.randn(num, z_dim, generator=generator), BIGGAN_THRESHOLD) * truncation
