"""The gan_transfer Space: generate, morph, translate and adapt with small pretrained GANs (Gradio 6).

``build_demo(...)`` makes the app (every model and adapter is loaded there, once); ``launch(demo)`` serves it with
this Space's limits. Run ``python spaces/gan-transfer/app.py`` or ``gan-transfer space``.

Tabs: *Generate* (a model, an adapter bundled or saved beside it — or your own as a zip —, class, truncation, seed,
number of images → PNG gallery + zip), *Morph* (two adapters or two latents → animated GIF), *Translate* (an image →
k translations from an ``I2IPipeline``; only when a translator is given or found), *Adapt* (10–50 images, BSA or
MineGAN, a few hundred steps at most → the adapter as a zip, and its card).

Every input is bounded (:class:`Limits`); the queue has a maximum size, one training runs at a time, and each
request has a time limit. A request only writes inside the app's own temporary folder (``Space.work``).
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import functools
import io
import math
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import PIL.Image
import torch

from gan_transfer import GanPipeline, I2IPipeline
from gan_transfer.adapters import Adapter, ScaleShiftAdapter, interpolate
from gan_transfer.hub import weights_hash
from gan_transfer.latents import sample_latents
from gan_transfer.recipes import TrainingDiverged
from gan_transfer.zoo import list_bundled

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = "gan-transfer/digiface-faces"
NO_ADAPTER = "none (the base model)"
RANDOM_CLASS = "random"
METHODS = {  # Adapt tab: methods whose result is an adapter, with this Space's settings
    "bsa": ("BSA: scale/shift per channel (a few kB, morphable)", {}),
    "minegan": ("MineGAN stage 1: a latent miner (a few kB)", {"stage2": False, "batch_size": 16}),
}
ADAPTER_FILES = {"adapter_config.json", "adapter_model.safetensors", "README.md"}


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds on every input and on the server's work."""

    max_images: int = 64  # Generate: images per request
    max_frames: int = 48  # Morph: frames per GIF
    max_variants: int = 8  # Translate: translations per image
    min_adapt_images: int = 10  # Adapt: images per request
    max_adapt_images: int = 50
    max_steps: int = 300  # Adapt: training steps
    max_side: int = 4096  # any uploaded image: longest side in pixels
    max_pixels: int = 16_000_000  # ... and width × height
    max_upload_mb: int = 20  # any uploaded file
    max_adapter_mb: int = 64  # an uploaded adapter zip, unpacked
    queue_size: int = 16  # requests waiting; more get "queue full"
    time_limit: float = 600.0  # seconds per request (training stops with a message past it)
    max_seed: int = 2**63 - 1


class UserError(ValueError):
    """Bad input: shown in the page as one sentence; the app keeps serving."""


class TimeLimitReached(RuntimeError):
    pass


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn bad input into a message in the page (gr.Error); anything else is logged and reported briefly."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError, TrainingDiverged, TimeLimitReached) as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception as err:  # a bug: keep serving, say what kind, keep the traceback in the server log
            traceback.print_exc()
            raise gr.Error(f"Something went wrong on the server ({type(err).__name__}); try again.") from None

    return wrapper


# ------------------------------------------------------------------------------------------------ inputs
def parse_seed(text: Any, limits: Limits, what: str = "Seed") -> int:
    value = str(text if text is not None else "").strip()
    if not value.lstrip("+").isdigit():
        raise UserError(f"{what} '{value}' is not a whole number: type one like 42 (0 to {limits.max_seed}).")
    seed = int(value)
    if seed > limits.max_seed:
        raise UserError(f"{what} {seed} is too large: use 0 to {limits.max_seed}.")
    return seed


