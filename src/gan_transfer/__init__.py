"""gan_transfer: adapt pretrained GANs to new domains from 10-1000 images."""

from ._version import __version__
from .pipelines import GanPipeline, GanPipelineOutput

__all__ = ["GanPipeline", "GanPipelineOutput", "__version__"]
