"""GAN losses and penalties shared by every recipe."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LOSSES = ("wgan-gp", "hinge", "ns")


def check_loss(kind: str) -> str:
    if kind not in LOSSES:
        raise ValueError(f"loss='{kind}': use one of {', '.join(LOSSES)} (add r1_gamma > 0 for an R1 penalty).")
    return kind


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Loss of D on real and fake logits (lower is better for D)."""
    return real_term(kind, real) + fake_term(kind, fake)


def real_term(kind: str, real: torch.Tensor) -> torch.Tensor:
    """D's loss on real logits."""
    if kind == "wgan-gp":
        return -real.mean()
    return F.relu(1 - real).mean() if kind == "hinge" else F.softplus(-real).mean()


def fake_term(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """D's loss on fake logits (a weighted extra set of fakes adds ``weight · fake_term``)."""
    if kind == "wgan-gp":
        return fake.mean()
    return F.relu(1 + fake).mean() if kind == "hinge" else F.softplus(fake).mean()


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Loss of G on D's logits for its fakes (non-saturating for "ns", −D(G(z)) otherwise)."""
    return F.softplus(-fake).mean() if kind == "ns" else -fake.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean (‖∇ₓD(x̂)‖₂ − 1)² on x̂ = αx + (1 − α)G(z)."""
    alpha = alpha.to(real).view(-1, 1, 1, 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean ‖∇ₓD(x)‖² on real images (multiply by γ/2)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()
