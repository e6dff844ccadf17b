"""gan_transfer: adapt pretrained GANs to new domains from 10-1000 images."""

from . import data  # noqa: F401  (registers the image reader that metrics and recipes use)
from ._version import __version__
from .pipelines import GanPipeline, GanPipelineOutput, I2IPipeline, I2IPipelineOutput

__all__ = ["GanPipeline", "GanPipelineOutput", "I2IPipeline", "I2IPipelineOutput", "__version__"]
