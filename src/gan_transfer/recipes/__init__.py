"""Recipes: one file per method, all on the one training engine. Reach them by name with ``get_recipe``."""

from typing import Any

from .bsa import BSA, BSAConfig
from .cgan_transfer import CGANTransfer, CGANTransferConfig
from .engine import RECIPE_REGISTRY, FitOutput, GanTrainer, TrainConfig, TrainingDiverged, TrainResult, make_config
from .minegan import MineGAN, MineGANConfig
from .transfer_gan import TransferGAN, TransferGANConfig, make_conditional


def get_recipe(method: str, **overrides: Any) -> Any:
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
    "MineGAN",
    "MineGANConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "TransferGAN",
    "TransferGANConfig",
    "get_recipe",
    "make_conditional",
]
