"""The recipe template: what every method shares before and after its own training.

``Recipe.fit`` seeds every new layer from the config's seed (the caller's random state is left as it was), reads
the images once (anything ``load_images`` reads → an (N, C, R, R) tensor at the generator's
size), checks the class labels once (one per image, or one for all), hands both to the method's :meth:`Recipe.train`,
and then records what the run was: the method's registered name as its tag, and its hyper-parameters taken from the
config dataclass (every field but the run-time ones), on the result and on the adapter it made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ..data import ImagesLike, image_paths, load_images
from ..models import Discriminator, Generator
from ..registry import Registry
from .engine import GanTrainer, GeneratorSide, StepCallback, TrainConfig, TrainResult, prepare_output_dir

RECIPE_REGISTRY: Registry[type[Recipe]] = Registry("method")
# How a run is carried out, not what it learns:
RUNTIME_OPTIONS = ("output_dir", "resume", "overwrite", "progress", "cpu")


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: make a recipe reachable by its ``name`` (``pipe.adapt(..., method=name)``)."""
    return RECIPE_REGISTRY.register(cls.name)(cls)


def make_config(config_class: type[TrainConfig], overrides: dict[str, Any], method: str) -> TrainConfig:
    """A recipe config from keyword overrides, naming any unknown option.

    ``preset=NAME`` starts from the method's named set of values (``config_class.PRESETS[NAME]``); options given
    beside it win.
    """
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"Unknown option '{unknown[0]}' for method '{method}'; known: {', '.join(sorted(known))}.")
    preset = overrides.get("preset")
    if preset is not None:
        presets = config_class.PRESETS
        if preset not in presets:
            offered = ", ".join(presets) or "none"
            raise ValueError(f"Unknown preset '{preset}' for method '{method}'; its presets: {offered}.")
        overrides = {**presets[preset], **overrides}
    return config_class(**overrides)


def normalize_labels(class_labels: Any, num_images: int) -> torch.Tensor | None:
    """Class labels as a (N,) long tensor: one per image, or one label for every image; None stays None."""
    if class_labels is None:
        return None
    labels = torch.as_tensor(class_labels).long().reshape(-1)
    if labels.numel() == 1:
        labels = labels.expand(num_images).clone()
    if labels.numel() != num_images:
        raise ValueError(f"Got {labels.numel()} class labels for {num_images} images; give one per image (or one).")
    if num_images and labels.min() < 0:
        raise ValueError(f"class_labels must be 0 or more; got {int(labels.min())}.")
    return labels


@dataclasses.dataclass
class FitOutput:
    """What a method's ``train`` returns: new components and/or an adapter, and the run's record.

    ``config``: the config the run really used when the method resolved some defaults (e.g. TransferGAN's learning
    rate by image count); the template records its fields as the hyper-parameters.
    """

    generator: nn.Module | None = None
    discriminator: nn.Module | None = None
    encoder: nn.Module | None = None  # an image translator's encoder (TransferI2I)
    adapter: Any = None
    result: TrainResult | None = None
    config: Any = None
    card_data: dict[str, Any] = dataclasses.field(default_factory=dict)
    hyperparameters: dict[str, Any] = dataclasses.field(default_factory=dict)


class Recipe:
    """A method: ``name`` (what ``adapt(method=...)`` says), a dataclass ``config_class`` holding its paper's
    defaults, and ``train``, which returns new components and/or an adapter and never changes its inputs."""

    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]]
    translator: ClassVar[bool] = False  # True: it trains an image-to-image translator (an I2IPipeline), not a GAN

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.held_out: torch.Tensor | None = None  # set by fit when the config holds out a slice

    def fit(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: ImagesLike,
        class_labels: Sequence[int] | torch.Tensor | None = None,
        callbacks: Sequence[StepCallback] = (),
    ) -> FitOutput:
        """Read the inputs once, train, and record the run (tags and hyper-parameters)."""
        c = generator.config
        prepare_output_dir(self.config, image_paths(images))
        x = load_images(images, c.resolution, c.channels, purpose=f"method '{self.name}'")
        labels = normalize_labels(class_labels, x.shape[0])
        x, labels, self.held_out = self._hold_out(x, labels)
        with torch.random.fork_rng(devices=[]):  # new layers start from the config's seed; the caller's RNG is kept
            torch.manual_seed(self.config.seed)
            out = self.train(generator, discriminator, x, labels, callbacks)
        used = out.config or self.config
        record = {k: v for k, v in dataclasses.asdict(used).items() if k not in RUNTIME_OPTIONS}
        out.hyperparameters = {"method": self.name, "num_images": x.shape[0], **record, **out.hyperparameters}
        out.card_data["tags"] = list(dict.fromkeys([self.name, *out.card_data.get("tags", [])]))
        for model in (out.generator, out.discriminator, out.encoder):  # handed back trainable, in eval mode
            if model is not None:
                model.requires_grad_(True).eval()
        if out.adapter is not None:
            out.adapter.config.method = self.name
            out.adapter.config.hyperparameters = out.hyperparameters
            out.adapter.requires_grad_(False).eval()
        return out

    def _hold_out(
        self, x: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(training images, their labels, the held-out slice or None): ``holdout`` of the images, seeded."""
        share = self.config.holdout
        if not share:
            return x, labels, None
        if self.translator:
            raise ValueError(f"holdout={share}: method '{self.name}' translates images; it has no held-out scoring.")
        rng = torch.Generator().manual_seed(self.config.seed + 4)
        groups = [torch.arange(x.shape[0])] if labels is None else [
            torch.nonzero(labels == c).flatten() for c in labels.unique()]  # fmt: skip
        held_parts = []
        for group in groups:  # per class, so no class loses all its training images
            order = group[torch.randperm(len(group), generator=rng)]
            held_parts.append(order[: min(round(share * len(group)), len(group) - 1)])
        held = torch.cat(held_parts).sort().values
        kept = torch.ones(x.shape[0], dtype=torch.bool)
        kept[held] = False
        if len(held) < 2 or int(kept.sum()) < 2:
            raise ValueError(
                f"holdout={share} of {x.shape[0]} images holds out {len(held)} and trains on {int(kept.sum())}; "
                "the slice and the training set need at least 2 images each — give more images or change holdout."
            )
        return x[kept], None if labels is None else labels[kept], x[held]

    def trainer(self, config: TrainConfig, side: GeneratorSide, discriminator: nn.Module | None,
                images: torch.Tensor | None, **options: Any) -> GanTrainer:  # fmt: skip
        """The engine for one stage of this method, scoring the held-out slice when ``holdout`` is set."""
        return GanTrainer(config, side, discriminator, images, held_out=self.held_out, **options)

    def train(
        self,
        generator: Generator,
        discriminator: Discriminator | None,
        images: torch.Tensor,
        class_labels: torch.Tensor | None,
        callbacks: Sequence[StepCallback],
    ) -> FitOutput:
        """The method itself: ``images`` (N, C, R, R) in [-1, 1], ``class_labels`` (N,) or None."""
        raise NotImplementedError
