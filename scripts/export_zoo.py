"""Copy a trained pipeline into the bundled zoo, weights cast to float16 (card and configs unchanged).

    python scripts/export_zoo.py RUN/pipeline NAME [--zoo-dir DIR]

Run it after a ``scripts/train_zoo.sh NAME`` run has finished and its sample grids look right.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan_transfer import GanPipeline, zoo


def export(pipeline_folder: str | Path, name: str, zoo_dir: str | Path | None = None,
           dtype: torch.dtype = torch.float16) -> Path:  # fmt: skip
    """Save ``pipeline_folder`` as ``gan-transfer/NAME`` with parameter counts and the stored dtype in its card."""
    pipe = GanPipeline.from_pretrained(pipeline_folder)
    pipe.name_or_path = zoo.PREFIX + name
    info = pipe.card_data.setdefault("gan_transfer", {})
    info["parameters"] = {role: m.num_parameters() for role, m in pipe.components.items() if m is not None}
    info["stored_dtype"] = str(dtype).removeprefix("torch.")
    pipe.to(dtype=dtype)
    return pipe.save_pretrained(Path(zoo_dir or zoo.ZOO_DIR) / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="the trained pipeline folder (RUN/pipeline)")
    parser.add_argument("name", help="the zoo name: loadable as gan-transfer/NAME")
    parser.add_argument("--zoo-dir", default=None, help="default: the installed package's zoo folder")
    args = parser.parse_args()
    print(f"Exported to {export(args.pipeline, args.name, args.zoo_dir)}")


if __name__ == "__main__":
    main()
