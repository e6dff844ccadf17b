"""The bundled zoo: small source GANs trained here on real data, shipped inside the package.

``GanPipeline.from_pretrained("gan-transfer/NAME")`` loads ``gan_transfer/zoo/NAME`` when that folder exists, with
no network call, whether or not the machine is online; pass ``revision=...`` to ask the Hub instead. Weights are
stored in float16 where that keeps the samples' quality and load as float32.
"""

from __future__ import annotations

from pathlib import Path

import torch

ZOO_DIR = Path(__file__).parent
PREFIX = "gan-transfer/"


def bundled_folder(path_or_id: str) -> Path | None:
    """The bundled folder for ``gan-transfer/NAME``, or None."""
    if not str(path_or_id).startswith(PREFIX):
        return None
    folder = ZOO_DIR / str(path_or_id)[len(PREFIX) :]
    return folder if (folder / "model_index.json").is_file() else None


def list_bundled() -> list[str]:
    return sorted(PREFIX + p.name for p in ZOO_DIR.iterdir() if (p / "model_index.json").is_file())


def export(pipeline_folder: str | Path, name: str, dtype: torch.dtype = torch.float16) -> Path:
    """Copy a trained pipeline into the zoo, weights cast to ``dtype`` (card and configs unchanged)."""
    from ..pipelines import GanPipeline  # the zoo is data; only exporting needs the pipeline class

    pipe = GanPipeline.from_pretrained(pipeline_folder)
    pipe.name_or_path = PREFIX + name
    info = pipe.card_data.setdefault("gan_transfer", {})
    info["parameters"] = {role: m.num_parameters() for role, m in pipe.components.items() if m is not None}
    info["stored_dtype"] = str(dtype).removeprefix("torch.")
    pipe.to(dtype=dtype)
    return pipe.save_pretrained(ZOO_DIR / name)
