"""One entry point for scores: ``evaluate(source, reference, metrics=[...])``, plus feature extraction and caching.

``source`` is a pipeline (anything callable like :class:`ImageSampler`; a ``GanPipeline`` applies its active
adapters) or images; ``reference`` is images. Images are tensors, or anything the registered image reader takes
(``gan_transfer.registry.read_images``: folders, paths, PIL images, arrays). Metrics are looked up by name in
``METRIC_REGISTRY``. Features of reference images are cached on disk, keyed by the image bytes, the extractor and its
weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .._version import __version__
from ..atomic import atomic_write
from ..registry import read_images
from .extractors import FeatureExtractor, cached_extractor
from .registry import METRIC_REGISTRY, Metric, MetricOptions, is_per_class

ImagesLike = Any  # a (N, C, H, W) tensor, or anything the registered image reader takes (folder, paths, PIL, array)
NAMES = {"fd": "FD", "kid": "KID", "kid_std": "KID std", "kmmd": "KMMD", "kmmd_sigma": "KMMD σ", "mv": "MV",
         "precision": "Precision", "recall": "Recall", "iw": "IW", "mfd": "mFD", "mkid": "mKID"}  # fmt: skip


class ImageSampler(Protocol):
    """What ``evaluate`` samples from: ``GanPipeline.__call__``'s keywords, returning ``.images`` (N, C, H, W) in
    [0, 1]. An optional ``generator.config.resolution`` saves drawing one image to learn the resolution."""

    def __call__(
        self,
        *,
        num_images: int,
        class_labels: torch.Tensor | None,
        generator: torch.Generator,
        truncation: float,
        output_type: str,
    ) -> Any: ...


def cache_dir() -> Path:
    return Path(os.environ.get("GAN_TRANSFER_CACHE", Path.home() / ".cache" / "gan_transfer")) / "features"


def _extractor(
    extractor: str | FeatureExtractor, weights: str | os.PathLike | None, weights_filename: str | None
) -> FeatureExtractor:
    if isinstance(extractor, FeatureExtractor):
        return extractor
    return cached_extractor(extractor, weights, weights_filename)


@torch.no_grad()
def compute_features(
    images: torch.Tensor,
    extractor: str | FeatureExtractor = "efficientnet-lite0",
    *,
    batch_size: int = 16,
    weights: str | os.PathLike | None = None,
    weights_filename: str | None = None,
) -> torch.Tensor:
    """(N, C, H, W) images in [-1, 1] (C = 1 or 3, any size) → (N, D) float64 features on the CPU.

    The extractor resizes and normalises as its weights expect; the result does not depend on ``batch_size``. A named
    extractor is built once per process (see :func:`cached_extractor`). For folders, paths, PIL images or [0, 1]
    images use :func:`extract_features`.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else f"a {type(images).__name__}"
        raise TypeError(
            f"compute_features takes an (N, C, H, W) tensor in [-1, 1]; got {shape}. "
            "Use extract_features for folders, paths, PIL images or arrays."
        )
    if images.shape[0] == 0:
        raise ValueError("compute_features got no images (the tensor is empty).")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: use at least 1.")
    lo, hi = images.min().item(), images.max().item()
    if lo < -1.001 or hi > 1.001:
        raise ValueError(
            f"Images have values in [{lo:.3g}, {hi:.3g}]; compute_features takes [-1, 1] (extract_features reads "
            "[0, 1] floats and uint8)."
        )
    net = _extractor(extractor, weights, weights_filename)
    return torch.cat([net(chunk).double().cpu() for chunk in images.split(batch_size)])


def extract_features(
    images: ImagesLike,
    extractor: str | FeatureExtractor = "efficientnet-lite0",
    *,
    resolution: int | None = None,
    batch_size: int = 16,
    weights: str | os.PathLike | None = None,
    weights_filename: str | None = None,
) -> torch.Tensor:
    """Images (a tensor, or anything the registered image reader takes) → (N, D) float64 features.

    Images are first brought to ``resolution`` (default: the extractor's input size) by the image reader, then
    :func:`compute_features` runs the extractor, which resizes and normalises them as its weights expect.
    """
    net = _extractor(extractor, weights, weights_filename)
    return compute_features(read_images(images, resolution or net.input_size, 3), net, batch_size=batch_size)


def _cached_features(images: torch.Tensor, net: FeatureExtractor, batch_size: int, use_cache: bool) -> torch.Tensor:
    if not use_cache:
        return compute_features(images, net, batch_size=batch_size)
    digest = hashlib.sha256(images.detach().cpu().float().contiguous().numpy().tobytes())
    digest.update(f"{tuple(images.shape)}|{net.name}|{net.weights_id}".encode())
    path = cache_dir() / f"{digest.hexdigest()[:32]}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))["features"]
        except (SafetensorError, OSError, KeyError):
            pass  # a damaged cache entry: compute the features again and replace it
    features = compute_features(images, net, batch_size=batch_size)
    with atomic_write(path) as tmp:
        save_file({"features": features.contiguous()}, str(tmp),
                  metadata={"format": "pt", "library": "gan_transfer", "version": __version__})  # fmt: skip
    return features


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


# ------------------------------------------------------------------------------------------------ sources
def _check_source(source: Any) -> None:
    if isinstance(source, nn.Module):
        raise ValueError(
            f"evaluate takes a pipeline or images, not a bare generator ({type(source).__name__}); "
            "wrap it: evaluate(GanPipeline(generator), ...)."
        )


def _is_pipeline(source: Any) -> bool:
    """Pipelines are callables (:class:`ImageSampler`); images (tensors, paths, PIL images, arrays) are not."""
    return callable(source) and not isinstance(source, nn.Module)


@torch.no_grad()
def _sample(source: ImageSampler, n: int, seed: int, labels: torch.Tensor | None, truncation: float) -> torch.Tensor:
    """n images in [-1, 1] from a pipeline (a GanPipeline's active adapters apply), seeded."""
    g = torch.Generator().manual_seed(seed)
    out = source(num_images=n, class_labels=labels, generator=g, truncation=truncation, output_type="pt")
    images = getattr(out, "images", None)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise TypeError(
            f"The source returned a {type(out).__name__} without an (N, C, H, W) tensor as .images; a pipeline "
            "called with output_type='pt' must return images in [0, 1] as .images."
        )
    return images * 2 - 1


def _resolution_of(source: Any, truncation: float = 1.0) -> int | None:
    """A pipeline's image size (its generator's config, else one drawn image); None for images."""
    if not _is_pipeline(source):
        return None
    config = getattr(getattr(source, "generator", None), "config", None)
    resolution = getattr(config, "resolution", None)
    return int(resolution) if resolution else _sample(source, 1, 0, None, truncation).shape[-1]


def _metric_functions(names: Sequence[str]) -> list[tuple[str, Metric]]:
    """(first name, function) per distinct function, in the order asked; one sentence for an unknown name."""
    if isinstance(names, str):
        names = [names]
    chosen: dict[int, tuple[str, Metric]] = {}
    for name in names:
        if name not in METRIC_REGISTRY:
            raise ValueError(f"Unknown metric '{name}'; choose from {', '.join(METRIC_REGISTRY.names())}.")
        fn = METRIC_REGISTRY.get(name)
        chosen.setdefault(id(fn), (name, fn))
    # per-class metrics after the others (their class-by-class samples are drawn last), in name order
    return sorted(chosen.values(), key=lambda item: (is_per_class(item[1]), is_per_class(item[1]) and item[0]))


def evaluate(
    source: ImageSampler | ImagesLike,
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
    """Score ``source`` (a pipeline or images) against ``reference`` images.

    Metrics (names in ``METRIC_REGISTRY``): fd, kid (mean and std over subsets), kmmd (Gaussian kernel; σ = median
    reference distance unless given), mv (BSA's mean feature variance of the source), precision / recall (k = 3), iw
    (independent Wasserstein critic, see :func:`independent_critic`), mfd / mkid (per-class means; need a
    class-conditional pipeline and ``reference_labels``). Generated sets have ``num_samples`` images (default: as many
    as the reference), drawn with ``seed`` and ``truncation``. Reference images are loaded at the pipeline's
    resolution (or ``resolution``, default 64) so both sets reach the extractor by the same resizing. A bare
    generator is refused: wrap it, ``GanPipeline(generator)``.
    """
    chosen = _metric_functions(metrics)
    _check_source(source)
    pipeline = _is_pipeline(source)
    per_class_names = [name for name, fn in chosen if is_per_class(fn)]
    if per_class_names and not pipeline:
        raise ValueError(f"{'/'.join(per_class_names)} need a class-conditional pipeline as the source.")
    if per_class_names and reference_labels is None:
        raise ValueError(f"{'/'.join(per_class_names)} need reference_labels, one class label per reference image.")
    net = _extractor(extractor, weights, weights_filename)
    res = resolution or _resolution_of(source, truncation) or 64
    need = {"min_images": 2, "purpose": "evaluation (its scores compare two sets' statistics)"}
    ref = _cached_features(read_images(reference, res, 3, **need), net, batch_size, use_cache)
    n = num_samples or ref.shape[0]
    if n < 2:
        raise ValueError(f"num_samples={n}: evaluation compares two sets' statistics; draw at least 2 images.")
    images = _sample(source, n, seed, None, truncation) if pipeline else read_images(source, res, 3, **need)
    src = compute_features(images, net, batch_size=batch_size)
    options = MetricOptions(seed=seed, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                            kmmd_sigma=kmmd_sigma, iw_steps=iw_steps)  # fmt: skip
    src_by_class = None
    if per_class_names:
        src_by_class, options = _per_class_samples(source, ref, reference_labels, net, n, seed, truncation,
                                                   batch_size, options)  # fmt: skip
    values: dict[str, float] = {}
    per_class: dict[int, dict[str, float]] = {}
    for _, fn in chosen:
        for key, value in fn(src_by_class if is_per_class(fn) else src, ref, options).items():
            name, slash, label = key.partition("/")
            if slash:
                per_class.setdefault(int(label), {})[name] = float(value)
            else:
                values[key] = float(value)
    return MetricsReport(values, net.name, net.label, src.shape[0], ref.shape[0], per_class)


def _per_class_samples(
    source: ImageSampler,
    ref: torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    net: FeatureExtractor,
    n: int,
    seed: int,
    truncation: float,
    batch_size: int,
    options: MetricOptions,
) -> tuple[torch.Tensor, MetricOptions]:
    """Source features drawn class by class (seed + class id, n / classes each) and the options with both labels."""
    labels = torch.as_tensor(labels).long().reshape(-1)
    if labels.numel() != ref.shape[0]:
        raise ValueError(f"Got {labels.numel()} reference labels for {ref.shape[0]} reference images.")
    classes = sorted(set(labels.tolist()))
    count = max(n // len(classes), 2)
    features, source_labels = [], []
    for c in classes:
        images = _sample(source, count, seed + c, torch.full((count,), c), truncation)
        features.append(compute_features(images, net, batch_size=batch_size))
        source_labels.append(torch.full((count,), c))
    options = dataclasses.replace(options, source_labels=torch.cat(source_labels), reference_labels=labels)
    return torch.cat(features), options


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
