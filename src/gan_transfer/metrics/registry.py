"""Metrics found by name: ``METRIC_REGISTRY`` maps each name ``evaluate(..., metrics=[...])`` accepts to a function.

A metric is ``metric(source_features, reference_features, options) -> {name: value}``: two (N, D) float64 feature
tensors and a :class:`MetricOptions`, returning one or more named floats (``"kid"`` gives ``kid`` and ``kid_std``).
Adding a metric is registering such a function::

    @register_metric("mean_norm")
    def mean_norm(source, reference, options):
        return {"mean_norm": float(source.norm(dim=1).mean())}

One function may serve several names ("precision" and "recall"); ``evaluate`` calls it once. A per-class metric
(``per_class=True``) gets source features drawn class by class, with ``options.source_labels`` and
``options.reference_labels`` set; it returns its mean under its own name and each class's value as
``"<key>/<class id>"``, which ``evaluate`` files under ``report.per_class[class id][key]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from ..registry import Registry
from .functional import frechet_distance, independent_critic, kid, kmmd, mean_variance, precision_recall


@dataclasses.dataclass(frozen=True)
class MetricOptions:
    """What ``evaluate`` passes to every metric: its keyword options, and the class labels for per-class metrics."""

    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kmmd_sigma: float | None = None
    iw_steps: int = 500
    source_labels: torch.Tensor | None = None  # the class of each source feature row (per-class metrics only)
    reference_labels: torch.Tensor | None = None  # the class of each reference feature row


Metric = Callable[[torch.Tensor, torch.Tensor, MetricOptions], dict[str, float]]
METRIC_REGISTRY: Registry[Metric] = Registry("metric")


def register_metric(*names: str, per_class: bool = False) -> Callable[[Metric], Metric]:
    """Register a metric function under one or more names; ``per_class=True`` asks for class-by-class samples."""

    def decorator(fn: Metric) -> Metric:
        fn.per_class = per_class  # type: ignore[attr-defined]
        for name in names or (fn.__name__,):
            METRIC_REGISTRY.register(name)(fn)
        return fn

    return decorator


def is_per_class(metric: Metric) -> bool:
    return bool(getattr(metric, "per_class", False))


# ------------------------------------------------------------------------------------------- the built-in metrics
@register_metric("fd")
def fd_metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
    """Fréchet distance ("FID (Inception-v3)" only on the Inception network's features)."""
    return {"fd": frechet_distance(source, reference)}


@register_metric("kid")
def kid_metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
    """KID, mean and standard deviation over ``kid_subsets`` subsets of ``kid_subset_size``."""
    mean, std = kid(source, reference, options.kid_subsets, options.kid_subset_size, seed=options.seed)
    return {"kid": mean, "kid_std": std}


@register_metric("kmmd")
def kmmd_metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
    """Gaussian-kernel MMD²; σ = the median reference distance unless ``kmmd_sigma`` is given."""
    value, sigma = kmmd(source, reference, options.kmmd_sigma)
    return {"kmmd": value, "kmmd_sigma": sigma}


@register_metric("mv")
def mv_metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
    """BSA's mean feature variance of the source set (the reference is not used)."""
    return {"mv": mean_variance(source)}


@register_metric("precision", "recall")
def precision_recall_metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
    """Improved precision and recall (k = 3), always both."""
    precision, recall = precision_recall(reference, source)
    return {"precision": precision, "recall": recall}


@register_metric("iw")
def iw_metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
    """Independent Wasserstein critic trained for ``iw_steps`` steps."""
    return {"iw": independent_critic(reference, source, steps=options.iw_steps, seed=options.seed)}


def _by_class(key: str, score: Callable[[torch.Tensor, torch.Tensor, MetricOptions], float]) -> Metric:
    """The per-class metric "m<key>": ``score`` on each class's source and reference features, and their mean."""

    def metric(source: torch.Tensor, reference: torch.Tensor, options: MetricOptions) -> dict[str, float]:
        if options.source_labels is None or options.reference_labels is None:
            raise ValueError(f"m{key} needs reference_labels and class-conditional samples of the source.")
        rows = {}
        for c in sorted(set(options.reference_labels.tolist())):
            src_c = source[options.source_labels == c]
            ref_c = reference[options.reference_labels == c]
            rows[f"{key}/{c}"] = score(src_c, ref_c, options)
        return {f"m{key}": float(np.mean(list(rows.values()))), **rows}

    metric.__name__ = metric.__qualname__ = f"m{key}_metric"
    metric.__doc__ = f"Per-class {key}, averaged over the classes of the reference labels."
    return metric


mfd_metric = register_metric("mfd", per_class=True)(_by_class("fd", lambda s, r, o: frechet_distance(s, r)))
mkid_metric = register_metric("mkid", per_class=True)(
    _by_class("kid", lambda s, r, o: kid(s, r, o.kid_subsets, o.kid_subset_size, seed=o.seed)[0])
)