def bounded_int(value: Any, lo: int, hi: int, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number from {lo} to {hi}; got {value!r}.") from None
    if not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        raise UserError(f"{what} must be a whole number from {lo} to {hi}; got {value!r}.")
    return int(number)


def bounded_float(value: Any, lo: float, hi: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a number from {lo} to {hi}; got {value!r}.") from None
    if not (math.isfinite(number) and lo <= number <= hi):
        raise UserError(f"{what} must lie between {lo} and {hi}; got {value!r}.")
    return number


def _path(item: Any) -> Path:
    """A gradio upload (a path string, or a dict / FileData with a path) → its path."""
    if isinstance(item, dict):
        item = item.get("path") or item.get("name")
    item = getattr(item, "path", item)
    if not item:
        raise UserError("An upload arrived without a file; upload it again.")
    return Path(str(item))


def _name(path: Path) -> str:
    return path.name[:80]


def read_image(item: Any, limits: Limits) -> PIL.Image.Image:
    """An uploaded image, checked before it is decoded: a real image, within size bounds; RGB or gray."""
    path = _path(item)
    if not path.is_file():
        raise UserError(f"The upload '{_name(path)}' is gone from the server; upload it again.")
    size = path.stat().st_size
    if size > limits.max_upload_mb * 2**20:
        mb = limits.max_upload_mb
        raise UserError(f"'{_name(path)}' is {size / 2**20:.0f} MB; upload images of at most {mb} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(path) as img:  # reads the header only
                w, h = img.size
                if max(w, h) > limits.max_side or w * h > limits.max_pixels:
                    raise UserError(
                        f"'{_name(path)}' is {w}×{h} pixels; use images of at most {limits.max_side} pixels a side "
                        f"({limits.max_pixels / 1e6:.0f} megapixels in all)."
                    )
                if min(w, h) < 8:
                    raise UserError(f"'{_name(path)}' is {w}×{h} pixels; use images of at least 8×8 pixels.")
                img.load()
                return img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
    except UserError:
        raise
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning) as err:
        claimed = re.search(r"\((\d+) pixels\)", str(err))
        count = f" ({int(claimed.group(1)):,} pixels)" if claimed else ""
        raise UserError(f"'{_name(path)}' has far too many pixels{count}; use images of at most {limits.max_side} "
                        f"pixels a side ({limits.max_pixels / 1e6:.0f} megapixels in all).") from None  # fmt: skip
    except PIL.UnidentifiedImageError:
        raise UserError(f"'{_name(path)}' is not an image this app reads (PNG, JPEG, WebP, GIF, BMP).") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise UserError(f"'{_name(path)}' could not be read as an image ({err}); upload another file.") from None


def read_images(items: Sequence[Any] | None, lo: int, hi: int, limits: Limits) -> list[PIL.Image.Image]:
    items = list(items or [])
    if not lo <= len(items) <= hi:
        raise UserError(f"Got {len(items)} images; upload {lo} to {hi} images.")
    return [read_image(item, limits) for item in items]


# ------------------------------------------------------------------------------------------------ the models
@dataclasses.dataclass
class Model:
    """One loaded source GAN, the adapters it can wear, and the lock that makes its generator one call at a time."""

    name: str
    pipe: GanPipeline
    weights: str  # weights_hash of the generator
    adapters: dict[str, str] = dataclasses.field(default_factory=dict)  # adapter name → where it came from
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def class_choices(self) -> list[str]:
        c = self.pipe.generator.config
        names = list(c.class_names)
        return [RANDOM_CLASS] + (names or [str(i) for i in range(c.num_classes)]) if c.num_classes else []


class Space:
    """What the app serves: the models, adapters and translator loaded at start, and one function per endpoint."""

    def __init__(
        self,
        models: Sequence[str] | None = None,
        adapters_dir: str | os.PathLike | None = None,
        translator: str | os.PathLike | None = None,
        limits: Limits | None = None,
        work_dir: str | os.PathLike | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.models: dict[str, Model] = {}
        for name in models or list_bundled():
            pipe = GanPipeline.from_pretrained(name)
            pipe.set_progress_bar_config(disable=True)
            model = Model(name, pipe, weights_hash(pipe.generator))
            model.adapters = {a: f"held by {name}" for a in pipe.list_adapters()}
            self.models[name] = model
        if not self.models:
            raise ValueError("build_demo needs at least one model.")
        self.skipped: list[str] = []
        if adapters_dir is not None and Path(adapters_dir).is_dir():
            self._load_adapters(Path(adapters_dir))
        self.translator: I2IPipeline | None = None
        self.translator_name: str | None = None
        if translator is not None:
            self.translator = I2IPipeline.from_pretrained(translator)
            self.translator.set_progress_bar_config(disable=True)
            self.translator_name = Path(str(translator)).name
        self.translator_lock = threading.Lock()
        self.train_lock = threading.Lock()  # one training at a time, whatever the queue does
        root = os.environ.get("GRADIO_TEMP_DIR") or None
        if root:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="gan-transfer-space-", dir=work_dir or root))
        atexit.register(shutil.rmtree, self.work, ignore_errors=True)  # the app's files go with the process

    def _load_adapters(self, folder: Path) -> None:
        by_weights = {m.weights: m for m in self.models.values()}
        for sub in sorted(p for p in folder.iterdir() if (p / Adapter.config_name).is_file()):
            adapter = Adapter.from_pretrained(sub)
            model = by_weights.get(adapter.config.base_model_hash or "")
            if model is None or sub.name in model.adapters:
                self.skipped.append(sub.name)  # made for a model this app does not serve
                continue
            model.pipe.add_adapter(adapter, sub.name, set_active=False, source=str(sub))
            model.adapters[sub.name] = str(sub)
        if self.skipped:
            print(f"gan-transfer space: skipped adapters for models not served here: {', '.join(self.skipped)}")

    # --- helpers ---------------------------------------------------------------------------------------
    def model(self, name: Any) -> Model:
        if name not in self.models:
            raise UserError(f"Unknown model '{name}'; pick one of: {', '.join(self.models)}.")
        return self.models[name]

    def adapter_names(self) -> list[str]:
        return list(dict.fromkeys(a for m in self.models.values() for a in m.adapters))

    def class_names(self) -> list[str]:
        return list(dict.fromkeys([RANDOM_CLASS, *(c for m in self.models.values() for c in m.class_choices)]))

    def request_dir(self, kind: str) -> Path:
        """A fresh folder for one request's files, inside the app's temporary folder; old ones are pruned."""
        folders = sorted(self.work.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in folders[:-64]:  # keep the latest 64 requests' files (gradio serves copies from its cache)
            shutil.rmtree(old, ignore_errors=True)
        folder = self.work / f"{kind}-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        return folder

    def _class_label(self, model: Model, value: Any) -> int | str | None:
        choices = model.class_choices
        if not choices:
            if value not in (None, "", RANDOM_CLASS):
                raise UserError(f"{model.name} is unconditional: leave the class at '{RANDOM_CLASS}'.")
            return None
        if value in (None, "", RANDOM_CLASS):
            return None
        if str(value) not in choices:
            raise UserError(f"Class '{value}' is not one of {model.name}'s classes: {', '.join(choices[1:])}.")
        return int(value) if str(value).isdigit() else str(value)

    def _check_adapter(self, model: Model, name: Any) -> str | None:
        if name in (None, "", NO_ADAPTER):
            return None
        if name in model.adapters:
            return str(name)
        owners = [m.name for m in self.models.values() if name in m.adapters]
        if owners:
            raise UserError(
                f"Adapter '{name}' was made for {owners[0]}, not for {model.name}: pick {owners[0]} or another adapter."
            )
        known = ", ".join(model.adapters) or "none"
        raise UserError(f"Unknown adapter '{name}' for {model.name}; pick one of: {known}.")

    def _uploaded_adapter(self, item: Any, folder: Path) -> Adapter:
        """An adapter zip (adapter_config.json + adapter_model.safetensors [+ README.md]) unpacked safely."""
        path = _path(item)
        limit = self.limits.max_adapter_mb * 2**20
        if path.stat().st_size > limit:
            raise UserError(f"'{_name(path)}' is larger than {self.limits.max_adapter_mb} MB; that is no adapter.")
        try:
            with zipfile.ZipFile(path) as zf:
                members = [i for i in zf.infolist() if not i.is_dir()]
                if len(members) > 32 or sum(i.file_size for i in members) > limit:
                    mb = self.limits.max_adapter_mb
                    raise UserError(f"'{_name(path)}' holds more than an adapter (over 32 files or {mb} MB "
                                    "unpacked); zip one save_adapter folder.")  # fmt: skip
                found = {Path(i.filename).name: i for i in members if Path(i.filename).name in ADAPTER_FILES}
                folders = {str(Path(i.filename).parent) for i in found.values()}
                if not {Adapter.config_name, "adapter_model.safetensors"} <= set(found) or len(folders) > 1:
                    raise UserError(f"'{_name(path)}' should hold one adapter folder as save_adapter writes it "
                                    "(adapter_config.json + adapter_model.safetensors).")  # fmt: skip
                target = folder / "uploaded-adapter"
                target.mkdir()
                for name, info in found.items():  # by base name only: never a path taken from the archive
                    (target / name).write_bytes(zf.read(info))
        except zipfile.BadZipFile:
            raise UserError(f"'{_name(path)}' is not a zip file; zip an adapter folder (save_adapter).") from None
        try:
            return Adapter.from_pretrained(target)
        except (ValueError, KeyError, TypeError, OSError) as err:
            raise UserError(f"'{_name(path)}' does not hold a readable adapter ({err}).") from None

    def _deadline(self) -> float:
        return time.monotonic() + self.limits.time_limit

    def _check_time(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise TimeLimitReached(f"{what} ran past this app's limit of {self.limits.time_limit:.0f} s; ask for less.")

    def _run(self, model: Model, adapter: str | Adapter | None, source: str | None = None, **kwargs: Any) -> Any:
        """One pipeline call with exactly this adapter (a held name, an Adapter object, or none); caller holds lock."""
        pipe = model.pipe
        temp = None
        try:
            if isinstance(adapter, Adapter):
                temp = pipe.add_adapter(adapter, f"_request_{uuid.uuid4().hex[:8]}", source=source)
            elif adapter is not None:
                pipe.set_adapter(adapter)
            else:
                pipe.disable_adapters()
            return pipe(**kwargs)
        finally:
            if temp is not None:
                pipe.delete_adapter(temp)

    # --- Generate --------------------------------------------------------------------------------------
    def generate(
        self, model_name: Any, adapter_name: Any, class_label: Any, truncation: Any, seed: Any, num_images: Any,
        adapter_zip: Any = None,
    ) -> tuple[list[tuple[PIL.Image.Image, str]], str, str]:  # fmt: skip
        lim = self.limits
        model = self.model(model_name)
        seed = parse_seed(seed, lim)
        n = bounded_int(num_images, 1, lim.max_images, "Number of images")
        psi = bounded_float(truncation, 0.05, 2.0, "Truncation")
        label = self._class_label(model, class_label)
        folder = self.request_dir("generate")
        adapter: str | Adapter | None
        source = None
        if adapter_zip:
            adapter = self._uploaded_adapter(adapter_zip, folder)
            source, used = _name(_path(adapter_zip)), f"your adapter ({adapter.kind})"
        else:
            adapter = self._check_adapter(model, adapter_name)
            used = f"adapter {adapter}" if adapter else "no adapter"
        with model.lock:
            out = self._run(model, adapter, source, num_images=n, class_labels=label, truncation=psi,
                            generator=torch.Generator().manual_seed(seed))  # fmt: skip
        labels = out.class_labels.tolist() if out.class_labels is not None else [None] * n
        names = list(model.pipe.generator.config.class_names)
        gallery, archive = [], folder / f"{model.name.replace('/', '_')}-seed{seed}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for i, (image, y) in enumerate(zip(out.images, labels, strict=True)):
                cls = "" if y is None else f" · class {names[y] if y < len(names) else y}"
                gallery.append((image, f"seed {seed} · #{i}{cls}"))
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                zf.writestr(f"{i:03d}.png", buffer.getvalue())
        message = f"{n} images from {model.name} with {used}, truncation {psi:g}, seed {seed}."
        return gallery, str(archive), message

    # --- Morph -----------------------------------------------------------------------------------------
    def morph(
        self, model_name: Any, mode: Any, adapter_a: Any, adapter_b: Any, seed_a: Any, seed_b: Any, class_label: Any,
        truncation: Any, frames: Any,
    ) -> tuple[str, str]:  # fmt: skip
        lim = self.limits
        model = self.model(model_name)
        a_seed, b_seed = parse_seed(seed_a, lim, "Seed A"), parse_seed(seed_b, lim, "Seed B")
        k = bounded_int(frames, 2, lim.max_frames, "Frames")
        psi = bounded_float(truncation, 0.05, 2.0, "Truncation")
        label = self._class_label(model, class_label)
        a, b = self._check_adapter(model, adapter_a), self._check_adapter(model, adapter_b)
        z_dim = model.pipe.generator.config.z_dim
        g = torch.Generator().manual_seed(a_seed)
        z_a = sample_latents(1, z_dim, psi, g)
        if label is None and model.class_choices:  # one class for the whole walk, drawn from seed A
            label = int(torch.randint(0, model.pipe.generator.config.num_classes, (1,), generator=g))
        alphas = [i / (k - 1) for i in range(k)]
        deadline = self._deadline()
        images: list[PIL.Image.Image] = []
        if mode == "adapters":
            held = [model.pipe.get_adapter(x) if x else None for x in (a, b)]
            if a == b:
                raise UserError("Pick two different adapters (one may be the base model) to morph between.")
            bad = [x for x, h in zip((a, b), held, strict=True)
                   if h is not None and not isinstance(h, ScaleShiftAdapter)]  # fmt: skip
            if bad:
                kind = model.pipe.get_adapter(bad[0]).kind
                raise UserError(f"Adapter '{bad[0]}' is a {kind} adapter; morphing between adapters needs scale_shift "
                                "(BSA) adapters. Morph two latents instead.")  # fmt: skip
            with model.lock:
                for alpha in alphas:
                    self._check_time(deadline, "Morphing")
                    frame = interpolate(held[0], held[1], alpha)
                    images += self._run(model, frame, latents=z_a, class_labels=label).images
            what = f"{a or 'the base model'} → {b or 'the base model'} (seed {a_seed})"
        elif mode == "latents":
            z_b = sample_latents(1, z_dim, psi, torch.Generator().manual_seed(b_seed))
            z = torch.cat([slerp(z_a, z_b, alpha) for alpha in alphas])
            with model.lock:
                out = self._run(model, a, latents=z, class_labels=label)
            images = list(out.images)
            what = f"seed {a_seed} → seed {b_seed}" + (f" with adapter {a}" if a else "")
        else:
            raise UserError(f"Morph mode '{mode}': use 'adapters' or 'latents'.")
        path = self.request_dir("morph") / "morph.gif"
        save_gif(images, path)
        return str(path), f"{k} frames of {model.name}: {what}."

    # --- Translate -------------------------------------------------------------------------------------
    def translate_targets(self) -> list[str]:
        if self.translator is None:
            return []
        names = list(self.translator.generator.config.class_names)
        return names or [str(i) for i in range(self.translator.num_targets)]

    def translate(
        self, image: Any, target: Any, variants: Any, seed: Any, truncation: Any
    ) -> tuple[list[tuple[PIL.Image.Image, str]], str]:
        if self.translator is None:
            raise UserError("This app has no translator.")
        lim = self.limits
        if not image:
            raise UserError("Upload an image to translate.")
        picture = read_image(image, lim)
        k = bounded_int(variants, 1, lim.max_variants, "Translations")
        seed = parse_seed(seed, lim)
        psi = bounded_float(truncation, 0.05, 2.0, "Truncation")
        targets = self.translate_targets()
        if str(target) not in targets:
            raise UserError(f"Target '{target}' is not one of this translator's targets: {', '.join(targets)}.")
        t = int(target) if str(target).isdigit() else str(target)
        with self.translator_lock:
            out = self.translator([picture], target_class=t, num_variants=k, truncation=psi,
                                  generator=torch.Generator().manual_seed(seed))  # fmt: skip
        res = self.translator.generator.config.resolution
        shown = picture.convert("RGB").resize((res, res), PIL.Image.Resampling.LANCZOS)
        gallery = [(shown, "input")] + [(im, f"→ {target} · variant {i}") for i, im in enumerate(out.images)]
        return gallery, f"{k} translations into {target} (seed {seed})."

    # --- Adapt -----------------------------------------------------------------------------------------
    def adapt(
        self, files: Any, model_name: Any, method: Any, steps: Any, seed: Any,
        progress: Callable[..., Any] | None = None,
    ) -> tuple[list[tuple[PIL.Image.Image, str]], str, str, str]:
        lim = self.limits
        model = self.model(model_name)
        if method not in METHODS:
            raise UserError(f"Method '{method}': use one of {', '.join(METHODS)}.")
        n_steps = bounded_int(steps, 1, lim.max_steps, "Steps")
        seed = parse_seed(seed, lim)
        images = read_images(files, lim.min_adapt_images, lim.max_adapt_images, lim)
        if not self.train_lock.acquire(blocking=False):
            raise UserError("Another training is running; one runs at a time. Try again in a few minutes.")
        try:
            return self._adapt(model, images, str(method), n_steps, seed, progress)
        finally:
            self.train_lock.release()

    def _adapt(
        self, model: Model, images: list[PIL.Image.Image], method: str, steps: int, seed: int,
        progress: Callable[..., Any] | None,
    ) -> tuple[list[tuple[PIL.Image.Image, str]], str, str, str]:  # fmt: skip
        deadline = self._deadline()
        with model.lock:  # a private copy to train on: the served generator keeps answering, untouched
            base = model.pipe
            source = GanPipeline(copy.deepcopy(base.generator), copy.deepcopy(base.discriminator),
                                 card_data=copy.deepcopy(base.card_data), name_or_path=base.name_or_path)  # fmt: skip
        source.set_progress_bar_config(disable=True)

        def step_done(step: int, logs: dict[str, float], draw: Any) -> None:
            if progress is not None:
                progress((step, steps), desc=f"Training {method}", unit="steps")
            self._check_time(deadline, f"Training (step {step} of {steps})")

        if progress is not None:
            progress((0, steps), desc=f"Training {method}", unit="steps")
        options = {**METHODS[method][1], "steps": steps, "seed": seed, "progress": False}
        with warnings.catch_warnings():  # a generator-only source: the method builds its critic, as documented
            warnings.filterwarnings("ignore", message="The source pipeline has no discriminator")
            tuned = source.adapt(images, method=method, callbacks=[step_done], **options)
        tuned.card_data["credits"] = "\n\n".join(filter(None, [
            base.card_data.get("credits"),
            f"Adapted in the gan_transfer Space on {len(images)} uploaded images (their licence is the uploader's).",
        ]))  # fmt: skip
        folder = self.request_dir("adapt")
        name = f"{model.name.split('/')[-1]}-{method}-{len(images)}img-{steps}steps"
        tuned.save_adapter(folder / name, adapter_name=method)
        archive = shutil.make_archive(str(folder / name), "zip", root_dir=folder / name)
        card = folder / f"{name}-card.md"
        shutil.copyfile(folder / name / "README.md", card)
        n = 6
        z = sample_latents(n, source.generator.config.z_dim, 1.0, torch.Generator().manual_seed(seed))
        before = source(latents=z).images
        after = tuned(latents=z).images
        gallery = [(im, f"source #{i}") for i, im in enumerate(before)]
        gallery += [(im, f"adapted #{i}") for i, im in enumerate(after)]
        result = tuned.training_result
        message = (f"Adapted {model.name} with {method} on {len(images)} images in {result.steps} steps "
                   f"({result.seconds:.1f} s). Top row: source; bottom row: adapted, same latents.")  # fmt: skip
        return gallery, archive, str(card), message


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents (a straight line when they are parallel)."""
    na, nb = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((na * nb).sum(1, keepdim=True).clamp(-1, 1))
    if float(omega.abs().max()) < 1e-4:
        return torch.lerp(a, b, t)
    so = torch.sin(omega)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def save_gif(images: Sequence[PIL.Image.Image], path: Path, size: int = 192, ms: int = 90) -> Path:
    """Frames (upscaled without blur to at least ``size`` px), forward then back, looping."""
    side = images[0].width
    scale = max(1, math.ceil(size / side))
    frames = [im.convert("RGB").resize((side * scale, side * scale), PIL.Image.Resampling.NEAREST) for im in images]
    frames = frames + frames[-2:0:-1]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms, loop=0, optimize=False)
    return path


# ------------------------------------------------------------------------------------------------ the page
def _find_translator() -> Path | None:
    for candidate in (os.environ.get("GAN_TRANSFER_TRANSLATOR"), HERE / "translator"):
        if candidate and (Path(candidate) / "model_index.json").is_file():
            return Path(candidate)
    return None


INTRO = """# gan_transfer: few-shot GAN adaptation
Small GANs someone already trained, adapted to new domains from a few images with the `gan_transfer` library
(TransferGAN, BSA, MineGAN, cGANTransfer, TransferI2I). Everything runs on CPU.
`gan-transfer/digiface-faces` is a real face GAN trained on DigiFace-1M (**research-only data**)."""


def build_demo(
    models: Sequence[str] | None = None,
    adapters_dir: str | os.PathLike | None = HERE / "adapters",
    translator: str | os.PathLike | None = None,
    *,
    limits: Limits | None = None,
    work_dir: str | os.PathLike | None = None,
) -> gr.Blocks:
    """The app: loads ``models`` (default: every bundled source GAN), the adapters in ``adapters_dir`` that fit
    them, and ``translator`` (an ``I2IPipeline`` folder; default ``$GAN_TRANSFER_TRANSLATOR`` or ``./translator``
    beside this file — without one the Translate tab is absent). Call :func:`launch` (or ``demo.launch``) to serve."""
    translator = translator if translator is not None else _find_translator()
    space = Space(models, adapters_dir, translator, limits, work_dir)
    lim = space.limits
    default = DEFAULT_MODEL if DEFAULT_MODEL in space.models else next(iter(space.models))
    all_adapters = [NO_ADAPTER, *space.adapter_names()]
    all_classes = space.class_names()

    def choices_for(name: str) -> tuple[list[str], list[str]]:
        m = space.models.get(name)
        return [NO_ADAPTER, *(m.adapters if m else [])], (m.class_choices if m and m.class_choices else [RANDOM_CLASS])

    def adapters_for(name: str) -> tuple[Any, Any]:
        adapters, classes = choices_for(name)
        return (gr.Dropdown(choices=adapters, value=NO_ADAPTER),
                gr.Dropdown(choices=classes, value=RANDOM_CLASS, interactive=len(classes) > 1))  # fmt: skip

    def morph_adapters_for(name: str) -> tuple[Any, Any, Any]:
        adapters, classes = choices_for(name)
        second = adapters[1] if len(adapters) > 1 else NO_ADAPTER
        return (gr.Dropdown(choices=adapters, value=NO_ADAPTER), gr.Dropdown(choices=adapters, value=second),
                gr.Dropdown(choices=classes, value=RANDOM_CLASS, interactive=len(classes) > 1))  # fmt: skip

    with gr.Blocks(title="gan_transfer", delete_cache=(1800, 3600)) as demo:
        demo.space = space  # for tests and callers: the loaded models, limits and the work folder
        gr.Markdown(INTRO)
        with gr.Tab("Generate"), gr.Row():
            with gr.Column(scale=1):
                g_model = gr.Dropdown(list(space.models), value=default, label="Model")
                g_adapter = gr.Dropdown(all_adapters, value=NO_ADAPTER, label="Adapter")
                g_class = gr.Dropdown(all_classes, value=RANDOM_CLASS, label="Class")
                g_trunc = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="Truncation (smaller: less variety)")
                g_seed = gr.Textbox(value="0", label="Seed (a whole number)", max_lines=1, elem_id="seed")
                g_n = gr.Slider(1, lim.max_images, value=8, step=1, label="Number of images")
                with gr.Accordion("Your own adapter (a zip written by save_adapter)", open=False):
                    g_zip = gr.File(label="Adapter zip", file_types=[".zip"], type="filepath")
                g_button = gr.Button("Generate", variant="primary")
            with gr.Column(scale=2):
                g_gallery = gr.Gallery(label="Samples", format="png", columns=4, object_fit="contain",
                                       buttons=["download", "download_all", "fullscreen"],
                                       elem_id="gallery")  # fmt: skip
                g_file = gr.File(label="All images (zip of PNGs)")
                g_status = gr.Markdown()
        with gr.Tab("Morph"), gr.Row():
            with gr.Column(scale=1):
                m_model = gr.Dropdown(list(space.models), value=default, label="Model")
                m_mode = gr.Radio([("between two adapters (BSA domain morphing)", "adapters"),
                                   ("between two latents (a latent walk)", "latents")], value="latents",
                                  label="Morph")  # fmt: skip
                m_a = gr.Dropdown(all_adapters, value=NO_ADAPTER, label="Adapter A (the adapter of a latent walk)")
                m_b = gr.Dropdown(all_adapters, value=NO_ADAPTER, label="Adapter B")
                with gr.Row():
                    m_seed_a = gr.Textbox(value="0", label="Seed A", max_lines=1)
                    m_seed_b = gr.Textbox(value="1", label="Seed B (latent walk)", max_lines=1)
                m_class = gr.Dropdown(all_classes, value=RANDOM_CLASS, label="Class")
                m_trunc = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="Truncation")
                m_frames = gr.Slider(2, lim.max_frames, value=16, step=1, label="Frames")
                m_button = gr.Button("Morph", variant="primary")
            with gr.Column(scale=2):
                m_gif = gr.Image(label="Animation (GIF)", type="filepath", format="gif")
                m_status = gr.Markdown()
        if space.translator is not None:
            targets = space.translate_targets()
            with gr.Tab("Translate"):
                gr.Markdown(f"Translator `{space.translator_name}` ({space.translator.generator.config.resolution} px,"
                            f" targets {', '.join(targets)}).")  # fmt: skip
                with gr.Row():
                    with gr.Column(scale=1):
                        t_image = gr.File(label="Image to translate", file_types=["image"], type="filepath")
                        t_target = gr.Dropdown(targets, value=targets[-1], label="Into")
                        t_k = gr.Slider(1, lim.max_variants, value=4, step=1, label="Translations")
                        t_seed = gr.Textbox(value="0", label="Seed", max_lines=1)
                        t_trunc = gr.Slider(0.05, 2.0, value=1.0, step=0.05, label="Truncation")
                        t_button = gr.Button("Translate", variant="primary")
                    with gr.Column(scale=2):
                        t_gallery = gr.Gallery(label="Input, then translations", format="png", columns=4,
                                               object_fit="contain", buttons=["download", "download_all"])  # fmt: skip
                        t_status = gr.Markdown()
        with gr.Tab("Adapt"):
            gr.Markdown(f"Upload {lim.min_adapt_images}–{lim.max_adapt_images} images of the new domain; training "
                        f"runs on CPU, one at a time, for at most {lim.time_limit:.0f} s.")  # fmt: skip
            with gr.Row():
                with gr.Column(scale=1):
                    a_files = gr.File(label=f"{lim.min_adapt_images}–{lim.max_adapt_images} images",
                                      file_count="multiple", file_types=["image"], type="filepath")  # fmt: skip
                    a_model = gr.Dropdown(list(space.models), value=default, label="Source model")
                    a_method = gr.Radio([(label, key) for key, (label, _) in METHODS.items()], value="bsa",
                                        label="Method")  # fmt: skip
                    a_steps = gr.Slider(1, lim.max_steps, value=min(50, lim.max_steps), step=1, label="Steps")
                    a_seed = gr.Textbox(value="0", label="Seed", max_lines=1)
                    a_button = gr.Button("Adapt", variant="primary")
                with gr.Column(scale=2):
                    a_gallery = gr.Gallery(label="Source (top) and adapted (bottom)", format="png", columns=6,
                                           object_fit="contain")  # fmt: skip
                    a_zip = gr.File(label="Adapter (zip)")
                    a_card = gr.File(label="Its card (README.md)")
                    a_status = gr.Markdown()

        # --- events ------------------------------------------------------------------------------------
        g_model.change(adapters_for, g_model, [g_adapter, g_class], api_visibility="private", queue=False)
        m_model.change(morph_adapters_for, m_model, [m_a, m_b, m_class], api_visibility="private", queue=False)
        infer = {"concurrency_limit": 2, "concurrency_id": "inference"}
        g_button.click(_user_errors(space.generate), [g_model, g_adapter, g_class, g_trunc, g_seed, g_n, g_zip],
                       [g_gallery, g_file, g_status], api_name="generate", **infer)  # fmt: skip
        g_seed.submit(_user_errors(space.generate), [g_model, g_adapter, g_class, g_trunc, g_seed, g_n, g_zip],
                      [g_gallery, g_file, g_status], api_visibility="private", **infer)  # fmt: skip
        m_button.click(_user_errors(space.morph), [m_model, m_mode, m_a, m_b, m_seed_a, m_seed_b, m_class, m_trunc,
                       m_frames], [m_gif, m_status], api_name="morph", **infer)  # fmt: skip
        if space.translator is not None:
            t_button.click(_user_errors(space.translate), [t_image, t_target, t_k, t_seed, t_trunc],
                           [t_gallery, t_status], api_name="translate", **infer)  # fmt: skip

        def adapt(files, model_name, method, steps, seed, progress=gr.Progress()):  # noqa: B008 (gradio's idiom)
            return space.adapt(files, model_name, method, steps, seed, progress)

        a_button.click(_user_errors(adapt), [a_files, a_model, a_method, a_steps, a_seed],
                       [a_gallery, a_zip, a_card, a_status], api_name="adapt", concurrency_limit=1,
                       concurrency_id="training")  # fmt: skip
    demo.queue(max_size=lim.queue_size, default_concurrency_limit=1)
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Serve ``demo`` with this Space's upload limit, errors shown in the page, and no share link."""
    space: Space = demo.space
    options = {"max_file_size": f"{space.limits.max_upload_mb}mb", "show_error": True, "share": False,
               "ssr_mode": False, "allowed_paths": [str(space.work)]}  # fmt: skip
    return demo.launch(**{**options, **kwargs})


if __name__ == "__main__":
    launch(build_demo(), server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))
