"""Adapters: small weight files that change a base generator without touching its weights."""

from .base import ADAPTER_REGISTRY, Adapter, AdapterConfig, AdapterHostMixin, register_adapter

__all__ = ["ADAPTER_REGISTRY", "Adapter", "AdapterConfig", "AdapterHostMixin", "register_adapter"]
