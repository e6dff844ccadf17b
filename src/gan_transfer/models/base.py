"""What every generator and discriminator offers, whatever its family (the contract in DESIGN.md)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..hub import CLASS_KEY, PLACEHOLDER_ID, CardBody, HubMixin
from ..latents import sample_latents
from ..options import AT_LEAST_ONE, NON_NEGATIVE, Range, check_fields
from ..registry import Registry
from .layers import NormLayer, TruncationStats

MODEL_REGISTRY: Registry[type[GanModel]] = Registry("model class")


@dataclasses.dataclass
class ModelConfig:
    """Fields shared by every model config; families add their own."""

    resolution: int
    num_classes: int = 0
    channels: int = 3
    class_names: tuple[str, ...] = ()  # optional names of the classes, usable as labels (one per class)

    RANGES: ClassVar[dict[str, Range]] = {
        "resolution": AT_LEAST_ONE, "num_classes": NON_NEGATIVE, "width": AT_LEAST_ONE, "z_dim": NON_NEGATIVE,
        "shared_dim": AT_LEAST_ONE, "channel_multipliers": AT_LEAST_ONE, "attention_resolution": NON_NEGATIVE,
    }  # fmt: skip

    def __post_init__(self) -> None:
        check_fields(self)  # types (JSON lists become tuples) and ranges, one sentence naming the field
        if self.channels not in (1, 3):
            raise ValueError(f"channels={self.channels}: use 1 (grayscale) or 3 (RGB).")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(
                f"{len(self.class_names)} class names for {self.num_classes} classes; give one name per class."
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class GanModel(nn.Module, HubMixin):
    """A generator or discriminator built from keywords (or a config) and saved as config + safetensors."""

    registry = MODEL_REGISTRY
    config_class: ClassVar[type[ModelConfig]]

    def __init__(self, config: ModelConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        if config is None:
            config = self.make_config(kwargs, source=type(self).__name__)
        elif kwargs:
            raise TypeError("Pass either a config or keywords, not both.")
        self.config = config
        self.card_data: dict[str, Any] = {}

    @classmethod
    def make_config(cls, fields: dict[str, Any], source: str) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(
                f"Unknown option '{unknown[0]}' for {cls.__name__} in {source}; known: {', '.join(sorted(known))}."
            )
        if "resolution" not in fields:
            raise ValueError(f"{cls.__name__} needs a resolution (e.g. resolution=32).")
        return cls.config_class(**fields)

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    @staticmethod
    def members(entries: Sequence[dict[str, Any]], given: Sequence[GanModel] | None, source: str) -> nn.ModuleList:
        """A composite model's members: ``given`` ones (shared, not copied), or fresh ones built from their stamped
        configs ``entries``, each class from the registry."""
        if given is not None:
            return nn.ModuleList(given)
        built = []
        for entry in entries:
            cls = MODEL_REGISTRY.get(entry[CLASS_KEY])
            built.append(cls(cls.make_config({k: v for k, v in entry.items() if not k.startswith("_")}, source)))
        return nn.ModuleList(built)

    @classmethod
    def _from_config_dict(cls, class_name: str, fields: dict[str, Any], source: str) -> GanModel:
        return cls(cls.make_config(fields, source))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def card_body(
        self, card_data: Mapping[str, Any], *, name: str | None = None, subfolder: str | None = None
    ) -> CardBody:
        """A component's card: the source-GAN template, or the adapted-pipeline one once it has a base model."""
        cls = type(self).__name__
        rows = "\n".join(f"| {k} | {v} |" for k, v in self.config.to_dict().items())
        where = f", the `{subfolder}` of the pipeline in this repository" if subfolder else ""
        description = (f"A `{cls}` ({self.num_parameters():,} parameters) saved with gan_transfer{where}.\n\n"
                       f"| option | value |\n|---|---|\n{rows}")  # fmt: skip
        at = f"{name or PLACEHOLDER_ID!r}" + (f", subfolder={subfolder!r}" if subfolder else "")
        usage = f"from gan_transfer.models import {cls}\nmodel = {cls}.from_pretrained({at})\nprint(model.config)"
        title = f"{name.rsplit('/', 1)[-1]}: {subfolder}" if name and subfolder else (name or cls).rsplit("/", 1)[-1]
        adapted = bool(card_data.get("adaptation") or card_data.get("base_model"))
        return CardBody("adapted_pipeline" if adapted else "source_gan", title, description, usage)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


