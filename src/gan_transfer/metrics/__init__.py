"""Metrics that run offline and agree with the reference implementations.

Scores on EfficientNet-Lite0 features are "FD (EfficientNet-Lite0)".
Only the Inception-v3 network gives "FID (Inception-v3)". ``MetricsReport.name`` writes the right label.

Depends on torch, numpy, scipy, safetensors (and huggingface_hub for user-named extractor weights) and, of this
library, only ``gan_transfer.registry`` and ``gan_transfer.atomic``: images come in as tensors or through the
registered image reader, sources through the :class:`ImageSampler` protocol, metrics by name from
``METRIC_REGISTRY``.
"""

from .evaluate import (
    ImageSampler,
    MetricsReport,
    compute_features,
    evaluate,
    extract_features,
    rank_sources,
)
from .extractors import (
    EXTRACTOR_REGISTRY,
    VGG16,
    EfficientNetLite0,
    FeatureExtractor,
    InceptionV3FID,
    get_extractor,
)
from .functional import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    independent_critic,
    kid,
    kmmd,
    mean_variance,
    precision_recall,
)
from .registry import METRIC_REGISTRY, Metric, MetricOptions, register_metric

__all__ = [
    "EXTRACTOR_REGISTRY",
    "METRIC_REGISTRY",
    "VGG16",
    "EfficientNetLite0",
    "FeatureExtractor",
    "ImageSampler",
    "InceptionV3FID",
    "Metric",
    "MetricOptions",
    "MetricsReport",
    "compute_features",
    "evaluate",
    "extract_features",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "get_extractor",
    "independent_critic",
    "kid",
    "kmmd",
    "mean_variance",
    "precision_recall",
    "rank_sources",
    "register_metric",
]
