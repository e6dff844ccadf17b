"""Pipelines: what users call."""

from ..rendering import make_image_grid, save_image
from .gan_pipeline import GanPipeline, sample_latents
from .outputs import GanPipelineOutput

__all__ = ["GanPipeline", "GanPipelineOutput", "make_image_grid", "sample_latents", "save_image"]
