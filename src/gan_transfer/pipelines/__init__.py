"""Pipelines: what users call."""

from ..latents import sample_latents
from ..rendering import make_image_grid, save_image
from .base import Pipeline
from .gan_pipeline import GanPipeline
from .outputs import GanPipelineOutput

__all__ = ["GanPipeline", "GanPipelineOutput", "Pipeline", "make_image_grid", "sample_latents", "save_image"]
