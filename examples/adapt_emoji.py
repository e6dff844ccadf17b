"""Few-shot adaptation in a dozen lines: the bundled Google-emoji GAN → 25 Twitter emoji, two ways.

python examples/adapt_emoji.py   (needs the bundled source gan-transfer/emoji-google)
"""

import torch

from gan_transfer import GanPipeline
from gan_transfer.cli.demo import HELD_OUT, TARGET, TARGET_CREDIT
from gan_transfer.metrics import evaluate

source = GanPipeline.from_pretrained("gan-transfer/emoji-google")  # bundled: no network needed
full = source.adapt(TARGET, method="transfer_gan", steps=100)  # fine-tunes copies of G and D
light = source.adapt(TARGET, method="bsa", steps=300)  # a scale/shift adapter; the source is untouched

for name, pipe in (("source", source), ("TransferGAN", full), ("BSA", light)):
    print(name, evaluate(pipe, HELD_OUT, ["fd", "kid"], num_samples=100, kid_subset_size=50))

light.card_data["credits"] = source.card_data.get("credits", "") + "\n\n" + TARGET_CREDIT  # licences travel
light.save_adapter("twitter-bsa")  # a few kilobytes
images = light(num_images=16, generator=torch.Generator().manual_seed(0)).images
