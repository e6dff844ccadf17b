"""Pipelines: what users call."""

from .gan_pipeline import GanPipeline, sample_latents
from .outputs import GanPipelineOutput

__all__ = ["GanPipeline", "GanPipelineOutput", "sample_latents"]
