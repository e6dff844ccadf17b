"""Checkpoint formats: someone else's GAN files → this library's models, never running pickled code.

``GanPipeline.from_checkpoint(path, format=...)`` and ``gan-transfer convert FORMAT SRC OUT`` use this registry;
each foreign layout is one file here (``dcgan``, ``biggan-pytorch``, ``studiogan``,
``biggan-deep``, ``stylegan2-ada``, ``stylegan2-rosinality``).
"""

from . import biggan_deep, biggan_pytorch, dcgan, studiogan, stylegan2  # noqa: F401  (register their formats)
from .base import CHECKPOINT_FORMATS, CheckpointFormat, Converted, convert_checkpoint, read_checkpoint, register_format

__all__ = ["CHECKPOINT_FORMATS", "CheckpointFormat", "Converted", "convert_checkpoint", "read_checkpoint",
           "register_format"]  # fmt: skip
