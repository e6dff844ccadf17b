"""Images in: folders, paths, PIL images, arrays, tensors or a ``datasets.Dataset`` → one validated tensor.

Whatever comes in leaves as an (N, C, R, R) float32 tensor in [-1, 1] at the model's resolution and channel count:
transparent images are composited on a background, grayscale/RGB converted, the shorter side resized to R
(bicubic, antialiased) and the centre cropped. Every bad input gets one sentence naming it and the fix.

What an image may be, and how it is read:
- at most :data:`MAX_PIXELS` pixels and an aspect ratio of at most :data:`MAX_ASPECT` : 1, checked from the file's
  header before it is decoded (a tiny file may declare a huge image), so the work is bounded by the real input;
- images above :data:`REDUCE_ABOVE` pixels are first box-reduced by a whole factor (to at least 2·R on the short
  side) before the bicubic resize, so a 50-megapixel photo never becomes a 50-megapixel float tensor;
- values are scaled by the image's mode, never by its content: 8-bit modes by 255, 16-bit (``I;16*``, and ``I`` as
  16-bit PNGs give it) by 65535, float (``F``) taken as [0, 1];
- an animated image (GIF, APNG, WebP) gives its first frame, with a warning naming the file and its frame count:
  save the frames as separate files to train on all of them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

MAX_PIXELS = 8192 * 8192  # larger images are refused (PIL's own bomb limit is 179 M)
MAX_ASPECT = 20  # longer side / shorter side; beyond it an image is a strip, not a picture
REDUCE_ABOVE = 2048 * 2048  # larger images are box-reduced before the float conversion
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ImagesLike = Any  # folder | path | PIL image | sequence of those | array | tensor | datasets.Dataset


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted by path."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def image_paths(images: ImagesLike) -> list[Path]:
    """The folders and files ``images`` names on disk (none for in-memory images): what a run must never write into."""
    if isinstance(images, (str, os.PathLike)):
        return [Path(images)]
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        return [Path(x) for x in images if isinstance(x, (str, os.PathLike))]
    return []


def load_images(
    images: ImagesLike,
    resolution: int,
    channels: int = 3,
    *,
    min_images: int = 1,
    purpose: str = "this",
    background: tuple[int, int, int] = (255, 255, 255),
    image_column: str | None = None,
) -> torch.Tensor:
    """Turn ``images`` into an (N, channels, resolution, resolution) float32 tensor in [-1, 1].

    Float arrays/tensors are read as [0, 1] (or as [-1, 1] when they hold negative values); uint8 as [0, 255].
    Tensors are (N, C, H, W), arrays (N, H, W, C) as PIL gives them; C may be 1, 3 or 4 (RGBA).
    ``min_images``/``purpose`` give the "too few images" error its numbers and its reason.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels={channels}: use 1 or 3.")
    bg = torch.tensor(background, dtype=torch.float32).view(3, 1, 1) / 255
    items, source = _as_items(images, image_column)
    if isinstance(items, torch.Tensor):
        _check_size(items.shape[-1], items.shape[-2], source)
        batch = _fix_channels(items, channels, bg)
        out = _resize_crop(batch, resolution)
    else:
        if not items:
            raise ValueError(f"No images were given ({source} is empty); pass at least {max(min_images, 1)}.")
        out = torch.stack(
            [_resize_crop(_fix_channels(_read(x, resolution)[None], channels, bg), resolution)[0] for x in items]
        )
    if out.shape[0] < min_images:
        raise ValueError(
            f"Got {out.shape[0]} images from {source}, but {purpose} needs at least {min_images}; add more images."
        )
    return out * 2 - 1


# ------------------------------------------------------------------------------------------- what came in
def _as_items(images: ImagesLike, image_column: str | None) -> tuple[list[Any] | torch.Tensor, str]:
    """A list of PIL images / paths, or one (N, C, H, W) float tensor in [0, 1]; plus a name for errors."""
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if path.is_dir():
            files = list_image_files(path)
            if not files:
                raise ValueError(
                    f"Folder '{path}' holds no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                    "point to a folder of images."
                )
            return files, f"folder '{path}'"
        if path.is_file():
            return [path], f"'{path}'"
        raise FileNotFoundError(f"Image path '{path}' does not exist; check the path.")
    if isinstance(images, PIL.Image.Image):
        return [images], "the PIL image"
    if isinstance(images, torch.Tensor):
        return _tensor_in(images, "the tensor", channels_last=False), "the tensor"
    if isinstance(images, np.ndarray):
        return _tensor_in(torch.from_numpy(np.ascontiguousarray(images)), "the array", channels_last=True), "the array"
    if type(images).__module__.startswith("datasets"):
        return _dataset_items(images, image_column), "the dataset"
    if isinstance(images, Sequence):
        for i, x in enumerate(images):
            if not isinstance(x, (str, os.PathLike, PIL.Image.Image)):
                raise TypeError(
                    f"Item {i} of the image list is a {type(x).__name__}; give paths or PIL images "
                    "(or one array/tensor for a batch)."
                )
        return list(images), "the image list"
    raise TypeError(
        f"Cannot read images from a {type(images).__name__}; pass a folder, paths, PIL images, an array, "
        "a tensor or a datasets.Dataset."
    )


