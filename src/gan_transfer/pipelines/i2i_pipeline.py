"""I2IPipeline: translate images into another domain or class with a translator built from a pretrained GAN.

>>> gan = GanPipeline.from_pretrained("gan-transfer/emoji-google")
>>> i2i = I2IPipeline.from_gan(gan, "google_emoji/", "twitter_emoji/", steps=2000)    # two-class
>>> out = i2i(photo, target_class=1, num_variants=4, generator=torch.Generator().manual_seed(0))
>>> out.images  # 4 translations of the photo into domain 1, diverse through z

Components: ``generator`` (a class-conditional generator, or a :class:`DomainGenerator` of one generator per domain),
``encoder`` (a discriminator body; per domain in the two-class case) and ``discriminator`` (kept for further
training); the adaptor is an ``i2i_adaptor`` adapter held like any other, saved under ``adapters/0``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import PIL.Image
import torch

from ..adapters import CallContext, I2IAdaptor
from ..data import image_paths, load_images
from ..hub import TRANSLATION_TASK, CardBody
from ..models import Discriminator, DomainDiscriminator, Generator
from ..rendering import make_image_grid, to_pil
from .base import Pipeline
from .gan_pipeline import GanPipeline, to_output_type
from .outputs import I2IPipelineOutput

METHOD = "transfer_i2i"
MAX_SIZE_RATIO = 10  # unpaired domain sets further apart in size than this are refused


class I2IPipeline(Pipeline):
    """An image-to-image translator: ``pipe(images, target_class=t, num_variants=k)``."""

    component_types: ClassVar[dict[str, tuple[type, bool]]] = {
        "generator": (Generator, True),
        "encoder": (Discriminator, True),
        "discriminator": (Discriminator, False),
    }
    generator: Generator
    encoder: Discriminator
    discriminator: Discriminator | None

    def __init__(
        self,
        generator: Generator,
        encoder: Discriminator,
        discriminator: Discriminator | None = None,
        *,
        card_data: dict[str, Any] | None = None,
        name_or_path: str | None = None,
    ) -> None:
        super().__init__(card_data=card_data, name_or_path=name_or_path)
        self.register_modules(generator=generator, encoder=encoder, discriminator=discriminator)
        self.training_result: Any = None

    # --- building -------------------------------------------------------------------------------------
    @classmethod
    def from_gan(
        cls,
        gan: GanPipeline,
        images: Any,
        target_images: Any = None,
        *,
        class_labels: Any = None,
        callbacks: Any = (),
        **options: Any,
    ) -> I2IPipeline:
        """Train a translator from ``gan`` (left untouched) with TransferI2I.

        Two-class: ``images`` (domain 0) and ``target_images`` (domain 1); the result translates both ways.
        Multi-class: ``images`` with ``class_labels`` (one per image); the result translates into any class.
        ``options`` override the method's defaults (``steps``, ``init_steps``, ``output_dir``, ``resume``, …).
        """
        from ..recipes import get_recipe, prepare_output_dir  # pipelines → recipes, imported when first used

        prepare_output_dir(get_recipe(METHOD, **options).config, [*image_paths(images), *image_paths(target_images)])
        g = gan.generator
        if target_images is not None:
            if class_labels is not None:
                raise ValueError(
                    "Give two image sets (two-class) or one set with class_labels (multi-class), not both."
                )
            a = load_images(images, g.config.resolution, g.config.channels, purpose="domain 0 of TransferI2I")
            b = load_images(target_images, g.config.resolution, g.config.channels, purpose="domain 1 of TransferI2I")
            if max(len(a), len(b)) > MAX_SIZE_RATIO * min(len(a), len(b)):
                raise ValueError(
                    f"The two domains have {len(a)} and {len(b)} images; unpaired sets more than {MAX_SIZE_RATIO}× "
                    "apart in size make one direction learn from a handful of images: use a subset of the larger one."
                )
            images, class_labels, options = (
                torch.cat([a, b]),
                [0] * len(a) + [1] * len(b),
                {**options, "two_class": True},
            )
        elif class_labels is None:
            raise ValueError("Give the target domain's images too (two-class), or class_labels for one labelled set.")
        else:
            class_labels = gan.class_ids(class_labels)
        recipe = get_recipe(METHOD, **options)
        with gan.disable_adapters():
            out = recipe.fit(g, gan.discriminator, images, class_labels=class_labels, callbacks=callbacks)
        pipe = cls(out.generator, out.encoder, out.discriminator, card_data=gan.derived_card(out))
        pipe.set_progress_bar_config(**gan._progress_bar_config)
        pipe.add_adapter(out.adapter, METHOD)
        pipe.training_result = out.result
        return pipe

    # --- translating ----------------------------------------------------------------------------------
    @property
    def num_targets(self) -> int:
        """Domains (two-class) or classes a translation can go to."""
        return self.generator.config.num_classes

    def _adaptor(self) -> I2IAdaptor:
        found = [a for a in self._active() if isinstance(a, I2IAdaptor)]
        if len(found) != 1:
            raise ValueError(
                f"{len(found)} active i2i_adaptor adapters; translating needs exactly one (load_adapter / set_adapter)."
            )
        return found[0]

    def _targets(self, target_class: Any, num: int) -> torch.Tensor:
        items = target_class if isinstance(target_class, (list, tuple, torch.Tensor)) else [target_class]
        ids = self.class_ids(list(items))  # names → ids, unknown names refused
        bad = [t for t in ids if not 0 <= int(t) < self.num_targets]
        if bad:
            names = list(self.generator.config.class_names)
            known = f"0..{self.num_targets - 1}" + (f" or {', '.join(names)}" if names else "")
            raise ValueError(f"target_class {bad[0]!r} is not one of this translator's targets ({known}).")
        labels = torch.as_tensor([int(t) for t in ids], dtype=torch.long)
        if labels.numel() == 1:
            labels = labels.expand(num).clone()
        if labels.numel() != num:
            raise ValueError(f"Got {labels.numel()} target classes for {num} images; give one, or one per image.")
        return labels

    @torch.no_grad()
    def __call__(
        self,
        images: Any,
        target_class: int | str | list[int | str] | torch.Tensor = 1,
        num_variants: int = 1,
        truncation: float = 1.0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        batch_size: int = 16,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> I2IPipelineOutput | tuple[Any, torch.Tensor, torch.Tensor]:
        """Translate each image into ``target_class``, ``num_variants`` times (different z each time).

        ``images``: anything ``load_images`` reads (resized to the model). ``target_class``: a domain/class id or
        name, or one per image (two-class: 0 or 1; default 1, domain 0 → domain 1). The outputs are input-major:
        image i's variants are ``images[i·k : (i+1)·k]``. ``latents`` (N·k, z_dim) repeat a call exactly.
        """
        g = self.generator
        c = g.config
        if not isinstance(num_variants, int) or num_variants < 1:
            raise ValueError(f"num_variants={num_variants!r}: ask for at least one translation per image.")
        x = load_images(images, c.resolution, c.channels, purpose="translation")
        n, k = x.shape[0], num_variants
        targets = self._targets(target_class, n).repeat_interleave(k)
        if latents is None:
            latents = g.sample_latents(n * k, truncation, generator)  # each family draws its own latents
        elif latents.shape != (n * k, c.z_dim):
            raise ValueError(f"latents have shape {tuple(latents.shape)}; expected ({n * k}, {c.z_dim}).")
        adaptor = self._adaptor()
        inputs = x.repeat_interleave(k, dim=0)
        was = g.training, self.encoder.training
        g.eval(), self.encoder.eval()
        out = torch.empty(n * k, c.channels, c.resolution, c.resolution)
        try:
            with g.truncated(truncation):  # BigGAN-deep's statistics row; StyleGAN2's ψ in W
                for t in targets.unique().tolist():  # one target per generator call: its set of sub-adaptors
                    rows = (targets == t).nonzero().squeeze(1)
                    for chunk in rows.split(batch_size):
                        out[chunk] = self._translate(adaptor, inputs[chunk], latents[chunk], t).float().cpu()
        finally:
            g.train(was[0]), self.encoder.train(was[1])
        result = to_output_type(out, output_type)
        if not return_dict:
            return result, latents, targets
        return I2IPipelineOutput(images=result, latents=latents, target_class=targets, num_variants=k)

    def _translate(self, adaptor: I2IAdaptor, x: torch.Tensor, z: torch.Tensor, target: int) -> torch.Tensor:
        g, encoder = self.generator, self.encoder
        domains = adaptor.config.kwargs["encoder_domains"]
        if domains is not None:  # two-class: the encoder of the input's domain
            if not isinstance(encoder, DomainDiscriminator):
                raise ValueError("This i2i_adaptor reads a per-domain encoder; the pipeline's encoder has one domain.")
            encoder = encoder.domains[domains[target]]
        x, z = x.to(g.device, g.dtype), z.to(g.device, g.dtype)
        labels = torch.full((x.shape[0],), target, dtype=torch.long, device=g.device)
        context = CallContext(g, labels, adaptor.encode(encoder, x))
        with self.applied_adapters(context) as transform:
            z, labels, emb = transform(z, labels, None)
            return g(z, class_labels=labels, class_embedding=emb)

    # --- card ----------------------------------------------------------------------------------------------
    def is_adapted(self) -> bool:
        return True  # a translator is always built from a GAN (TransferI2I fine-tunes it)

    @torch.no_grad()
    def sample_grid(self, num_images: int = 8, seed: int = 0) -> PIL.Image.Image | None:
        """Two rows: ``num_images`` images the translator's own generator draws in class 0 (no adaptor applied), then
        their translations into the other classes in turn; all from ``torch.Generator().manual_seed(seed)``."""
        if not any(isinstance(a, I2IAdaptor) for a in self._active()):
            return None
        g = self.generator
        generator = torch.Generator().manual_seed(seed)
        z = g.sample_latents(num_images, 1.0, generator)
        was = g.training
        g.eval()
        try:
            labels = torch.zeros(num_images, dtype=torch.long, device=g.device)
            inputs = g(z.to(g.device, g.dtype), class_labels=labels).float().cpu()
        finally:
            g.train(was)
        targets = [1 + i % (self.num_targets - 1) for i in range(num_images)] if self.num_targets > 1 else 0
        out = self(((inputs + 1) / 2).clamp(0, 1), target_class=targets, generator=generator, output_type="pt")
        return make_image_grid(to_pil(inputs) + to_pil(out.images * 2 - 1), cols=num_images)

    def card_body(self, card_data: dict[str, Any], *, name: str | None = None) -> CardBody:
        parts = self._card_parts(card_data, name)
        g, e = self.generator, self.encoder
        kind = "two-class" if isinstance(e, DomainDiscriminator) else f"{self.num_targets}-class"
        adaptors = [(n, a) for n, a in self._adapters.items() if isinstance(a, I2IAdaptor)]
        named = ", ".join(f"`{n}` ({sum(t.numel() for t in a.state_dict().values()):,} values, `{a.kind}`)"
                          for n, a in adaptors) or "none held"  # fmt: skip
        names = list(g.config.class_names)
        description = (
            f"A {kind} image-to-image translator (TransferI2I) at {g.config.resolution} px: `{type(g).__name__}` "
            f"({g.num_parameters():,} parameters), encoder `{type(e).__name__}` ({e.num_parameters():,}). "
            f"Adaptor: {named}." + (f" Classes: {', '.join(names)}." if names else "")
        )
        usage = "\n".join([
            "from gan_transfer import I2IPipeline",
            f"pipe = I2IPipeline.from_pretrained({parts['load']!r})",
            "images = pipe('photo.png', target_class=1, num_variants=4).images  # 4 translations into class 1",
        ])  # fmt: skip
        caption = ("Top row: images the translator's own generator draws in class 0; bottom row: their translations "
                   "(seed 0, `torch.Generator().manual_seed(0)`).")  # fmt: skip
        extra = {**parts["extra"], "samples_caption": caption}
        return CardBody(parts["template"], parts["title"], description, usage, task=TRANSLATION_TASK,
                        base_model=parts["base_model"], extra=extra)  # fmt: skip
