"""Metrics that run offline and agree with the reference implementations.

Scores on EfficientNet-Lite0 features are "FD (EfficientNet-Lite0)".
Only the Inception-v3 network gives "FID (Inception-v3)". ``MetricsReport.name`` writes the right label.
"""

from .evaluate import MetricsReport, evaluate, extract_features, independent_critic, rank_sources
from .extractors import EXTRACTOR_REGISTRY, VGG16, EfficientNetLite0, FeatureExtractor, InceptionV3FID, get_extractor
from .functional import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    kid,
    kmmd,
    mean_variance,
    precision_recall,
)

__all__ = [
    "EXTRACTOR_REGISTRY",
    "VGG16",
    "EfficientNetLite0",
    "FeatureExtractor",
    "InceptionV3FID",
    "MetricsReport",
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
]
