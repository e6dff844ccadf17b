"""The adapter format and how a pipeline holds adapters.

An adapter is a small module saved as ``adapter_config.json`` + ``adapter_model.safetensors`` (+ card). It changes
what a generator computes only while its pipeline runs it: forward hooks on the generator's named modules and/or a
rewrite of the generator's inputs (latents, labels, class embedding), installed for the duration of one call and
removed afterwards. So no base weight ever changes, outputs with adapters disabled are bit-identical to the base,
and two pipelines sharing one generator never see each other's adapters.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from .._version import __version__
from ..hub import GENERATION_TASK, PLACEHOLDER_ID, TRANSLATION_TASK, CardBody, HubMixin
from ..models import Generator
from ..registry import Registry

ADAPTER_REGISTRY: Registry[type[Adapter]] = Registry("adapter kind")

Hook = Callable[[nn.Module, tuple[Any, ...], Any], Any]
Inputs = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]  # z, class_labels, class_embedding


@dataclasses.dataclass
class CallContext:
    """What one generator call tells its adapters' input rewriters and hooks (never stored on an adapter).

    ``class_labels`` are the labels the caller asked for, adapter-added class ids included, before any adapter
    rewrote them; :func:`attach` sets them for every batch.
    """

    generator: Generator
    class_labels: torch.Tensor | None = None
    features: list[torch.Tensor] | None = None  # per level, what an image-conditioned adapter adds (TransferI2I)


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

    ``__init__`` keywords are recorded in ``config.kwargs`` so the same tensors can be rebuilt when loading. What an
    adapter can do beyond that it declares here, not through attributes a pipeline has to probe for:
    :meth:`extra_classes`, :attr:`provides_class_embedding`, :attr:`selector_probabilities`.
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
        """Raise a clear error when this adapter's tensors do not fit ``generator``'s layers (no side effects)."""

    def hooks(self, generator: Generator, context: CallContext) -> list[tuple[nn.Module, Hook]]:
        """Forward hooks (module, hook) installed on ``generator`` while the adapter is active."""
        return []

    def transform_inputs(self, z: torch.Tensor, class_labels, class_embedding, context: CallContext) -> Inputs:
        """Rewrite the generator's inputs (latent adapters such as miners)."""
        return z, class_labels, class_embedding

    # --- what an adapter declares ----------------------------------------------------------------------
    def extra_classes(self, generator: Generator) -> int:
        """Class ids this adapter adds beyond ``generator``'s own (they follow the generator's ids)."""
        return 0

    @property
    def provides_class_embedding(self) -> bool:
        """True when the adapter chooses the class embedding itself, so a pipeline draws no class labels."""
        return False

    @property
    def selector_probabilities(self) -> list[float] | None:
        """For adapters that choose among several sources: how often each is drawn (summing to 1)."""
        return None

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

    def card_body(
        self, card_data: Mapping[str, Any], *, name: str | None = None, subfolder: str | None = None
    ) -> CardBody:
        """An adapter's card: the adapter template (its base model, hash, hyper-parameters and own scores)."""
        c = self.config
        size = sum(p.numel() for p in self.state_dict().values())
        translator = c.kind == "i2i_adaptor"
        pipeline = "I2IPipeline" if translator else "GanPipeline"
        description = (
            f"A `{c.kind}` adapter" + (f" trained with `{c.method}`" if c.method else "") + f" ({size:,} values). "
            "It changes what its base model's generator draws while a pipeline runs it, without changing a single "
            "base weight; with adapters disabled the pipeline draws exactly the base model's images."
        )
        if subfolder:  # held in a saved pipeline: loading the pipeline re-attaches it
            lines = [f"from gan_transfer import {pipeline}",
                     f"pipe = {pipeline}.from_pretrained({name or PLACEHOLDER_ID!r})  # re-attaches {subfolder}",
                     "print(pipe.list_adapters(), pipe.active_adapters)"]  # fmt: skip
        else:
            call = "pipe('photo.png', target_class=1).images" if translator else "pipe(num_images=8).images"
            lines = [f"from gan_transfer import {pipeline}",
                     f"pipe = {pipeline}.from_pretrained({c.base_model or 'BASE_MODEL'!r})",
                     f"pipe.load_adapter({name or PLACEHOLDER_ID!r}, adapter_name={c.method or 'default'!r})",
                     f"images = {call}"]  # fmt: skip
        title = (name or f"{c.method or c.kind} adapter").rsplit("/", 1)[-1]
        caption = (("Top row: images the translator's generator draws in class 0; bottom row: their translations"
                    if translator else "8 samples of the base model with this adapter applied")
                   + ", drawn with `torch.Generator().manual_seed(0)`.")  # fmt: skip
        options = {k: v for k, v in c.hyperparameters.items() if k != "metrics"}
        extra = {"hyperparameters": options, "base_hash": c.base_model_hash,
                 "base_revision": c.base_model_revision, "samples_caption": caption}  # fmt: skip
        return CardBody("adapter", title, description, "\n".join(lines),
                        task=TRANSLATION_TASK if translator else GENERATION_TASK, metrics=dict(c.metrics),
                        base_model=c.base_model, extra=extra)  # fmt: skip


@contextlib.contextmanager
def attach(
    adapters: list[Adapter], generator: Generator, context: CallContext | None = None
) -> Iterator[Callable[..., Inputs]]:
    """Install ``adapters``' hooks on ``generator`` (in order) for the block; yield their composed input rewriter.

    The one place hooks go on and come off: pipelines use it per call, recipes while training. The rewriter records
    each batch's requested class labels in the call's :class:`CallContext` (pass ``context`` to set them yourself
    when calling the generator without the rewriter).
    """
    context = context or CallContext(generator)
    handles = []
    try:
        for adapter in adapters:
            for module, hook in adapter.hooks(generator, context):
                handles.append(module.register_forward_hook(hook))

        def transform(z: torch.Tensor, class_labels=None, class_embedding=None) -> Inputs:
            context.class_labels = None if class_labels is None else torch.as_tensor(class_labels, device=z.device)
            inputs: Inputs = (z, class_labels, class_embedding)
            for adapter in adapters:
                inputs = adapter.transform_inputs(*inputs, context)
            return inputs

        yield transform
    finally:
        for handle in handles:
            handle.remove()
