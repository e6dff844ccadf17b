"""GanPipeline: generate from a (maybe adapted) GAN, save it, load it, share it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import PIL.Image
import torch
from tqdm.auto import tqdm

from .. import zoo  # noqa: F401  (registers the bundled names gan-transfer/NAME)
from ..hub import CardBody, resolve_file
from ..latents import check_generator
from ..memory import available_memory, gib
from ..models import Discriminator, Generator, MultiSourceGenerator
from ..rendering import make_image_grid, to_pil
from .base import Pipeline
from .outputs import GanPipelineOutput

if TYPE_CHECKING:
    from ..recipes.auto import Choice

OUTPUT_TYPES = ("pil", "np", "pt")
DRAW_BLOCK = 1024  # latents and labels are drawn this many images at a time (bounded memory, batch-size-free)


def to_output_type(images: torch.Tensor, output_type: str) -> Any:
    """(N, C, H, W) images in [-1, 1] → PIL list, NHWC array or NCHW tensor in [0, 1]."""
    if output_type == "pil":
        return to_pil(images)
    images = ((images.float().cpu() + 1) / 2).clamp(0, 1)
    return images if output_type == "pt" else images.permute(0, 2, 3, 1).numpy()


class GanPipeline(Pipeline):
    """A generator (+ the discriminator it was trained with) behind one call.

    >>> pipe = GanPipeline(generator=ResNetGenerator(resolution=32))
    >>> out = pipe(num_images=4, generator=torch.Generator().manual_seed(0))
    >>> out.images  # four PIL images
    """

    component_types: ClassVar[dict[str, tuple[type, bool]]] = {
        "generator": (Generator, True),
        "discriminator": (Discriminator, False),
    }
    generator: Generator
    discriminator: Discriminator | None

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator | None = None,
        *,
        card_data: dict[str, Any] | None = None,
        name_or_path: str | None = None,
    ) -> None:
        super().__init__(card_data=card_data, name_or_path=name_or_path)
        self.register_modules(generator=generator, discriminator=discriminator)
        self.training_result: Any = None  # set by adapt(): losses per step, wall-clock

    @classmethod
    def from_sources(cls, pipelines: list[GanPipeline]) -> GanPipeline:
        """Compose source pipelines into one (for multi-source MineGAN): a :class:`MultiSourceGenerator` over
        their generators, the first pipeline's discriminator, and every source's licence, datasets and credits."""
        generator = MultiSourceGenerator.from_generators([p.generator for p in pipelines])
        credits = [p.card_data.get("credits") for p in pipelines if p.card_data.get("credits")]
        licenses = sorted({p.card_data["license"] for p in pipelines if p.card_data.get("license")})
        card: dict[str, Any] = {"credits": "\n\n".join(dict.fromkeys(credits))} if credits else {}
        datasets: list[str] = []
        for p in pipelines:
            value = p.card_data.get("datasets") or []
            datasets += [value] if isinstance(value, str) else list(value)
        if datasets:
            card["datasets"] = list(dict.fromkeys(datasets))
        if licenses:
            card["license"] = licenses[0] if len(licenses) == 1 else "other"
            if len(licenses) > 1:
                card["license_name"] = " + ".join(licenses)
        names = [p.name_or_path for p in pipelines if p.name_or_path]
        if names:
            card["base_model"] = names
        return cls(generator, pipelines[0].discriminator, card_data=card)

    @classmethod
    def from_checkpoint(
        cls,
        path_or_hub_file: str | Path,
        format: str | None = None,
        *,
        card_data: dict[str, Any] | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **options: Any,
    ) -> GanPipeline:
        """A pipeline from someone else's checkpoint file (a local path or ``hf://owner/repo/file``).

        ``format``: a registered layout (``gan_transfer.convert.CHECKPOINT_FORMATS``; e.g. ``"dcgan"``), or None to
        recognise it. ``options`` go to the format (``class_names``, ``num_classes``, ``resolution``,
        ``discriminator``: the critic's file where the format ships one, …). The files are read without running
        pickled code. ``card_data``: licence, credits, … for the card.
        """
        from ..convert import convert_checkpoint  # pipelines → convert, imported when first used

        hub = dict(revision=revision, local_files_only=local_files_only, token=token)
        path = resolve_file(path_or_hub_file, **hub)
        if options.get("discriminator") is not None:  # formats that ship a critic take it as a second file
            options["discriminator"] = resolve_file(options["discriminator"], **hub)
        converted = convert_checkpoint(path, format, **options)
        card = {**converted.card_data, **(card_data or {})}
        return cls(converted.generator, converted.discriminator, card_data=card)

    @property
    def selector_probabilities(self) -> list[float] | None:
        """MineGAN's p_i (one per source, summing to 1) of the active multi-source miner, if any."""
        for adapter in self._active():
            if adapter.selector_probabilities is not None:
                return adapter.selector_probabilities
        return None

    # --- generating -----------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        num_images: int = 1,
        class_labels: int | str | list[int | str] | torch.Tensor | None = None,
        truncation: float = 1.0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        batch_size: int = 64,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> GanPipelineOutput | tuple[Any, torch.Tensor, torch.Tensor | None]:
        """Generate ``num_images`` images (or one per row of ``latents``), all held in memory at once.

        ``class_labels``: one int (or class name) for all, or one per image; drawn uniformly from ``generator`` when a
        class-conditional model gets none. ``truncation``: see :func:`sample_latents`. Seeded calls are
        reproducible; the images do not depend on ``batch_size`` beyond float rounding. More images than memory
        holds are refused before any is drawn: stream them with :meth:`generate_batches`.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type='{output_type}': use one of {', '.join(OUTPUT_TYPES)}.")
        self._check_fits_in_memory(num_images if latents is None else len(latents))
        parts = list(self._batches(num_images, class_labels, truncation, generator, latents, batch_size))
        images = to_output_type(torch.cat([p[0] for p in parts]), output_type)
        latents = torch.cat([p[1] for p in parts])
        labels = None if parts[0][2] is None else torch.cat([p[2] for p in parts])
        if not return_dict:
            return images, latents, labels
        return GanPipelineOutput(images=images, latents=latents, class_labels=labels)

    def generate_batches(
        self,
        num_images: int = 1,
        class_labels: int | str | list[int | str] | torch.Tensor | None = None,
        truncation: float = 1.0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        batch_size: int = 64,
        output_type: str = "pil",
    ) -> Iterator[GanPipelineOutput]:
        """Generate like :meth:`__call__`, one batch at a time, so memory stays bounded by ``batch_size``.

        The same seeded call gives the same images, in the same order, as ``pipe(...)``; latents and labels are drawn
        per block of :data:`DRAW_BLOCK` images, so millions of images never sit in memory at once.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type='{output_type}': use one of {', '.join(OUTPUT_TYPES)}.")
        for images, z, labels in self._batches(num_images, class_labels, truncation, generator, latents, batch_size):
            yield GanPipelineOutput(images=to_output_type(images, output_type), latents=z, class_labels=labels)

    def _batches(
        self,
        num_images: int,
        class_labels: Any,
        truncation: float,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
        batch_size: int,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """(images in [-1, 1] on the CPU, latents, labels) per batch; draws made block by block (latents, then
        labels), so a call of up to DRAW_BLOCK images draws exactly as one draw of everything would."""
        g = self.generator
        check_generator(generator)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: use a whole number of at least 1.")
        if latents is None:
            if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
                raise ValueError(f"num_images={num_images!r}: ask for a whole number of at least one image.")
            g.sample_latents(0, truncation)  # checks the truncation before anything runs
        elif latents.ndim != 2 or latents.shape[1] != g.config.z_dim:
            raise ValueError(f"latents have shape {tuple(latents.shape)}; expected (N, {g.config.z_dim}).")
        num = num_images if latents is None else latents.shape[0]
        given = self._given_labels(class_labels, num)
        for block in range(0, num, DRAW_BLOCK):
            size = min(DRAW_BLOCK, num - block)
            z_block = (g.sample_latents(size, truncation, generator) if latents is None
                       else latents[block : block + size])  # fmt: skip
            y_block = self._drawn_labels(size, generator) if given is None else given[block : block + size]
            starts = range(0, size, batch_size)
            for start in tqdm(starts, desc="Generating", leave=False, **self._progress_bar_config):
                z = z_block[start : start + batch_size]
                y = None if y_block is None else y_block[start : start + batch_size]
                yield self._draw(z, y, truncation), z, y

    @torch.no_grad()
    def _draw(self, z: torch.Tensor, y: torch.Tensor | None, truncation: float) -> torch.Tensor:
        """One batch through the generator with the active adapters, in eval mode, at ``truncation`` (ψ in W,
        BigGAN-deep's statistics row; the latents carry BigGAN's own); images on the CPU."""
        g = self.generator
        was_training = g.training
        g.eval()
        try:
            with self.applied_adapters() as transform, g.truncated(truncation):
                inputs = transform(z.to(device=g.device, dtype=g.dtype), None if y is None else y.to(g.device), None)
                return g(inputs[0], class_labels=inputs[1], class_embedding=inputs[2]).float().cpu()
        finally:
            g.train(was_training)

    def _check_fits_in_memory(self, num_images: int) -> None:
        """Refuse, before drawing anything, a call whose images would not fit in the memory this machine has free."""
        if not isinstance(num_images, int) or num_images < 1:
            return  # _batches names the problem
        c = self.generator.config
        needed = num_images * c.channels * c.resolution**2 * 4 * 2  # float images, then their output form
        free = available_memory()
        if free is not None and needed > free:
            raise MemoryError(
                f"num_images={num_images:,} would hold {gib(needed)} of images at once ({gib(free)} free)"
                f"; stream them with pipe.generate_batches(...) or "
                "gan-transfer generate --output FOLDER/, which writes each batch as it comes."
            )

    def _label_count(self) -> tuple[int, bool]:
        """(class ids the active model draws from, whether an active class miner chooses the class itself)."""
        active = self._active()
        k = self.generator.config.num_classes + sum(a.extra_classes(self.generator) for a in active)
        return k, any(a.provides_class_embedding for a in active)

    def _given_labels(self, class_labels: Any, num: int) -> torch.Tensor | None:
        """The caller's labels as a (num,) long tensor, checked against the model; None when none were given."""
        k, _ = self._label_count()
        if class_labels is None:
            return None
        if k == 0:
            raise ValueError("This model is unconditional: leave class_labels unset.")
        labels = torch.as_tensor(self.class_ids(class_labels), dtype=torch.long).reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(num).clone()
        if labels.numel() != num:
            raise ValueError(f"Got {labels.numel()} class labels for {num} images; give one label or one per image.")
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"class_labels must lie in 0..{k - 1}; got {labels.tolist()}.")
        return labels

    def _drawn_labels(self, num: int, generator: torch.Generator | None) -> torch.Tensor | None:
        """Labels drawn uniformly for a conditional model given none (none for an active class miner)."""
        k, mined = self._label_count()
        if k == 0 or mined:
            return None
        return torch.randint(0, k, (num,), generator=generator)

    # --- adapting ------------------------------------------------------------------------------------
    def adapt(
        self,
        images: Any,
        method: str | Choice = "transfer_gan",
        *,
        class_labels: Any = None,
        callbacks: Any = (),
        **options: Any,
    ) -> GanPipeline:
        """Adapt to ``images`` with ``method``; returns a new pipeline and leaves this one untouched.

        ``options`` override the method's paper defaults (e.g. ``steps=500``, ``output_dir="run"``,
        ``resume=True``, ``preset="few-shot"``). ``images``: a folder, paths, PIL images, an array, a tensor or a
        ``datasets.Dataset``. ``method="auto"`` picks the method and preset with :meth:`choose_method` (or pass the
        ``Choice`` it returned); the choice is recorded on the result's card as ``adaptation.auto``, and
        ``options`` still win over it.
        """
        from ..recipes import get_recipe  # pipelines → recipes, imported when first used
        from ..recipes.auto import Choice

        choice = self.choose_method(images, class_labels) if method == "auto" else method
        if isinstance(choice, Choice):
            method, options = choice.method, {**choice.options, **options}
        else:
            choice = None
        try:
            recipe = get_recipe(method, **options)
        except ValueError as e:
            if choice is None:
                raise
            raise ValueError(f"method='auto' chose '{method}' ({choice.reason}); {e}") from None
        if recipe.translator:
            raise ValueError(
                f"Method '{method}' trains an image-to-image translator, not a GAN: use "
                "I2IPipeline.from_gan(pipe, images_a, images_b) (or gan-transfer translate train)."
            )
        with self.disable_adapters():
            out = recipe.fit(self.generator, self.discriminator, images, class_labels=class_labels, callbacks=callbacks)
        if choice is not None:
            out.hyperparameters["auto"] = choice.to_dict()  # what method="auto" chose, and why
            if out.adapter is not None:
                out.adapter.config.hyperparameters = out.hyperparameters
        card = self.derived_card(out)
        same_generator = out.generator is None  # adapter methods keep the base, so they keep its name too
        pipe = GanPipeline(
            out.generator or self.generator,
            out.discriminator or self.discriminator,
            card_data=card,
            name_or_path=self.name_or_path if same_generator else None,
        )
        pipe.set_progress_bar_config(**self._progress_bar_config)
        if out.adapter is not None:
            pipe.add_adapter(out.adapter, method)
        pipe.training_result = out.result
        return pipe

    def choose_method(self, images: Any, class_labels: Any = None, *, num_samples: int = 200) -> Choice:
        """What ``adapt(images, method="auto")`` would train: a :class:`~gan_transfer.recipes.auto.Choice` (method,
        options, the reason in one sentence, and the KID (EfficientNet-Lite0) of ``num_samples`` source samples
        against ``images`` when the rule needs it). Trains nothing; the source is measured without its adapters."""
        from ..data import load_images
        from ..metrics import evaluate
        from ..recipes.auto import choose_method
        from ..recipes.base import normalize_labels

        g = self.generator
        x = load_images(images, g.config.resolution, g.config.channels, min_images=2,
                        purpose="method 'auto' (it compares them with the source's samples)")  # fmt: skip
        labels = normalize_labels(class_labels, x.shape[0])
        facts = {"labelled": labels is not None, "conditional": bool(g.config.num_classes),
                 "has_discriminator": self.discriminator is not None,
                 "multi_source": isinstance(g, MultiSourceGenerator)}  # fmt: skip
        kid = None
        if labels is None and not facts["multi_source"]:
            with self.disable_adapters():
                report = evaluate(self, (x + 1) / 2, ["kid"], num_samples=num_samples,
                                  kid_subset_size=min(len(x), num_samples))  # [0, 1]: read back exactly as x
            kid = report["kid"]
        return choose_method(len(x), kid=kid, **facts)

    # --- card ----------------------------------------------------------------------------------------------
    def sample_grid(self, num_images: int = 8, seed: int = 0) -> PIL.Image.Image:
        """``num_images`` images in a row, drawn with ``torch.Generator().manual_seed(seed)`` and the active
        adapters (the card's ``samples.png``)."""
        out = self(num_images=num_images, generator=torch.Generator().manual_seed(seed))
        return make_image_grid(out.images, cols=num_images)

    def card_body(self, card_data: dict[str, Any], *, name: str | None = None) -> CardBody:
        parts = self._card_parts(card_data, name)
        g, d = self.generator, self.discriminator
        kind = f"class-conditional ({g.config.num_classes} classes)" if g.config.num_classes else "unconditional"
        description = (
            f"{'An' if kind[0] in 'aeiou' else 'A'} {kind} `{type(g).__name__}` at {g.config.resolution} px "
            f"({g.num_parameters():,} parameters)"
            + (f" with its `{type(d).__name__}` ({d.num_parameters():,} parameters)." if d else ".")
        )
        if g.config.class_names:
            description += f" Classes: {', '.join(g.config.class_names)}."
        method = (card_data.get("adaptation") or {}).get("method")
        if method:
            description += f" Adapted with `{method}` (the Adaptation section has every option)."
        usage = "\n".join([
            "from gan_transfer import GanPipeline",
            f"pipe = GanPipeline.from_pretrained({parts['load']!r})",
            "images = pipe(num_images=8).images  # a list of PIL images",
        ])  # fmt: skip
        active = self.active_adapters
        caption = ("8 samples drawn with `generator=torch.Generator().manual_seed(0)`"
                   + (f", adapters {', '.join(f'`{n}`' for n in active)} applied." if active else "."))  # fmt: skip
        return CardBody(parts["template"], parts["title"], description, usage, base_model=parts["base_model"],
                        extra={**parts["extra"], "samples_caption": caption})  # fmt: skip