class Generator(GanModel):
    """``forward(z, class_labels=None, class_embedding=None)`` → images in [-1, 1] of shape (B, C, R, R).

    Class-conditional generators turn labels into a class embedding with :meth:`embed_classes`; passing a
    ``class_embedding`` directly (e.g. from a class miner) bypasses the labels. ``class_embedding_dim`` is its width.
    Normalisation layers are :class:`NormLayer` modules (see :meth:`normalization_layers`); the outputs of the
    modules in :meth:`block_modules` are the generator's feature maps: "stem" (the first, (B, C, b, b)) and
    "blocks.i".
    """

    class_embedding_dim: int
    discriminator_class: ClassVar[type[Discriminator]]
    first_feature_map: nn.Module
    blocks: nn.ModuleList

    def embed_classes(self, class_labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def class_embedding_module(self) -> nn.Module | None:
        """The module that maps labels to a learned class embedding (BigGAN's shared embedding), if any.

        None when the embedding is a class mix (one-hot rows) and the classes live in per-class BN tables.
        """
        return None

    def build_discriminator(self, **overrides: Any) -> Discriminator:
        """A fresh discriminator of this family for the same resolution, channels, classes and width."""
        c = self.config
        fields = {"resolution": c.resolution, "channels": c.channels, "num_classes": c.num_classes}
        fields["width"] = getattr(c, "width", 64)
        return self.discriminator_class(**{**fields, **overrides})

    def conditional_copy(self, num_classes: int) -> Generator:
        """A class-conditional copy of this unconditional generator where every class starts as the source.

        All weights are copied; each normalisation layer takes the source's γ/β for every class (TransferGAN's
        "Cond BNorm"), so at initialisation every class draws exactly the source's images.
        """
        if self.config.num_classes:
            raise ValueError(f"This generator is already class-conditional ({self.config.num_classes} classes).")
        if num_classes < 1:
            raise ValueError(f"num_classes={num_classes}: a conditional generator needs at least one class.")
        target = type(self)(self.conditional_config(num_classes)).to(self.device, self.dtype)
        own_norms, new_norms = self.normalization_layers(), target.normalization_layers()
        norm_keys = tuple(f"{name}." for name in new_norms)
        source = self.state_dict()
        with torch.no_grad():
            for key, value in target.state_dict().items():
                if not key.startswith(norm_keys) and key in source and source[key].shape == value.shape:
                    value.copy_(source[key])
        for name, layer in new_norms.items():
            layer.init_from_unconditional(own_norms[name])
        target.card_data = dict(self.card_data)
        return target.train(self.training)

    def conditional_config(self, num_classes: int) -> ModelConfig:
        """The config of this generator's class-conditional copy (families with a choice of conditioning say which)."""
        return dataclasses.replace(self.config, num_classes=num_classes)

    def sample_latents(
        self, num: int, truncation: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``num`` latents as pipelines draw them at ``truncation`` (BigGAN's truncated normal, scaled; families
        that truncate elsewhere, as StyleGAN2 in W, draw N(0, I) and take ψ in :meth:`set_truncation`)."""
        return sample_latents(num, self.config.z_dim, truncation, generator)

    def for_inference(self) -> Generator:
        """A frozen copy for drawing only: spectral norms baked into plain weights (W/σ computed once, not on every
        call), channels-last memory, eval mode, no gradients. Same images up to float rounding; train the original."""
        # A fresh instance, not a deepcopy: a copy shares its parametrized classes with the original, and removing
        # a parametrization edits the class.
        g = type(self)(self.config).to(self.device, self.dtype)
        g.load_state_dict(self.state_dict())
        g.card_data = dict(self.card_data)
        for mine, theirs in zip(self.modules(), g.modules(), strict=True):
            if isinstance(mine, TruncationStats):
                theirs.truncation = mine.truncation
        g.eval().requires_grad_(False)
        for module in g.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return g.to(memory_format=torch.channels_last)

    def set_truncation(self, truncation: float) -> None:
        """Tell the layers that depend on the truncation (BigGAN-deep's per-truncation batch statistics) which one
        the next images are drawn at; other families have none, and composite models pass it to their members.
        Prefer :meth:`truncated`, which puts it back."""
        for module in self.modules():
            if module is not self and isinstance(module, (TruncationStats, Generator)):
                module.set_truncation(truncation)

    @contextlib.contextmanager
    def truncated(self, truncation: float) -> Iterator[Generator]:
        """Draw at ``truncation`` inside the block (pipelines, per call), then back at 1.0, the setting training
        and every other caller sees: a truncated call leaves nothing behind."""
        self.set_truncation(truncation)
        try:
            yield self
        finally:
            self.set_truncation(1.0)

    def normalization_layers(self) -> dict[str, NormLayer]:
        return {name: m for name, m in self.named_modules() if isinstance(m, NormLayer)}

    def block_modules(self) -> dict[str, nn.Module]:
        """The modules whose outputs are the feature maps: ``first_feature_map`` (named "stem") and ``blocks``.

        Families built as stem → blocks (all three here) declare those two attributes; others override this.
        """
        return {"stem": self.first_feature_map, **{f"blocks.{i}": b for i, b in enumerate(self.blocks)}}

    def intermediate_latent(self) -> nn.Module | None:
        """The module whose output is an intermediate latent space (StyleGAN2's mapping network: w), which a
        miner may move instead of z; None for families with none."""
        return None

    def input_modules(self) -> dict[str, nn.Module]:
        """The modules that run before the first block (z projection, class embedding, the named first map).

        Families register them before ``blocks`` (all three here do); others override this.
        """
        out: dict[str, nn.Module] = {}
        for name, child in self.named_children():
            if name == "blocks":
                return out
            out[name] = child
        raise NotImplementedError(f"{type(self).__name__} has no 'blocks'; override input_modules.")

    def class_condition(
        self, batch: int, class_labels: torch.Tensor | None, class_embedding: torch.Tensor | None
    ) -> torch.Tensor | None:
        """The class embedding to condition on (None for unconditional generators), with clear errors."""
        if self.config.num_classes == 0:
            if class_labels is not None or class_embedding is not None:
                raise ValueError("This generator is unconditional: leave class_labels and class_embedding unset.")
            return None
        if class_embedding is not None:
            if class_embedding.shape != (batch, self.class_embedding_dim):
                raise ValueError(
                    f"class_embedding has shape {tuple(class_embedding.shape)}; expected "
                    f"({batch}, {self.class_embedding_dim})."
                )
            return class_embedding.to(self.dtype)
        if class_labels is None:
            raise ValueError(
                f"This generator is class-conditional ({self.config.num_classes} classes): pass class_labels."
            )
        class_labels = torch.as_tensor(class_labels, device=self.device).long().reshape(-1)
        if class_labels.shape[0] != batch:
            raise ValueError(f"Got {class_labels.shape[0]} class labels for {batch} latents; give one per latent.")
        if class_labels.numel() and (class_labels.min() < 0 or class_labels.max() >= self.config.num_classes):
            raise ValueError(f"class_labels must lie in 0..{self.config.num_classes - 1}; got {class_labels.tolist()}.")
        return self.embed_classes(class_labels)


class Discriminator(GanModel):
    """``forward(x, class_labels=None)`` → (B,) logits; ``features(x)`` → the output of every block.

    ``blocks`` is the ModuleList of its blocks (input first). Discriminators with an auxiliary classifier
    (``has_classifier``) also offer ``classify(x)`` → (B, num_classes) logits.
    """

    blocks: nn.ModuleList
    has_classifier: bool = False

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError(f"{type(self).__name__} has no auxiliary classifier.")

    def with_num_classes(self, num_classes: int) -> Discriminator:
        """A copy for another number of classes (0 = unconditional). Shared weights are copied; class-indexed
        tensors (projection embedding, classifier rows: the ones whose first dimension follows the class count)
        keep the rows of the classes both have, and new classes start at random."""
        if num_classes == self.config.num_classes:
            raise ValueError(f"This discriminator already has num_classes={num_classes}.")
        target = type(self)(dataclasses.replace(self.config, num_classes=num_classes)).to(self.device, self.dtype)
        source = self.state_dict()
        with torch.no_grad():
            for key, value in target.state_dict().items():
                if key not in source:
                    continue
                old = source[key]
                if old.shape == value.shape:
                    value.copy_(old)
                elif old.ndim == value.ndim and old.shape[1:] == value.shape[1:] and self.config.num_classes:
                    rows = min(old.shape[0], value.shape[0])
                    value[:rows].copy_(old[:rows])
        target.card_data = dict(self.card_data)
        return target.train(self.training)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError
