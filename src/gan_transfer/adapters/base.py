"""The adapter format and how a pipeline holds adapters.

An adapter is a small module saved as ``adapter_config.json`` + ``adapter_model.safetensors`` (+ card). It changes
what a generator computes only while its pipeline runs it: forward hooks on the generator's named modules and/or a
rewrite of the generator's inputs (latents, labels, class embedding), installed for the duration of one call and
removed afterwards. So no base weight ever changes, outputs with adapters disabled are bit-identical to the base,
and two pipelines sharing one generator never see each other's adapters.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from .._version import __version__
from ..hub import HubMixin, PathLike, weights_hash
from ..models import Generator
from ..registry import Registry

ADAPTER_REGISTRY: Registry[type[Adapter]] = Registry("adapter kind")

Hook = Callable[[nn.Module, tuple[Any, ...], Any], Any]
Inputs = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]  # z, class_labels, class_embedding


def register_adapter(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: make an adapter kind loadable by its ``kind`` name."""
    return ADAPTER_REGISTRY.register(cls.kind)(cls)


@dataclasses.dataclass
class AdapterConfig:
    """What ``adapter_config.json`` holds besides the class stamp."""

    kind: str
    method: str | None = None
    base_model: str | None = None  # hub id or path of the base pipeline, when known
    base_model_revision: str | None = None
    base_model_hash: str | None = None  # weights_hash of the base generator
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # rebuilds the adapter's tensors
    hyperparameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    library_version: str = __version__


class Adapter(nn.Module, HubMixin):
    """Base class of every adapter kind. Subclasses set ``kind`` and override ``hooks`` and/or ``transform_inputs``.

    ``__init__`` keywords are recorded in ``config.kwargs`` so the same tensors can be rebuilt when loading.
    """

    kind: ClassVar[str]
    registry = ADAPTER_REGISTRY
    config_name = "adapter_config.json"
    weights_name = "adapter_model.safetensors"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.config = AdapterConfig(kind=self.kind, kwargs=dict(kwargs))
        self.card_data: dict[str, Any] = {}

    # --- what an adapter does --------------------------------------------------------------------------
    def check_compatible(self, generator: Generator) -> None:
        """Raise a clear error when this adapter's tensors do not fit ``generator``'s layers."""

    def hooks(self, generator: Generator) -> list[tuple[nn.Module, Hook]]:
        """Forward hooks (module, hook) installed on ``generator`` while the adapter is active."""
        return []

    def transform_inputs(self, z: torch.Tensor, class_labels, class_embedding) -> Inputs:
        """Rewrite the generator's inputs (latent adapters such as miners)."""
        return z, class_labels, class_embedding

    def fuse_into(self, generator: Generator) -> None:
        """Fold this adapter into ``generator``'s own weights, in place, where the kind allows it."""
        raise NotImplementedError(f"Adapters of kind '{self.kind}' cannot be fused into the generator.")

    # --- saving -------------------------------------------------------------------------------------
    @classmethod
    def registry_key(cls) -> str:
        return cls.kind

    def config_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.config), "library_version": __version__}

    @classmethod
    def _from_config_dict(cls, class_name: str, fields: dict[str, Any], source: str) -> Adapter:
        known = {f.name for f in dataclasses.fields(AdapterConfig)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"Unknown entry '{unknown[0]}' in {source}; upgrade gan_transfer or fix the file.")
        config = AdapterConfig(**fields)
        adapter = cls(**config.kwargs)
        adapter.config = config
        return adapter

    def card_body(self) -> str:
        c = self.config
        size = sum(p.numel() for p in self.state_dict().values())
        lines = [
            f"A `{c.kind}` adapter" + (f" trained with `{c.method}`" if c.method else "") + f" ({size:,} values).",
            "",
            f"- base model: `{c.base_model or 'unknown'}`"
            + (f" @ `{c.base_model_revision}`" if c.base_model_revision else ""),
            f"- base weights (sha256, float32): `{c.base_model_hash or 'unknown'}`",
        ]
        for title, table in (("Hyper-parameters", c.hyperparameters), ("Metrics", c.metrics)):
            if table:
                lines += ["", f"## {title}", "", "| name | value |", "|---|---|"]
                lines += [f"| {k} | {v} |" for k, v in table.items()]
        lines += [
            "",
            "```python",
            "from gan_transfer import GanPipeline",
            f"pipe = GanPipeline.from_pretrained({c.base_model or 'BASE'!r})",
            "pipe.load_adapter('THIS_FOLDER_OR_REPO')",
            "images = pipe(num_images=16).images",
            "```",
        ]
        return "\n".join(lines)


@contextlib.contextmanager
def attach(adapters: list[Adapter], generator: Generator) -> Iterator[Callable[..., Inputs]]:
    """Install ``adapters``' hooks on ``generator`` (in order) for the block; yield their composed input rewriter.

    The one place hooks go on and come off: pipelines use it per call, recipes while training.
    """
    handles = []
    try:
        for adapter in adapters:
            for module, hook in adapter.hooks(generator):
                handles.append(module.register_forward_hook(hook))

        def transform(z: torch.Tensor, class_labels=None, class_embedding=None) -> Inputs:
            inputs: Inputs = (z, class_labels, class_embedding)
            for adapter in adapters:
                inputs = adapter.transform_inputs(*inputs)
            return inputs

        yield transform
    finally:
        for handle in handles:
            handle.remove()


class _AdapterSwitch:
    """Returned by ``disable_adapters()``: it has already disabled them; as a context manager it restores them."""

    def __init__(self, host: AdapterHostMixin, previous: bool) -> None:
        self._host, self._previous = host, previous

    def __enter__(self) -> AdapterHostMixin:
        return self._host

    def __exit__(self, *exc: object) -> None:
        self._host._adapters_enabled = self._previous


class AdapterHostMixin:
    """Adapter management for a pipeline, in the manner of PEFT / diffusers.

    The adapters live on the pipeline, not on the generator: they act only inside :meth:`applied_adapters`.
    """

    generator: Generator
    name_or_path: str | None
    card_data: dict[str, Any]

    def _adapter_state(self) -> tuple[dict[str, Adapter], list[str]]:
        if not hasattr(self, "_adapters"):
            self._adapters: dict[str, Adapter] = {}
            self._active_adapters: list[str] = []
            self._adapters_enabled = True
        return self._adapters, self._active_adapters

    # --- adding and removing ------------------------------------------------------------------------
    def add_adapter(
        self, adapter: Adapter, adapter_name: str = "default", *, set_active: bool = True, source: str | None = None
    ) -> str:
        """Hold ``adapter`` under ``adapter_name``; refuses adapters made for another base generator.

        ``source`` (where the adapter was loaded from) only names it in error messages.
        """
        adapters, _ = self._adapter_state()
        if adapter_name in adapters:
            raise ValueError(
                f"An adapter named '{adapter_name}' is already loaded; pass another adapter_name or "
                "delete_adapter it first."
            )
        own_hash = weights_hash(self.generator)
        c = adapter.config
        if c.base_model_hash is None:
            c.base_model_hash, c.base_model = own_hash, c.base_model or self.name_or_path
        elif c.base_model_hash != own_hash:
            raise ValueError(
                f"Adapter '{source or adapter_name}' was made for base model '{c.base_model or 'unknown'}' (weights "
                f"{c.base_model_hash[:12]}…), not for this pipeline's generator (weights {own_hash[:12]}…); "
                "load it onto the pipeline it was trained from."
            )
        adapter.check_compatible(self.generator)
        adapters[adapter_name] = adapter.to(device=self.generator.device)
        if set_active:
            self.set_adapter(adapter_name)
        return adapter_name

    def load_adapter(
        self,
        path_or_id: PathLike,
        adapter_name: str = "default",
        *,
        set_active: bool = True,
        revision: str | None = None,
        cache_dir: PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
    ) -> str:
        """Load an adapter folder or Hub repo and make it the active adapter (unless ``set_active=False``)."""
        adapter = Adapter.from_pretrained(
            path_or_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        return self.add_adapter(adapter, adapter_name, set_active=set_active, source=str(path_or_id))

    def delete_adapter(self, adapter_name: str) -> None:
        adapters, active = self._adapter_state()
        self._get_adapter(adapter_name)
        del adapters[adapter_name]
        if adapter_name in active:
            active.remove(adapter_name)

    # --- choosing -----------------------------------------------------------------------------------
    def list_adapters(self) -> list[str]:
        return list(self._adapter_state()[0])

    @property
    def active_adapters(self) -> list[str]:
        """Names of the adapters applied by the next call (empty while disabled)."""
        _, active = self._adapter_state()
        return list(active) if self._adapters_enabled else []

    def set_adapter(self, adapter_names: str | list[str]) -> None:
        """Apply these adapters (in this order) from now on, and enable adapters."""
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        for name in names:
            self._get_adapter(name)
        self._adapter_state()
        self._active_adapters = names
        self._adapters_enabled = True

    def disable_adapters(self) -> _AdapterSwitch:
        """Run the bare base model: call it plainly, or use ``with pipe.disable_adapters():`` to restore after."""
        self._adapter_state()
        switch = _AdapterSwitch(self, self._adapters_enabled)
        self._adapters_enabled = False
        return switch

    def enable_adapters(self) -> None:
        self._adapter_state()
        self._adapters_enabled = True

    def get_adapter(self, adapter_name: str) -> Adapter:
        return self._get_adapter(adapter_name)

    def _get_adapter(self, adapter_name: str) -> Adapter:
        adapters, _ = self._adapter_state()
        if adapter_name not in adapters:
            loaded = ", ".join(adapters) or "none"
            raise ValueError(f"No adapter named '{adapter_name}' is loaded (loaded: {loaded}); load_adapter it first.")
        return adapters[adapter_name]

    # --- saving and fusing --------------------------------------------------------------------------
    def save_adapter(self, save_directory: PathLike, adapter_name: str | None = None) -> None:
        """Save one adapter (the only active one by default), with the base model's licence on its card."""
        adapter = self._get_adapter(adapter_name or self._single_active("save_adapter"))
        card = {**self.card_data, **adapter.card_data}
        if adapter.config.base_model and not card.get("base_model"):
            card["base_model"] = adapter.config.base_model
        adapter.save_pretrained(save_directory, card_data=card)

    def fuse_adapter(self, adapter_name: str | None = None) -> None:
        """Fold an adapter into a private copy of the generator (other pipelines keep the shared original)."""
        name = adapter_name or self._single_active("fuse_adapter")
        adapter = self._get_adapter(name)
        fused = copy.deepcopy(self.generator)
        adapter.fuse_into(fused)
        self.generator = fused
        self.delete_adapter(name)

    def _single_active(self, what: str) -> str:
        active = self.active_adapters
        if len(active) != 1:
            raise ValueError(f"{what} needs adapter_name when {len(active)} adapters are active.")
        return active[0]

    # --- running ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def applied_adapters(self) -> Iterator[Callable[..., Inputs]]:
        """Install the active adapters' hooks on the generator for this block; yield the input rewriter."""
        adapters, _ = self._adapter_state()
        with attach([adapters[n] for n in self.active_adapters], self.generator) as transform:
            yield transform

    def _move_adapters(self, device: torch.device | str | None, dtype: torch.dtype | None) -> None:
        for adapter in self._adapter_state()[0].values():
            adapter.to(device=device, dtype=dtype)
