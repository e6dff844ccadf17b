"""Recipes: one file per method on one template (``base.py``) and one training loop (``engine.py``).

Reach a method by name with ``get_recipe``; ``RECIPE_REGISTRY.names()`` lists them. Training a source GAN from
scratch is not a method and lives in ``from_scratch.py``.
"""

from typing import Any

from .base import RECIPE_REGISTRY, FitOutput, Recipe, make_config, normalize_labels, register_recipe
from .bsa import BSA, BSAConfig
from .cgan_transfer import CGANTransfer, CGANTransferConfig
from .engine import GanTrainer, GeneratorSide, TrainConfig, TrainingDiverged, TrainResult, prepare_output_dir
from .minegan import MineGAN, MineGANConfig
from .transfer_gan import TransferGAN, TransferGANConfig, make_conditional
from .transfer_i2i import TransferI2I, TransferI2IConfig


def get_recipe(method: str, **overrides: Any) -> Recipe:
    """The recipe registered as ``method``, configured with its paper's defaults plus ``overrides``."""
    cls = RECIPE_REGISTRY.get(method)
    return cls(make_config(cls.config_class, overrides, method))


__all__ = [
    "BSA",
    "RECIPE_REGISTRY",
    "BSAConfig",
    "CGANTransfer",
    "CGANTransferConfig",
    "FitOutput",
    "GanTrainer",
    "GeneratorSide",
    "MineGAN",
    "MineGANConfig",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "TransferGAN",
    "TransferGANConfig",
    "TransferI2I",
    "TransferI2IConfig",
    "get_recipe",
    "make_conditional",
    "normalize_labels",
    "prepare_output_dir",
    "register_recipe",
]
