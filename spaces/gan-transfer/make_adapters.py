"""Train the adapters this Space ships in ``adapters/`` (run once; 40 minutes on 2 busy CPU cores, MineGAN most).

Each is trained on images bundled with gan_transfer (Twemoji, CC-BY 4.0) from a bundled source GAN, with the
method settings of ``gan-transfer demo``, and saved with ``save_adapter`` (config, weights, card):

- ``twemoji-person-minegan``: ``gan-transfer/digiface-faces`` → 25 Twemoji person faces, MineGAN stage 1 (a miner).
- ``twemoji-person-bsa``: the same pair with BSA (scale/shift: morphable).
- ``twemoji-bsa``: ``gan-transfer/emoji-google`` → 25 Twitter emoji with BSA.

    OMP_NUM_THREADS=1 python spaces/gan-transfer/make_adapters.py [NAME ...]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from gan_transfer import GanPipeline
from gan_transfer.cli.demo import DATA_DIR, TWEMOJI

OUT = Path(__file__).parent / "adapters"
ADAPTERS = {
    "twemoji-person-minegan": ("gan-transfer/digiface-faces", "twitter-person-25", "minegan",
                               {"steps": 150, "batch_size": 16, "stage2": False}),
    "twemoji-person-bsa": ("gan-transfer/digiface-faces", "twitter-person-25", "bsa", {"steps": 200}),
    "twemoji-bsa": ("gan-transfer/emoji-google", "twitter-emoji-25", "bsa", {"steps": 300}),
}  # fmt: skip


def main(names: list[str]) -> None:
    for name in names or list(ADAPTERS):
        source, data, method, options = ADAPTERS[name]
        started = time.perf_counter()
        pipe = GanPipeline.from_pretrained(source)
        pipe.set_progress_bar_config(disable=True)
        with warnings.catch_warnings():  # digiface-faces ships no discriminator; MineGAN builds one
            warnings.filterwarnings("ignore", message="The source pipeline has no discriminator")
            tuned = pipe.adapt(DATA_DIR / data, method=method, seed=0, progress=False, **options)
        credit = f"Adapted on 25 Twemoji images ({data}), {TWEMOJI}."
        tuned.card_data["credits"] = "\n\n".join(filter(None, [pipe.card_data.get("credits"), credit]))
        tuned.save_adapter(OUT / name, adapter_name=method)
        print(f"{name}: {method} on {source}, {options['steps']} steps, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
