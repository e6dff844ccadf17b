"""Pipelines: what users call."""

from ..latents import sample_latents
from ..rendering import make_image_grid, save_image
from .base import Pipeline
from .gan_pipeline import GanPipeline
from .i2i_pipeline import I2IPipeline
from .outputs import GanPipelineOutput, I2IPipelineOutput

PIPELINE_CLASSES: dict[str, type[Pipeline]] = {"GanPipeline": GanPipeline, "I2IPipeline": I2IPipeline}  # by _class_name

__all__ = [
    "PIPELINE_CLASSES",
    "GanPipeline",
    "GanPipelineOutput",
    "I2IPipeline",
    "I2IPipelineOutput",
    "Pipeline",
    "make_image_grid",
    "sample_latents",
    "save_image",
]
