"""GanPipeline: generate from a (maybe adapted) GAN, save it, load it, share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .. import zoo  # noqa: F401  (registers the bundled names gan-transfer/NAME)
from .._version import __version__
from ..adapters import AdapterHostMixin
from ..hub import (
    CARD_NAME,
    LIBRARY_NAME,
    PathLike,
    push_folder,
    read_card_data,
    read_json,
    render_card,
    resolve_folder,
    stamp,
    write_json,
    write_text,
)
from ..models import Discriminator, GanModel, Generator, MultiSourceGenerator
from ..rendering import to_pil
from .outputs import GanPipelineOutput

INDEX_NAME = "model_index.json"
OUTPUT_TYPES = ("pil", "np", "pt")


def sample_latents(
    num: int, z_dim: int, truncation: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """z = truncation · TruncatedNormal(−2, 2), the BigGAN truncation trick, drawn on the CPU.

    Values beyond ±2 are redrawn until none is left, so a seeded draw is the same on every device and batch size.
    """
    if not truncation > 0:
        raise ValueError(f"truncation={truncation}: use a value > 0 (1.0 = no shrinking, 0.4 = close to the mode).")
    z = torch.randn(num, z_dim, generator=generator)
    while (outside := z.abs() > 2).any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
    return z * truncation


def to_output_type(images: torch.Tensor, output_type: str) -> Any:
    """(N, C, H, W) images in [-1, 1] → PIL list, NHWC array or NCHW tensor in [0, 1]."""
    if output_type == "pil":
        return to_pil(images)
    images = ((images.float().cpu() + 1) / 2).clamp(0, 1)
    return images if output_type == "pt" else images.permute(0, 2, 3, 1).numpy()


def training_summary(info: dict[str, Any]) -> list[str]:
    """Card lines for a source GAN trained by ``train-source``: data, steps, wall-clock and held-out scores."""
    if "steps" not in info:
        return []
    classes = info.get("classes")
    data = f"- data: `{info.get('data')}`" + (f", classes {', '.join(map(str, classes))}" if classes else "")
    data += f"; {info.get('train_images')} training images, {info.get('test_images')} held-out test images"
    steps = f"- {info['steps']:,} generator steps, {info.get('wall_clock_hours')} h wall-clock (2 CPU cores)"
    lines = ["", "## Training", "", data, steps]
    recipe = info.get("recipe") or {}
    if recipe:
        keys = ("family", "width", "batch_size", "loss", "lr_g", "lr_d", "ema_decay", "diffaugment")
        lines.append("- recipe: " + ", ".join(f"{k}={recipe[k]}" for k in keys if k in recipe)
                     + " (all options in the metadata above)")  # fmt: skip
    for name, value in (info.get("metrics") or {}).items():
        if "std" not in name:
            lines.append(f"- {name} against the held-out test images: {value:.4g}")
    return lines


class GanPipeline(AdapterHostMixin):
    """A generator (+ the discriminator it was trained with) behind one call.

    >>> pipe = GanPipeline(generator=ResNetGenerator(resolution=32))
    >>> out = pipe(num_images=4, generator=torch.Generator().manual_seed(0))
    >>> out.images  # four PIL images
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator | None = None,
        *,
        card_data: dict[str, Any] | None = None,
        name_or_path: str | None = None,
    ) -> None:
        if not isinstance(generator, Generator):
            raise TypeError(f"generator must be a gan_transfer Generator, not {type(generator).__name__}.")
        if discriminator is not None and not isinstance(discriminator, Discriminator):
            raise TypeError(f"discriminator must be a gan_transfer Discriminator, not {type(discriminator).__name__}.")
        self.generator = generator
        self.discriminator = discriminator
        self.card_data: dict[str, Any] = dict(card_data or {})
        self.name_or_path = name_or_path
        self._progress_bar_config: dict[str, Any] = {}
        self.training_result: Any = None  # set by adapt(): losses per step, wall-clock

    @classmethod
    def from_sources(cls, pipelines: list[GanPipeline]) -> GanPipeline:
        """Compose source pipelines into one (for multi-source MineGAN): a :class:`MultiSourceGenerator` over
        their generators, the first pipeline's discriminator, and every source's licence and credits."""
        generator = MultiSourceGenerator.from_generators([p.generator for p in pipelines])
        credits = [p.card_data.get("credits") for p in pipelines if p.card_data.get("credits")]
        licenses = sorted({p.card_data["license"] for p in pipelines if p.card_data.get("license")})
        card: dict[str, Any] = {"credits": "\n\n".join(dict.fromkeys(credits))} if credits else {}
        if licenses:
            card["license"] = licenses[0] if len(licenses) == 1 else "other"
            if len(licenses) > 1:
                card["license_name"] = " + ".join(licenses)
        names = [p.name_or_path for p in pipelines if p.name_or_path]
        if names:
            card["base_model"] = names
        return cls(generator, pipelines[0].discriminator, card_data=card)

    @property
    def selector_probabilities(self) -> list[float] | None:
        """MineGAN's p_i (one per source, summing to 1) of the active multi-source miner, if any."""
        for name in self.active_adapters:
            probabilities = getattr(self.get_adapter(name), "probabilities", None)
            if probabilities is not None:
                return [float(p) for p in probabilities]
        return None

    @property
    def components(self) -> dict[str, GanModel | None]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def device(self) -> torch.device:
        return self.generator.device

    @property
    def dtype(self) -> torch.dtype:
        return self.generator.dtype

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> GanPipeline:
        """Move every component and adapter (in place; returns self)."""
        for component in self.components.values():
            if component is not None:
                component.to(device=device, dtype=dtype)
        self._move_adapters(device, dtype)
        return self

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for the tqdm bar of ``__call__`` (e.g. ``disable=True``)."""
        self._progress_bar_config = kwargs

    # --- generating -----------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        num_images: int = 1,
        class_labels: int | list[int] | torch.Tensor | None = None,
        truncation: float = 1.0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        batch_size: int = 64,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> GanPipelineOutput | tuple[Any, torch.Tensor, torch.Tensor | None]:
        """Generate ``num_images`` images (or one per row of ``latents``).

        ``class_labels``: one int for all, or one per image; drawn uniformly from ``generator`` when a
        class-conditional model gets none. ``truncation``: see :func:`sample_latents`. Seeded calls are
        reproducible; the images do not depend on ``batch_size`` beyond float rounding.
        """
        g = self.generator
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type='{output_type}': use one of {', '.join(OUTPUT_TYPES)}.")
        if latents is None:
            if not isinstance(num_images, int) or num_images < 1:
                raise ValueError(f"num_images={num_images!r}: ask for at least one image.")
            latents = sample_latents(num_images, g.config.z_dim, truncation, generator)
        elif latents.ndim != 2 or latents.shape[1] != g.config.z_dim:
            raise ValueError(f"latents have shape {tuple(latents.shape)}; expected (N, {g.config.z_dim}).")
        num_images = latents.shape[0]
        labels = self._class_labels(class_labels, num_images, generator)
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: use at least 1.")

        was_training = g.training
        g.eval()
        chunks = []
        try:
            with self.applied_adapters() as transform:
                starts = range(0, num_images, batch_size)
                for start in tqdm(starts, desc="Generating", leave=False, **self._progress_bar_config):
                    z = latents[start : start + batch_size].to(device=g.device, dtype=g.dtype)
                    y = None if labels is None else labels[start : start + batch_size].to(g.device)
                    z, y, emb = transform(z, y, None)
                    chunks.append(g(z, class_labels=y, class_embedding=emb).float().cpu())
        finally:
            g.train(was_training)
        images = to_output_type(torch.cat(chunks), output_type)
        if not return_dict:
            return images, latents, labels
        return GanPipelineOutput(images=images, latents=latents, class_labels=labels)

    def _class_labels(
        self, class_labels: int | list[int] | torch.Tensor | None, num: int, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        k = self.generator.config.num_classes + sum(
            getattr(self.get_adapter(n), "extra_classes", 0) for n in self.active_adapters
        )  # class-propagation adapters append new class ids
        mined = any(getattr(self.get_adapter(n), "provides_class_embedding", False) for n in self.active_adapters)
        if mined and class_labels is None:
            return None  # an active class miner chooses the class embedding
        if k == 0:
            if class_labels is not None:
                raise ValueError("This model is unconditional: leave class_labels unset.")
            return None
        if class_labels is None:
            return torch.randint(0, k, (num,), generator=generator)
        labels = torch.as_tensor(class_labels, dtype=torch.long).reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(num).clone()
        if labels.numel() != num:
            raise ValueError(f"Got {labels.numel()} class labels for {num} images; give one label or one per image.")
        if labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"class_labels must lie in 0..{k - 1}; got {labels.tolist()}.")
        return labels

    # --- adapting ------------------------------------------------------------------------------------
    def adapt(
        self,
        images: Any,
        method: str = "transfer_gan",
        *,
        class_labels: Any = None,
        callbacks: Any = (),
        **options: Any,
    ) -> GanPipeline:
        """Adapt to ``images`` with ``method``; returns a new pipeline and leaves this one untouched.

        ``options`` override the method's paper defaults (e.g. ``steps=500``, ``output_dir="run"``,
        ``resume=True``). ``images``: a folder, paths, PIL images, an array, a tensor or a ``datasets.Dataset``.
        """
        from ..recipes import get_recipe  # pipelines → recipes, imported when first used

        recipe = get_recipe(method, **options)
        with self.disable_adapters():
            out = recipe.fit(self.generator, self.discriminator, images, class_labels=class_labels, callbacks=callbacks)
        card = {**self.card_data}
        card["tags"] = list(dict.fromkeys([*card.get("tags", []), *out.card_data.get("tags", [])]))
        if self.name_or_path and "base_model" not in card:
            card["base_model"] = self.name_or_path
        card["adaptation"] = out.hyperparameters  # the source's own record (data, recipe, scores) stays beside it
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

    # --- saving and loading ---------------------------------------------------------------------------
    def card_body(self) -> str:
        g = self.generator
        kind = f"class-conditional ({g.config.num_classes} classes)" if g.config.num_classes else "unconditional"
        d = self.discriminator
        lines = [
            f"A {kind} `{type(g).__name__}` at {g.config.resolution} px ({g.num_parameters():,} parameters)"
            + (f" with its `{type(d).__name__}` ({d.num_parameters():,} parameters)." if d else "."),
            "",
            "```python",
            "import torch",
            "from gan_transfer import GanPipeline",
            f"pipe = GanPipeline.from_pretrained({self.name_or_path or 'THIS_FOLDER_OR_REPO'!r})",
            "images = pipe(num_images=16, generator=torch.Generator().manual_seed(0)).images",
            "```",
        ]
        return "\n".join(lines + training_summary(self.card_data.get("gan_transfer") or {}))

    def save_pretrained(self, save_directory: PathLike) -> Path:
        """Write ``generator/``, ``discriminator/``, the card, and ``model_index.json`` last."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {}
        for name, component in self.components.items():
            if component is not None:
                component.save_pretrained(folder / name, card_data=self.card_data)
                index[name] = [LIBRARY_NAME, type(component).__name__]
            else:
                index[name] = [None, None]
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
    ) -> GanPipeline:
        """Load a pipeline folder (``model_index.json`` + component folders) from a path or a Hub repo id."""
        folder = resolve_folder(
            path_or_id, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
        )
        index_path = folder / INDEX_NAME
        if not index_path.is_file() and (folder / "config.json").is_file():
            raise ValueError(
                f"'{path_or_id}' holds a single model, not a pipeline; build one with "
                "GanPipeline(generator=Generator.from_pretrained(...))."
            )
        index = read_json(index_path)
        if index.get("_class_name") != cls.__name__:
            raise ValueError(f"'{path_or_id}' holds a {index.get('_class_name')}, not a {cls.__name__}.")
        expected = {"generator": Generator, "discriminator": Discriminator}
        components: dict[str, Any] = {}
        for name, base in expected.items():
            library, class_name = index.get(name) or [None, None]
            if class_name is None:
                if name == "generator":
                    raise ValueError(f"'{index_path}' names no generator; the pipeline folder is broken.")
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
        return cls(**components, card_data=read_card_data(folder), name_or_path=str(path_or_id))

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | bool | None = None,
        commit_message: str | None = None,
        create_pr: bool = False,
    ) -> Any:
        """Create ``repo_id`` if needed and upload the pipeline folder; returns the commit info."""
        return push_folder(
            self.save_pretrained,
            repo_id,
            private=private,
            token=token,
            commit_message=commit_message or f"Upload GanPipeline (gan_transfer {__version__})",
            create_pr=create_pr,
        )
