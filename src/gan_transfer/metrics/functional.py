"""Distances between two sets of features, (N, D) arrays or tensors. Float64 throughout; torch, numpy and scipy only."""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg
from torch import nn

ArrayLike = np.ndarray | torch.Tensor


def _np(features: ArrayLike, name: str) -> np.ndarray:
    a = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else np.asarray(features, float)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name} must be an (N, D) feature array with N ≥ 2; got shape {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values.")
    return a


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance, as pytorch-fid and torch-fidelity compute them."""
    a = _np(features, "features")
    return a.mean(axis=0), np.cov(a, rowvar=False)


def frechet_distance_from_statistics(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½).

    tr((Σ₁Σ₂)^½) is the sum of the square roots of the eigenvalues of Σ₁Σ₂, which equal those of the symmetric PSD
    matrix Σ₁^½ Σ₂ Σ₁^½: two symmetric eigendecompositions instead of a general matrix square root (scipy's sqrtm),
    several times faster at 1280–2048 dimensions and free of its complex-part round-off.
    """
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"Feature sizes differ: {mu1.shape[0]} vs {mu2.shape[0]}; use one extractor for both sets.")
    w, v = linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = linalg.eigvalsh(root1 @ sigma2 @ root1)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def frechet_distance(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception-v3's)."""
    return frechet_distance_from_statistics(*feature_statistics(features_a), *feature_statistics(features_b))


def _mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def _polynomial(x: np.ndarray, y: np.ndarray, degree: int, gamma: float | None, coef0: float) -> np.ndarray:
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def kid(
    features_a: ArrayLike,
    features_b: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with k(x, y) = (γ xᵀy + c)^d over subsets.

    Subsets are drawn as torch-fidelity draws them (``np.random.RandomState(seed).choice`` without replacement, a
    then b, per subset), so the same seed gives torch-fidelity's number. ``subset_size`` is capped at the smaller
    set. Returns (mean, standard deviation) over subsets.
    """
    a, b = _np(features_a, "features_a"), _np(features_b, "features_b")
    m = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        values[i] = _mmd2_unbiased(
            _polynomial(x, x, degree, gamma, coef0), _polynomial(x, y, degree, gamma, coef0),
            _polynomial(y, y, degree, gamma, coef0),
        )  # fmt: skip
    return float(values.mean()), float(values.std())


def median_distance(features: ArrayLike, max_points: int = 2000) -> float:
    """Median pairwise Euclidean distance (over at most ``max_points`` rows): the usual Gaussian-kernel width."""
    a = _np(features, "features")[:max_points]
    d = np.sqrt(np.clip((a**2).sum(1)[:, None] + (a**2).sum(1)[None] - 2 * a @ a.T, 0, None))
    return float(np.median(d[np.triu_indices(a.shape[0], k=1)]))


def kmmd(features_a: ArrayLike, features_b: ArrayLike, sigma: float | None = None) -> tuple[float, float]:
    """Kernel MMD² with a Gaussian kernel exp(−‖x − y‖² / (2σ²)), unbiased, on all points (BSA, MineGAN, cGANTransfer).

    ``sigma=None`` takes the median pairwise distance of ``features_b`` (the reference set), so models compared
    against one reference share one kernel. Returns (KMMD, σ used).
    """
    a, b = _np(features_a, "features_a"), _np(features_b, "features_b")
    sigma = median_distance(b) if sigma is None else float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma={sigma}: the Gaussian kernel width must be positive.")

    def gauss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d2 = (x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T
        return np.exp(-np.clip(d2, 0, None) / (2 * sigma**2))

    n, m = a.shape[0], b.shape[0]
    k_aa, k_bb, k_ab = gauss(a, a), gauss(b, b), gauss(a, b)
    value = (k_aa.sum() - np.trace(k_aa)) / (n * (n - 1)) + (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(value - 2 * k_ab.mean()), sigma


def mean_variance(features: ArrayLike) -> float:
    """BSA's diversity score: the per-dimension variance of the features, averaged over dimensions."""
    return float(_np(features, "features").var(axis=0, ddof=1).mean())


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls as manifold estimates.

    Precision: share of fakes inside some real point's ball (radius = distance to its k-th nearest real neighbour);
    recall: share of reals inside some fake point's ball.
    """
    r = torch.as_tensor(_np(real, "real"))
    f = torch.as_tensor(_np(fake, "fake"))
    if min(r.shape[0], f.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points in each set.")

    def radii(x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0

    def inside(points: torch.Tensor, centres: torch.Tensor, r_: torch.Tensor) -> float:
        hits = [(torch.cdist(chunk, centres) <= r_[None]).any(dim=1) for chunk in points.split(1024)]
        return float(torch.cat(hits).double().mean())

    return inside(f, r, radii(r)), inside(r, f, radii(f))


def independent_critic(real: ArrayLike, fake: ArrayLike, steps: int = 500, seed: int = 0) -> float:
    """Independent Wasserstein critic (Danihelka et al. 2017, used by TransferGAN) on features.

    A fresh MLP critic is trained with WGAN-GP on half of each set and the Wasserstein estimate
    E[f(real)] − E[f(fake)] is read on the other half; lower is closer. Trained on extractor features rather than
    pixels so that it is cheap and comparable across resolutions.
    """
    gen = torch.Generator().manual_seed(seed)
    real, fake = torch.as_tensor(real).float(), torch.as_tensor(fake).float()
    mean, scale = real.mean(dim=0), real.std().clamp_min(1e-12)  # one scalar scale: constant features stay put
    real, fake = (real - mean) / scale, (fake - mean) / scale
    pr, pf = torch.randperm(real.shape[0], generator=gen), torch.randperm(fake.shape[0], generator=gen)
    hr, hf = real.shape[0] // 2, fake.shape[0] // 2
    if min(hr, hf) < 2:
        raise ValueError("The independent critic needs at least 4 images in each set.")
    train_r, test_r, train_f, test_f = real[pr[:hr]], real[pr[hr:]], fake[pf[:hf]], fake[pf[hf:]]
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(real.shape[1], 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                           nn.Linear(256, 1))  # fmt: skip
    opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    batch = min(64, hr, hf)
    for _ in range(steps):
        r = train_r[torch.randint(0, hr, (batch,), generator=gen)]
        f = train_f[torch.randint(0, hf, (batch,), generator=gen)]
        alpha = torch.rand(batch, 1, generator=gen)
        mixed = (alpha * r + (1 - alpha) * f).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
        loss = critic(f).mean() - critic(r).mean() + 10 * ((grad.norm(dim=1) - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(critic(test_r).mean() - critic(test_f).mean())
