"""Re-render the bundled zoo's model cards from the ``model_cards`` templates; weights and configs stay as they are.

    python scripts/render_zoo_cards.py [NAME ...] [--zoo-dir DIR] [--check]

Writes each pipeline's ``README.md`` and ``samples.png`` (8 images at seed 0, drawn from the weights as they load:
float32) and its components' ``README.md``, from the card data already in the card (licence, credits, datasets,
training record). ``--check`` writes nothing and lists the cards that a render would change (exit 1 if any).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from gan_transfer import GanPipeline, zoo


def _names(names: list[str] | None, zoo_dir: Path) -> list[str]:
    if names:
        return [n.removeprefix(zoo.PREFIX) for n in names]
    return sorted(p.name for p in zoo_dir.iterdir() if (p / "model_index.json").is_file())


def _pipeline(name: str, zoo_dir: Path) -> GanPipeline:
    pipe = GanPipeline.from_pretrained(zoo_dir / name)
    pipe.name_or_path = zoo.PREFIX + name  # the cards name the id users load: gan-transfer/NAME
    return pipe


def render(names: list[str] | None = None, zoo_dir: str | Path | None = None) -> list[Path]:
    """Re-render the cards of ``names`` (default: every bundled pipeline); returns the pipeline cards written."""
    root = Path(zoo_dir or zoo.ZOO_DIR)
    return [_pipeline(name, root).save_card(root / name) for name in _names(names, root)]


def stale_cards(names: list[str] | None = None, zoo_dir: str | Path | None = None) -> list[str]:
    """The ``README.md`` files (zoo-relative) that :func:`render` would change; nothing is written to the zoo."""
    root = Path(zoo_dir or zoo.ZOO_DIR)
    stale = []
    with tempfile.TemporaryDirectory(prefix="zoo-cards-") as tmp:
        for name in _names(names, root):
            fresh = Path(tmp) / name
            _pipeline(name, root).save_card(fresh)
            for card in sorted(fresh.rglob("README.md")):
                kept = root / name / card.relative_to(fresh)
                if not kept.is_file() or kept.read_text(encoding="utf-8") != card.read_text(encoding="utf-8"):
                    stale.append(str(kept.relative_to(root)))
    return stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="zoo names (default: all), e.g. emoji-google")
    parser.add_argument("--zoo-dir", default=None, help="default: the installed package's zoo folder")
    parser.add_argument("--check", action="store_true", help="write nothing; list the cards a render would change")
    args = parser.parse_args()
    if args.check:
        stale = stale_cards(args.names, args.zoo_dir)
        print("\n".join(stale) or "Every zoo card is up to date.")
        sys.exit(1 if stale else 0)
    for path in render(args.names, args.zoo_dir):
        print(f"Wrote {path} and {path.with_name('samples.png')}")


if __name__ == "__main__":
    main()
