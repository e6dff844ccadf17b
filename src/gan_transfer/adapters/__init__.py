"""Adapters: small weight files that change a base generator without touching its weights."""

from .base import ADAPTER_REGISTRY, Adapter, AdapterConfig, CallContext, attach, register_adapter
from .class_propagation import ClassPropagationAdapter
from .i2i_adaptor import I2IAdaptor
from .miner import MinerAdapter, MultiSourceMinerAdapter
from .scale_shift import BatchStatisticsAdapter, ScaleShiftAdapter, interpolate

__all__ = [
    "ADAPTER_REGISTRY",
    "Adapter",
    "AdapterConfig",
    "BatchStatisticsAdapter",
    "CallContext",
    "ClassPropagationAdapter",
    "I2IAdaptor",
    "MinerAdapter",
    "MultiSourceMinerAdapter",
    "ScaleShiftAdapter",
    "attach",
    "interpolate",
    "register_adapter",
]