def _tensor_in(t: torch.Tensor, name: str, channels_last: bool) -> torch.Tensor:
    if t.ndim == 3:
        single_chw = not channels_last and t.shape[0] in (1, 3, 4)
        single_hwc = channels_last and t.shape[-1] in (1, 3, 4)
        t = t[None] if single_chw or single_hwc else t[:, None] if not channels_last else t[..., None]
    if t.ndim != 4:
        layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {layout} images.")
    if channels_last:
        t = t.permute(0, 3, 1, 2)
    if t.shape[0] == 0:
        raise ValueError(f"No images were given ({name} is empty).")
    if t.shape[1] not in (1, 3, 4):
        raise ValueError(f"{name} has {t.shape[1]} channels; use 1 (gray), 3 (RGB) or 4 (RGBA).")
    if t.dtype == torch.uint8:
        return t.float() / 255
    if not t.is_floating_point():
        raise ValueError(f"{name} has dtype {t.dtype}; use uint8 (0-255) or float (0-1).")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds NaN or infinite values; clean the images first.")
    lo, hi = t.min().item(), t.max().item()
    if lo < -1.0001 or hi > 1.0001:
        raise ValueError(f"{name} has values in [{lo:.3g}, {hi:.3g}]; float images must lie in [0, 1] (or [-1, 1]).")
    return ((t + 1) / 2 if lo < 0 else t).clamp(0, 1)


def _dataset_items(dataset: Any, image_column: str | None) -> list[Any]:
    import datasets  # optional dependency: only needed when a Dataset is passed

    if image_column is None:
        found = [k for k, f in dataset.features.items() if isinstance(f, datasets.Image)]
        if not found:
            raise ValueError(
                f"The dataset has no image column (columns: {', '.join(dataset.column_names)}); pass image_column=."
            )
        image_column = found[0]
    if image_column not in dataset.column_names:
        raise ValueError(f"The dataset has no column '{image_column}' (columns: {', '.join(dataset.column_names)}).")
    return list(dataset[image_column])


# ------------------------------------------------------------------------------------------ one image
def _read(item: str | os.PathLike | PIL.Image.Image, resolution: int) -> torch.Tensor:
    """One image → (C, H, W) float in [0, 1], C ∈ {1, 3, 4}; unreadable or absurd files are named in the error."""
    if isinstance(item, PIL.Image.Image):
        _check_size(item.width, item.height, "a PIL image")
        return _pil_to_tensor(item, "a PIL image", resolution)
    path = Path(item)
    if not path.is_file():
        raise FileNotFoundError(f"Image '{path}' does not exist; check the path.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(path) as img:  # reads the header only
                _check_size(img.width, img.height, f"'{path}'")
                frames = getattr(img, "n_frames", 1)
                if frames > 1:
                    warnings.warn(
                        f"'{path}' is animated ({frames} frames); only its first frame is used. Save the frames as "
                        "separate images to train on all of them.",
                        stacklevel=4,
                    )
                img.load()
                return _pil_to_tensor(img, f"'{path}'", resolution)
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning):
        raise ImageError(
            f"Image '{path}' declares more than the {MAX_PIXELS:,} pixels this reader takes (a decompression bomb "
            "or a huge scan); shrink it or remove it."
        ) from None
    except ImageError:
        raise  # already one sentence naming the file
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"Cannot read image '{path}' ({err}); remove or replace the file.") from None


class ImageError(ValueError):
    """An image this reader refuses by its size or shape (the message names it)."""


def _check_size(width: int, height: int, name: str) -> None:
    """Refuse empty, huge or strip-shaped images before any pixel is decoded or resized."""
    if width == 0 or height == 0:
        raise ImageError(f"Image {name} is empty ({width}x{height}); remove it.")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"Image {name} is {width}x{height} pixels, more than the {MAX_PIXELS:,} this reader takes; "
            "shrink it or remove it."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(
            f"Image {name} is {width}x{height} pixels, an aspect ratio beyond {MAX_ASPECT}:1; crop it to a picture "
            "or remove it."
        )


def _pil_to_tensor(img: PIL.Image.Image, name: str, resolution: int) -> torch.Tensor:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(img, dtype=np.float32)
        return torch.from_numpy(np.clip(array / (1.0 if mode == "F" else 65535.0), 0, 1))[None]
    transparent = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if transparent:
        img = img.convert("RGBA")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB")
    factor = min(img.width, img.height) // (2 * resolution)
    if img.width * img.height > REDUCE_ABOVE and factor >= 2:
        img = img.reduce(factor)  # a box filter over whole blocks: bounded memory, then the bicubic resize
    array = np.asarray(img, dtype=np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255


def _fix_channels(x: torch.Tensor, channels: int, background: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] with C ∈ {1, 3, 4} → ``channels`` channels, alpha composited on ``background``."""
    if x.shape[1] == 4:
        alpha = x[:, 3:4]
        x = x[:, :3] * alpha + background.to(x) * (1 - alpha)
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1)
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)  # ITU-R 601 luma, as PIL
    return (x * weights).sum(dim=1, keepdim=True)


def _resize_crop(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize the shorter side to ``resolution`` (bicubic, antialiased), then crop the centre square."""
    h, w = x.shape[-2:]
    if (h, w) != (resolution, resolution):
        scale = resolution / min(h, w)
        size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
        x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
        x = x[..., top : top + resolution, left : left + resolution]
    return x.contiguous()
