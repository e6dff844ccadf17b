"""The bundled zoo: small source GANs trained here on real data, shipped inside the package (data only).

``GanPipeline.from_pretrained("gan-transfer/NAME")`` loads ``gan_transfer/zoo/NAME`` when that folder exists, with
no network call, whether or not the machine is online; pass ``revision=...`` to ask the Hub instead. The zoo takes
part through :data:`gan_transfer.registry.NAME_RESOLVERS`; copying a trained model into it is
``scripts/export_zoo.py``'s job, not the library's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..registry import NAME_RESOLVERS

ZOO_DIR = Path(__file__).parent
PREFIX = "gan-transfer/"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def bundled_folder(path_or_id: str) -> Path | None:
    """The bundled folder for ``gan-transfer/NAME``, or None (a Hub repo of that name may exist); NAME is one plain
    folder name, never a path: anything else under the prefix is refused, so a short name resolves inside the zoo
    or not at all."""
    text = str(path_or_id)
    if not text.startswith(PREFIX):
        return None
    name = text[len(PREFIX) :]
    if not _NAME.fullmatch(name) or ".." in name:
        raise FileNotFoundError(
            f"'{text}' is not a zoo name: after '{PREFIX}' comes one model name (gan_transfer.zoo.list_bundled() "
            f"lists them); for a local folder pass its absolute path ({os.path.abspath(text)})."
        )
    folder = ZOO_DIR / name
    return folder if (folder / "model_index.json").is_file() else None


def list_bundled() -> list[str]:
    return sorted(PREFIX + p.name for p in ZOO_DIR.iterdir() if (p / "model_index.json").is_file())


NAME_RESOLVERS.register("gan-transfer-zoo")(bundled_folder)
