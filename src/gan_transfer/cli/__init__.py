"""The ``gan-transfer`` command (``main``) and the offline main job it runs (``demo``)."""

from .commands import build_parser, main

__all__ = ["build_parser", "main"]
