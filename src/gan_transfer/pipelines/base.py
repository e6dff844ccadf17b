"""The pipeline base: a set of registered components plus the adapters they carry, saved, loaded and shared as one.

A pipeline class declares its components (``component_types``: name → (model base class, required)) and which one
adapters attach to (``adapter_target``). Everything else is written once, here, for every pipeline:

- ``save_pretrained`` writes each component into ``<name>/``, each held adapter into ``adapters/<index>/``, the
  card, and ``model_index.json`` last (it names the components' classes and the adapters: their names, which are
  active, whether adapters are enabled). Adapter names live only in that JSON, never in a path.
- ``from_pretrained`` reads them back through the library's registries, re-attaches the adapters and restores which
  are active, so a reloaded pipeline draws bit-identical images.
- ``push_to_hub`` uploads that folder (:class:`~gan_transfer.hub.PushToHubMixin`).
- The adapter host (PEFT / diffusers style): ``add_adapter``, ``load_adapter``, ``set_adapter``,
  ``disable_adapters``, ``enable_adapters``, ``delete_adapter``, ``save_adapter``, ``fuse_adapter``. Adapters live
  on the pipeline, not on the model: they act only inside :meth:`Pipeline.applied_adapters`.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..adapters import Adapter, CallContext, attach
from ..adapters.base import Inputs
from ..hub import (
    CARD_NAME,
    LIBRARY_NAME,
    PathLike,
    PushToHubMixin,
    read_card_data,
    read_json,
    render_card,
    resolve_folder,
    stamp,
    weights_hash,
    write_json,
    write_text,
)
from ..models import GanModel

INDEX_NAME = "model_index.json"
ADAPTERS_DIR = "adapters"
_ADAPTER_FOLDER = re.compile(rf"{ADAPTERS_DIR}/[0-9]+")


class _AdapterSwitch:
    """Returned by ``disable_adapters()``: it has already disabled them; as a context manager it restores them."""

    def __init__(self, host: Pipeline, previous: bool) -> None:
        self._host, self._previous = host, previous

    def __enter__(self) -> Pipeline:
        return self._host

    def __exit__(self, *exc: object) -> None:
        self._host._adapters_enabled = self._previous


class Pipeline(PushToHubMixin):
    """Registered components + adapters; subclasses declare ``component_types`` and ``adapter_target``."""

    component_types: ClassVar[dict[str, tuple[type[GanModel], bool]]]
    adapter_target: ClassVar[str] = "generator"

    def __init__(self, *, card_data: dict[str, Any] | None = None, name_or_path: str | None = None) -> None:
        self.card_data: dict[str, Any] = dict(card_data or {})
        self.name_or_path = name_or_path
        self._progress_bar_config: dict[str, Any] = {}
        self._adapters: dict[str, Adapter] = {}
        self._active_adapters: list[str] = []
        self._adapters_enabled = True

    # --- components -----------------------------------------------------------------------------------
    def register_modules(self, **components: GanModel | None) -> None:
        """Set the declared components (as diffusers' ``register_modules``), checking each one's type."""
        for name, module in components.items():
            if name not in self.component_types:
                known = ", ".join(self.component_types)
                raise TypeError(f"{type(self).__name__} has no component '{name}'; it has {known}.")
            base, required = self.component_types[name]
            if module is None and required:
                raise TypeError(f"{type(self).__name__} needs a {name}.")
            if module is not None and not isinstance(module, base):
                raise TypeError(f"{name} must be a gan_transfer {base.__name__}, not {type(module).__name__}.")
            setattr(self, name, module)

    @property
    def components(self) -> dict[str, GanModel | None]:
        return {name: getattr(self, name, None) for name in self.component_types}

    @property
    def adapter_base(self) -> GanModel:
        """The component adapters attach to."""
        return getattr(self, self.adapter_target)

    @property
    def device(self) -> torch.device:
        return self.adapter_base.device

    @property
    def dtype(self) -> torch.dtype:
        return self.adapter_base.dtype

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Pipeline:
        """Move every component and adapter (in place; returns self)."""
        for component in self.components.values():
            if component is not None:
                component.to(device=device, dtype=dtype)
        for adapter in self._adapters.values():
            adapter.to(device=device, dtype=dtype)
        return self

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for the tqdm bar of ``__call__`` (e.g. ``disable=True``)."""
        self._progress_bar_config = kwargs

    # --- adapters: adding and removing -----------------------------------------------------------------
    def add_adapter(
        self, adapter: Adapter, adapter_name: str = "default", *, set_active: bool = True, source: str | None = None
    ) -> str:
        """Hold ``adapter`` under ``adapter_name``; refuses adapters made for another base model.

        ``source`` (where the adapter was loaded from) only names it in error messages.
        """
        if adapter_name in self._adapters:
            raise ValueError(
                f"An adapter named '{adapter_name}' is already loaded; pass another adapter_name or "
                "delete_adapter it first."
            )
        base = self.adapter_base
        own_hash = weights_hash(base)
        c = adapter.config
        if c.base_model_hash is not None and c.base_model_hash != own_hash:
            raise ValueError(
                f"Adapter '{source or adapter_name}' was made for base model '{c.base_model or 'unknown'}' (weights "
                f"{c.base_model_hash[:12]}…), not for this pipeline's {self.adapter_target} (weights "
                f"{own_hash[:12]}…); load it onto the pipeline it was trained from."
            )
        adapter.check_compatible(base)
        if c.base_model_hash is None:
            c.base_model_hash, c.base_model = own_hash, c.base_model or self.name_or_path
        self._adapters[adapter_name] = adapter.to(device=base.device)
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
        self.get_adapter(adapter_name)
        del self._adapters[adapter_name]
        if adapter_name in self._active_adapters:
            self._active_adapters.remove(adapter_name)

    # --- adapters: choosing ---------------------------------------------------------------------------
    def list_adapters(self) -> list[str]:
        return list(self._adapters)

    @property
    def active_adapters(self) -> list[str]:
        """Names of the adapters applied by the next call (empty while disabled)."""
        return list(self._active_adapters) if self._adapters_enabled else []

    def set_adapter(self, adapter_names: str | list[str]) -> None:
        """Apply these adapters (in this order) from now on, and enable adapters."""
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        for name in names:
            self.get_adapter(name)
        self._active_adapters = names
        self._adapters_enabled = True

    def disable_adapters(self) -> _AdapterSwitch:
        """Run the bare base model: call it plainly, or use ``with pipe.disable_adapters():`` to restore after."""
        switch = _AdapterSwitch(self, self._adapters_enabled)
        self._adapters_enabled = False
        return switch

    def enable_adapters(self) -> None:
        self._adapters_enabled = True

    def get_adapter(self, adapter_name: str) -> Adapter:
        if adapter_name not in self._adapters:
            loaded = ", ".join(self._adapters) or "none"
            raise ValueError(f"No adapter named '{adapter_name}' is loaded (loaded: {loaded}); load_adapter it first.")
        return self._adapters[adapter_name]

    def _active(self) -> list[Adapter]:
        return [self._adapters[n] for n in self.active_adapters]

    # --- adapters: saving and fusing ------------------------------------------------------------------
    def _adapter_card(self, adapter: Adapter) -> dict[str, Any]:
        """An adapter's card: the base model's licence and credits, then the adapter's own entries."""
        card = {**self.card_data, **adapter.card_data}
        if adapter.config.base_model and not card.get("base_model"):
            card["base_model"] = adapter.config.base_model
        return card

    def save_adapter(self, save_directory: PathLike, adapter_name: str | None = None) -> None:
        """Save one adapter (the only active one by default), with the base model's licence on its card."""
        adapter = self.get_adapter(adapter_name or self._single_active("save_adapter"))
        adapter.save_pretrained(save_directory, card_data=self._adapter_card(adapter))

    def fuse_adapter(self, adapter_name: str | None = None) -> None:
        """Fold an adapter into a private copy of its base model (other pipelines keep the shared original)."""
        name = adapter_name or self._single_active("fuse_adapter")
        adapter = self.get_adapter(name)
        fused = copy.deepcopy(self.adapter_base)
        adapter.fuse_into(fused)
        setattr(self, self.adapter_target, fused)
        self.delete_adapter(name)

    def _single_active(self, what: str) -> str:
        active = self.active_adapters
        if len(active) != 1:
            raise ValueError(f"{what} needs adapter_name when {len(active)} adapters are active.")
        return active[0]

    # --- adapters: running ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def applied_adapters(self, context: CallContext | None = None) -> Iterator[Callable[..., Inputs]]:
        """Install the active adapters' hooks on the base model for this block; yield the input rewriter.

        ``context``: per-call state for the hooks beyond the class labels (e.g. a translator's encoder features).
        """
        with attach(self._active(), self.adapter_base, context) as transform:
            yield transform

    # --- saving and loading ---------------------------------------------------------------------------
    def card_body(self) -> str:
        return ""

    def save_pretrained(self, save_directory: PathLike) -> Path:
        """Write every component, every adapter, the card, and ``model_index.json`` last (each file atomically)."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {}
        for name, component in self.components.items():
            if component is not None:
                component.save_pretrained(folder / name, card_data=self.card_data)
                index[name] = [LIBRARY_NAME, type(component).__name__]
            else:
                index[name] = [None, None]
        entries = []
        for i, (name, adapter) in enumerate(self._adapters.items()):
            sub = f"{ADAPTERS_DIR}/{i}"
            adapter.save_pretrained(folder / sub, card_data=self._adapter_card(adapter))
            entries.append({"name": name, "folder": sub})
        if entries:
            index["adapters"] = {"held": entries, "active": list(self._active_adapters),
                                 "enabled": self._adapters_enabled}  # fmt: skip
        write_text(folder / CARD_NAME, render_card(type(self).__name__, self.card_data, self.card_body()))
        write_json(folder / INDEX_NAME, stamp(type(self).__name__, index))
        return folder

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: PathLike,
        *,
        revision: str | None = None,
        cache_dir: PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        device: str | torch.device | None = None,
        torch_dtype: torch.dtype | None = None,
    ) -> Any:
        """Load a pipeline folder (``model_index.json`` + component folders + adapters) from a path or a Hub id."""
        folder = resolve_folder(
            path_or_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        index_path = folder / INDEX_NAME
        if not index_path.is_file() and (folder / "config.json").is_file():
            raise ValueError(
                f"'{path_or_id}' holds a single model, not a pipeline; build one with "
                f"{cls.__name__}(generator=Generator.from_pretrained(...))."
            )
        index = read_json(index_path)
        if index.get("_class_name") != cls.__name__:
            raise ValueError(f"'{path_or_id}' holds a {index.get('_class_name')}, not a {cls.__name__}.")
        components: dict[str, Any] = {}
        for name, (base, required) in cls.component_types.items():
            library, class_name = index.get(name) or [None, None]
            if class_name is None:
                if required:
                    raise ValueError(f"'{index_path}' names no {name}; the pipeline folder is broken.")
                components[name] = None
                continue
            if library != LIBRARY_NAME:
                raise ValueError(f"'{index_path}' asks for {name} from '{library}'; only gan_transfer models load.")
            model = base.from_pretrained(folder, subfolder=name, device=device, torch_dtype=torch_dtype)
            if type(model).__name__ != class_name:
                raise ValueError(
                    f"'{index_path}' says {name} is a {class_name} but '{name}/config.json' holds a "
                    f"{type(model).__name__}; save the pipeline again."
                )
            components[name] = model
        pipe = cls(**components, card_data=read_card_data(folder), name_or_path=str(path_or_id))
        pipe._load_held_adapters(folder, index.get("adapters"), index_path)
        return pipe

    def _load_held_adapters(self, folder: Path, record: Any, index_path: Path) -> None:
        """Re-attach the adapters a saved pipeline held, and restore which were active."""
        if record is None:
            return
        try:
            entries = [(str(e["name"]), str(e["folder"])) for e in record["held"]]
            active, enabled = [str(n) for n in record["active"]], bool(record["enabled"])
        except (KeyError, TypeError):
            raise ValueError(f"'{index_path}' has a malformed 'adapters' entry; save the pipeline again.") from None
        for name, sub in entries:
            if not _ADAPTER_FOLDER.fullmatch(sub):
                raise ValueError(f"'{index_path}' names adapter folder '{sub}'; only adapters/<number> is allowed.")
            adapter = Adapter.from_pretrained(folder / sub)
            self.add_adapter(adapter, name, set_active=False, source=str(folder / sub))
        self.set_adapter(active)
        self._adapters_enabled = enabled
