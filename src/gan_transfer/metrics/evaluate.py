"""One entry point for scores: ``evaluate(source, reference, metrics=[...])``, plus feature extraction and caching.

``source`` is a pipeline (its active adapters apply), a generator, or images; ``reference`` is images. Features of
reference images are cached on disk, keyed by the image bytes, the extractor and its weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import ImagesLike, load_images
from ..hub import load_weights, save_weights
from .extractors import FeatureExtractor, cached_extractor
from .functional import frechet_distance, kid, kmmd, mean_variance, precision_recall

METRICS = ("fd", "kid", "kmmd", "mv", "precision", "recall", "iw", "mfd", "mkid")
NAMES = {"fd": "FD", "kid": "KID", "kid_std": "KID std", "kmmd": "KMMD", "kmmd_sigma": "KMMD σ", "mv": "MV",
         "precision": "Precision", "recall": "Recall", "iw": "IW", "mfd": "mFD", "mkid": "mKID"}  # fmt: skip


def cache_dir() -> Path:
    return Path(os.environ.get("GAN_TRANSFER_CACHE", Path.home() / ".cache" / "gan_transfer")) / "features"


@torch.no_grad()
def _features(images: torch.Tensor, extractor: FeatureExtractor, batch_size: int) -> torch.Tensor:
    """[-1, 1] images → (N, D) float64 features, batch by batch (the result does not depend on batch_size)."""
    out = [extractor(chunk).double().cpu() for chunk in images.split(batch_size)]
    return torch.cat(out)


def extract_features(
    images: ImagesLike,
    extractor: str | FeatureExtractor = "efficientnet-lite0",
    *,
    resolution: int | None = None,
    batch_size: int = 16,
    weights: str | os.PathLike | None = None,
    weights_filename: str | None = None,
) -> torch.Tensor:
    """Images (anything ``load_images`` reads) → (N, D) float64 features.

    Images are first brought to ``resolution`` (default: the extractor's input size), then the extractor resizes
    and normalises them as its weights expect.
    """
    net = (
        extractor if isinstance(extractor, FeatureExtractor) else cached_extractor(extractor, weights, weights_filename)
    )
    x = load_images(images, resolution or net.input_size, 3)
    return _features(x, net, batch_size)


def _cached_features(images: torch.Tensor, net: FeatureExtractor, batch_size: int, use_cache: bool) -> torch.Tensor:
    if not use_cache:
        return _features(images, net, batch_size)
    digest = hashlib.sha256(images.float().contiguous().numpy().tobytes())
    digest.update(f"{tuple(images.shape)}|{net.name}|{net.weights_id}".encode())
    path = cache_dir() / f"{digest.hexdigest()[:32]}.safetensors"
    if path.is_file():
        return load_weights(path)["features"]
    feats = _features(images, net, batch_size)
    save_weights({"features": feats}, path)
    return feats


@dataclasses.dataclass
class MetricsReport(Mapping[str, float]):
    """Scores with the network that made them: a read-only dict of values (``report["fd"]``, ``dict(report)``)
    plus ``report.name("fd")`` → "FD (EfficientNet-Lite0)", ``report.labeled()`` and ``report.to_dict()``."""

    scores: dict[str, float]
    extractor: str
    label: str
    num_samples: int
    num_reference: int
    per_class: dict[int, dict[str, float]] = dataclasses.field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.scores[key]

    def __iter__(self):
        return iter(self.scores)

    def __len__(self) -> int:
        return len(self.scores)

    def name(self, key: str) -> str:
        """The label of a score: "FD (<extractor>)", and "FID (Inception-v3)" for the Inception network's FD."""
        if key == "fd" and self.extractor == "inception-v3-fid":
            return "FID (Inception-v3)"
        return f"{NAMES.get(key, key)} ({self.label})"

    def labeled(self) -> dict[str, float]:
        return {self.name(k): v for k, v in self.scores.items()}

    def to_dict(self) -> dict[str, Any]:
        out = {"extractor": self.extractor, "num_samples": self.num_samples, "num_reference": self.num_reference,
               "metrics": self.scores, "labels": {k: self.name(k) for k in self.scores}}  # fmt: skip
        if self.per_class:
            out["per_class"] = {str(k): v for k, v in self.per_class.items()}
        return out

    def __str__(self) -> str:
        return "\n".join(f"{self.name(k)}: {v:.6g}" for k, v in self.scores.items())


def _is_pipeline(obj: Any) -> bool:
    return hasattr(obj, "generator") and callable(obj)


def _is_generator(obj: Any) -> bool:
    return isinstance(obj, nn.Module) and hasattr(getattr(obj, "config", None), "z_dim")


@torch.no_grad()
def _sample(source: Any, n: int, seed: int, labels: torch.Tensor | None, truncation: float) -> torch.Tensor:
    """n images in [-1, 1] from a pipeline (adapters apply) or a bare generator, seeded."""
    g = torch.Generator().manual_seed(seed)
    if _is_pipeline(source):
        out = source(num_images=n, class_labels=labels, generator=g, truncation=truncation, output_type="pt")
        return out.images * 2 - 1
    z = torch.randn(n, source.config.z_dim, generator=g) * truncation
    if source.config.num_classes and labels is None:
        labels = torch.randint(0, source.config.num_classes, (n,), generator=g)
    was = source.training
    source.eval()
    images = torch.cat([
        source(zc.to(source.device), class_labels=None if labels is None else lc.to(source.device)).float().cpu()
        for zc, lc in zip(z.split(64), (labels if labels is not None else torch.zeros(n)).split(64), strict=True)
    ])  # fmt: skip
    source.train(was)
    return images


def _resolution_of(source: Any) -> int | None:
    g = source.generator if _is_pipeline(source) else source if _is_generator(source) else None
    return None if g is None else g.config.resolution


def evaluate(
    source: Any,
    reference: ImagesLike,
    metrics: Sequence[str] = ("fd", "kid"),
    *,
    extractor: str | FeatureExtractor = "efficientnet-lite0",
    weights: str | os.PathLike | None = None,
    weights_filename: str | None = None,
    num_samples: int | None = None,
    reference_labels: Sequence[int] | torch.Tensor | None = None,
    resolution: int | None = None,
    truncation: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    kmmd_sigma: float | None = None,
    iw_steps: int = 500,
    use_cache: bool = True,
) -> MetricsReport:
    """Score ``source`` (pipeline, generator or images) against ``reference`` images.

    Metrics: fd, kid (mean and std over subsets), kmmd (Gaussian kernel; σ = median reference distance unless
    given), mv (BSA's mean feature variance of the source), precision / recall (k = 3), iw (independent Wasserstein
    critic, see :func:`independent_critic`), mfd / mkid (per-class means; need a class-conditional source and
    ``reference_labels``). Generated sets have ``num_samples`` images (default: as many as the reference), drawn
    with ``seed``. Reference images are loaded at the generator's resolution (or ``resolution``, default 64) so
    both sets reach the extractor by the same resizing.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"Unknown metric '{unknown[0]}'; choose from {', '.join(METRICS)}.")
    net = (
        extractor if isinstance(extractor, FeatureExtractor) else cached_extractor(extractor, weights, weights_filename)
    )
    res = resolution or _resolution_of(source) or 64
    ref_images = load_images(reference, res, 3)
    ref = _cached_features(ref_images, net, batch_size, use_cache)
    n = num_samples or ref.shape[0]
    if _is_pipeline(source) or _is_generator(source):
        src = _features(_sample(source, n, seed, None, truncation), net, batch_size)
    else:
        src = _features(load_images(source, res, 3), net, batch_size)
    values: dict[str, float] = {}
    for m in metrics:
        if m == "fd":
            values["fd"] = frechet_distance(src, ref)
        elif m == "kid":
            values["kid"], values["kid_std"] = kid(src, ref, kid_subsets, kid_subset_size, seed=seed)
        elif m == "kmmd":
            values["kmmd"], values["kmmd_sigma"] = kmmd(src, ref, kmmd_sigma)
        elif m == "mv":
            values["mv"] = mean_variance(src)
        elif m in ("precision", "recall") and "precision" not in values:
            values["precision"], values["recall"] = precision_recall(ref, src)
        elif m == "iw":
            values["iw"] = independent_critic(ref, src, steps=iw_steps, seed=seed)
    per_class: dict[int, dict[str, float]] = {}
    if {"mfd", "mkid"} & set(metrics):
        per_class = _per_class(source, ref, reference_labels, metrics, net, n, seed, truncation, batch_size,
                               kid_subsets, kid_subset_size)  # fmt: skip
        for m in ("mfd", "mkid"):
            if m in metrics:
                values[m] = float(np.mean([row[m[1:]] for row in per_class.values()]))
    return MetricsReport(values, net.name, net.label, src.shape[0], ref.shape[0], per_class)


def _per_class(source, ref, labels, metrics, net, n, seed, truncation, batch_size, subsets, subset_size):
    if not (_is_pipeline(source) or _is_generator(source)):
        raise ValueError("mfd/mkid need a class-conditional pipeline or generator as the source.")
    if labels is None:
        raise ValueError("mfd/mkid need reference_labels, one class label per reference image.")
    labels = torch.as_tensor(labels).long().reshape(-1)
    if labels.numel() != ref.shape[0]:
        raise ValueError(f"Got {labels.numel()} reference labels for {ref.shape[0]} reference images.")
    rows = {}
    for c in sorted(set(labels.tolist())):
        ref_c = ref[labels == c]
        count = max(n // len(set(labels.tolist())), 2)
        src_c = _features(_sample(source, count, seed + c, torch.full((count,), c), truncation), net, batch_size)
        row = {}
        if "mfd" in metrics:
            row["fd"] = frechet_distance(src_c, ref_c)
        if "mkid" in metrics:
            row["kid"] = kid(src_c, ref_c, subsets, subset_size, seed=seed)[0]
        rows[c] = row
    return rows


def independent_critic(real: torch.Tensor, fake: torch.Tensor, steps: int = 500, seed: int = 0) -> float:
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


def rank_sources(
    candidates: Mapping[str, Any],
    target: ImagesLike,
    real_source_images: Mapping[str, ImagesLike] | None = None,
    *,
    extractor: str | FeatureExtractor = "efficientnet-lite0",
    num_samples: int | None = None,
    seed: int = 0,
    resolution: int | None = None,
) -> list[dict[str, Any]]:
    """TransferGAN §4.5: rank source GANs by the FD between their samples and the target images (lower first).

    With ``real_source_images`` each row also gets the FD between that source's real training images and the
    target. Every row names the extractor ("FD (EfficientNet-Lite0)").
    """
    if not candidates:
        raise ValueError("rank_sources needs at least one candidate source.")
    rows = []
    for name, source in candidates.items():
        report = evaluate(source, target, ["fd"], extractor=extractor, num_samples=num_samples, seed=seed,
                          resolution=resolution)  # fmt: skip
        row = {"source": name, report.name("fd") + " generated vs target": report["fd"]}
        if real_source_images and name in real_source_images:
            real = evaluate(real_source_images[name], target, ["fd"], extractor=extractor,
                            resolution=resolution or _resolution_of(source))  # fmt: skip
            row[report.name("fd") + " real source vs target"] = real["fd"]
        rows.append(row)
    key = next(k for k in rows[0] if k.endswith("generated vs target"))
    rows.sort(key=lambda r: r[key])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows
