"""The pipeline base: a set of registered components plus the adapters they carry, saved, loaded and shared as one.

A pipeline class declares its components (``component_types``: name → (model base class, required)) and which one
adapters attach to (``adapter_target``). Everything else is written once, here, for every pipeline:

- ``save_pretrained`` writes each component into ``<name>/``, each held adapter into ``adapters/<index>/``, the
  card, and ``model_index.json`` last (it names the components' classes and the adapters: their names, which are
  active, whether adapters are enabled). Adapter names live only in that JSON, never in a path.
- ``from_pretrained`` reads them back through the library's registries, re-attaches the adapters and restores which
  are active, so a reloaded pipeline draws bit-identical images.
- ``push_to_hub`` uploads that folder, or one adapter (``adapter_name=``), through one path
  (:func:`~gan_transfer.hub.push_folder`); the card, rendered from the ``model_cards`` templates, names the repo.
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

import PIL.Image
import torch

from ..adapters import Adapter, CallContext, attach
from ..adapters.base import Inputs
from ..hub import (
    LIBRARY_NAME,
    PLACEHOLDER_ID,
    CardBody,
    PathLike,
    PushToHubMixin,
    join_credits,
    push_folder,
    read_card_data,
    read_json,
    resolve_folder,
    save_card,
    stamp,
    weights_hash,
    write_json,
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

    def class_ids(self, class_labels: Any) -> Any:
        """Class names (the generator's ``config.class_names``) → their ids; ids and tensors pass through."""
        names = list(self.adapter_base.config.class_names)
        items = [class_labels] if isinstance(class_labels, str) else class_labels
        if not isinstance(items, (list, tuple)) or not any(isinstance(x, str) for x in items):
            return class_labels
        unknown = [x for x in items if isinstance(x, str) and x not in names]
        if unknown:
            known = ", ".join(names) if names else "none (this model's classes have no names; use ids)"
            raise ValueError(f"Unknown class '{unknown[0]}'; this model's classes are: {known}.")
        return [names.index(x) if isinstance(x, str) else x for x in items]

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
        """An adapter's card data: the base model's licence, datasets and credits, then the adapter's own entries
        (its credits join the base's, never replace them)."""
        card = {**self.card_data, **adapter.card_data}
        credits = join_credits(self.card_data.get("credits"), adapter.card_data.get("credits"))
        card.pop("credits", None)
        if credits:
            card["credits"] = credits
        for key in ("datasets", "tags"):
            merged = [*_as_list(self.card_data.get(key)), *_as_list(adapter.card_data.get(key))]
            if merged:
                card[key] = list(dict.fromkeys(merged))
        if adapter.config.base_model and not card.get("base_model"):
            card["base_model"] = adapter.config.base_model
        return card

    def save_adapter(
        self,
        save_directory: PathLike,
        adapter_name: str | None = None,
        *,
        repo_id: str | None = None,
        samples: bool = True,
    ) -> Path:
        """Save one adapter (the only active one by default), with the base model's licence and credits on its card
        and, with ``samples``, ``samples.png``: this pipeline's grid with only that adapter applied.

        ``repo_id``: the Hub id the card's code loads it from (``push_to_hub`` passes it).
        """
        name = adapter_name or self._single_active("save_adapter")
        adapter = self.get_adapter(name)
        grid = None
        if samples:
            previous = (list(self._active_adapters), self._adapters_enabled)
            try:
                self._active_adapters, self._adapters_enabled = [name], True
                grid = self._quiet_sample_grid()
            finally:
                self._active_adapters, self._adapters_enabled = previous
        return adapter.save_pretrained(save_directory, card_data=self._adapter_card(adapter), repo_id=repo_id,
                                       samples=grid)  # fmt: skip

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

    # --- cards, samples and sharing ------------------------------------------------------------------
    def derived_card(self, fit: Any) -> dict[str, Any]:
        """The card data of a pipeline trained from this one by a recipe (``fit``: its ``FitOutput``): this one's
        licence, credits and record, the method's tags, this pipeline as ``base_model``, and the run's
        hyper-parameters under ``adaptation``."""
        card = {**self.card_data}
        card["tags"] = list(dict.fromkeys([*card.get("tags", []), *fit.card_data.get("tags", [])]))
        if self.name_or_path and "base_model" not in card:
            card["base_model"] = self.name_or_path
        card["adaptation"] = fit.hyperparameters  # the source's own record (data, recipe, scores) stays beside it
        return card

    def card_body(self, card_data: dict[str, Any], *, name: str | None = None) -> CardBody:
        """What this pipeline's card says besides its card data (subclasses describe themselves)."""
        parts = self._card_parts(card_data, name)
        cls = type(self).__name__
        usage = (f"from gan_transfer.pipelines import {cls}\n"
                 f"pipe = {cls}.from_pretrained({parts['load']!r})\nprint(pipe.components)")  # fmt: skip
        return CardBody(parts["template"], parts["title"], f"A `{cls}`.", usage, base_model=parts["base_model"],
                        extra=parts["extra"])  # fmt: skip

    def sample_grid(self, num_images: int = 8, seed: int = 0) -> PIL.Image.Image | None:
        """The card's sample grid: ``num_images`` drawn at a fixed ``seed`` with the active adapters (None: none)."""
        return None

    def is_adapted(self) -> bool:
        """True when this pipeline derives from a base model: adapted (its card records the adaptation or a base
        model) or running adapters. Its card then uses the adapted-pipeline template, not the source-GAN one."""
        return bool(self.card_data.get("adaptation") or self.card_data.get("base_model") or self.active_adapters)

    def _card_name(self, repo_id: str | None) -> str | None:
        """The id the cards' code loads: the repo pushed to, else an unchanged source's own name (None: unknown)."""
        return repo_id or (None if self.is_adapted() or not self.name_or_path else str(self.name_or_path))

    def _card_parts(self, card_data: dict[str, Any], name: str | None) -> dict[str, Any]:
        """What every pipeline card shares: template, title, the id its code loads, base model, held adapters."""
        adapted = self.is_adapted()
        load = self._card_name(name)
        base = card_data.get("base_model")
        if adapted and not base and not card_data.get("adaptation") and self.name_or_path:
            base = str(self.name_or_path)  # an unchanged source running adapters loaded onto it
        method = (card_data.get("adaptation") or {}).get("method")
        if load:
            title = str(load).rstrip("/").rsplit("/", 1)[-1]
        else:
            title = f"{type(self).__name__}" + (f" adapted with {method}" if method else "")
        held = [
            {"name": n, "kind": a.kind, "method": a.config.method, "active": n in self.active_adapters,
             "size": sum(t.numel() for t in a.state_dict().values())}
            for n, a in self._adapters.items()
        ]  # fmt: skip
        return {
            "template": "adapted_pipeline" if adapted else "source_gan",
            "title": title,
            "load": str(load) if load else PLACEHOLDER_ID,
            "base_model": base,
            "extra": {"adapters": held, "adapters_enabled": self._adapters_enabled},
        }

    def _saved_card_data(self) -> dict[str, Any]:
        """The card data every card of a saved pipeline is rendered from (its own card and its components'): this
        pipeline's, with the credits of every adapter it holds joined to its own and, for an unchanged source running
        adapters, its own name as the base model."""
        card = dict(self.card_data)
        held = [a.card_data.get("credits") for a in self._adapters.values()]
        credits = join_credits(card.pop("credits", None), *held)
        if credits:
            card["credits"] = credits
        base = self._card_parts(card, None)["base_model"]
        if base and not card.get("base_model"):
            card["base_model"] = base
        return card

    def _quiet_sample_grid(self) -> PIL.Image.Image | None:
        previous = self._progress_bar_config
        self._progress_bar_config = {**previous, "disable": True}
        try:
            return self.sample_grid()
        finally:
            self._progress_bar_config = previous

    def save_card(self, save_directory: PathLike, *, repo_id: str | None = None, samples: bool = True) -> Path:
        """(Re-)write the cards of a folder this pipeline was saved to (its own, its components' and its adapters'),
        with ``samples.png`` when ``samples``; weights and configs are left alone. Returns the pipeline card."""
        folder, where, card = Path(save_directory), self._card_name(repo_id), self._saved_card_data()
        for name, component in self.components.items():
            if component is not None:
                component.save_card(folder / name, card_data=card, repo_id=where, subfolder=name)
        for i, adapter in enumerate(self._adapters.values()):
            sub = f"{ADAPTERS_DIR}/{i}"
            adapter.save_card(folder / sub, card_data=self._adapter_card(adapter), repo_id=where, subfolder=sub)
        return self._save_root_card(folder, repo_id, samples)

    def _save_root_card(self, folder: Path, repo_id: str | None, samples: bool) -> Path:
        card = self._saved_card_data()
        body = self.card_body(card, name=repo_id)
        grid = self._quiet_sample_grid() if samples else None
        return save_card(folder, body, card, name=repo_id or body.title, samples=grid)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        adapter_name: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        commit_message: str | None = None,
        create_pr: bool = False,
    ) -> Any:
        """Upload this pipeline (or, with ``adapter_name``, only that adapter, with its card and samples) to
        ``repo_id``, creating the repo if needed; the card's code loads ``repo_id``. Returns the commit info.

        A bad repo id or an unknown adapter name is refused before anything is written or sent.
        """
        if adapter_name is None:
            what = type(self).__name__

            def save(folder: Path) -> Any:
                return self.save_pretrained(folder, repo_id=repo_id)
        else:
            what = f"adapter '{adapter_name}' ({self.get_adapter(adapter_name).kind})"

            def save(folder: Path) -> Any:
                return self.save_adapter(folder, adapter_name, repo_id=repo_id)

        return push_folder(save, repo_id, private=private, token=token, create_pr=create_pr,
                           commit_message=commit_message or f"Upload {what} with gan_transfer")  # fmt: skip

    # --- saving and loading ---------------------------------------------------------------------------
    def save_pretrained(self, save_directory: PathLike, *, repo_id: str | None = None, samples: bool = True) -> Path:
        """Write every component, every adapter, the card (+ ``samples.png`` when ``samples``: 8 images at seed 0),
        and ``model_index.json`` last (each file atomically). ``repo_id``: the Hub id the cards' code loads."""
        folder, where, card = Path(save_directory), self._card_name(repo_id), self._saved_card_data()
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {}
        for name, component in self.components.items():
            if component is not None:
                component.save_pretrained(folder / name, card_data=card, repo_id=where, subfolder=name)
                index[name] = [LIBRARY_NAME, type(component).__name__]
            else:
                index[name] = [None, None]
        entries = []
        for i, (name, adapter) in enumerate(self._adapters.items()):
            sub = f"{ADAPTERS_DIR}/{i}"
            adapter.save_pretrained(folder / sub, card_data=self._adapter_card(adapter), repo_id=where,
                                    subfolder=sub)  # fmt: skip
            entries.append({"name": name, "folder": sub})
        if entries:
            index["adapters"] = {"held": entries, "active": list(self._active_adapters),
                                 "enabled": self._adapters_enabled}  # fmt: skip
        self._save_root_card(folder, repo_id, samples)
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


def _as_list(value: Any) -> list[Any]:
    return [] if not value else [value] if isinstance(value, str) else list(value)
