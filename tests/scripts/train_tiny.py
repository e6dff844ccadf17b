"""Train a tiny TransferGAN run and save its weights; launched with 1 or 2 processes by test_engine.py.

``python train_tiny.py OUT FAMILY holdout``: with a held-out slice scored at every step; OUT keeps the scores too,
and each process writes how many latents it drew (GanTrainer.draw, draw_start) to OUT.drawn<rank>.

Adam's eps is raised to 1e-4 here: parameters whose true gradient is zero (a bias right before batch norm) get
gradients of pure float noise, and with eps = 1e-8 Adam turns that noise into full-size ±lr steps, which would
hide whether the two runs agree.
"""

import sys
from pathlib import Path

import torch
from accelerate import PartialState
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from gan_transfer.recipes.engine import GanTrainer
from tests.conftest import tiny_pipeline

out = Path(sys.argv[1])
family = sys.argv[2] if len(sys.argv) > 2 else "resnet"
holdout = {"holdout": 0.25, "eval_every": 1, "eval_samples": 7} if sys.argv[3:] == ["holdout"] else {}
drawn = []
draw, draw_start = GanTrainer.draw, GanTrainer.draw_start  # later steps, and step 0 (the source)
GanTrainer.draw = lambda self, z, *rest: drawn.append(len(z)) or draw(self, z, *rest)
GanTrainer.draw_start = lambda self, z, *rest: drawn.append(len(z)) or draw_start(self, z, *rest)
pipe = tiny_pipeline(family)
images = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0))
options = {"batch_size": 8, "d_steps": 2, "lr_g": 1e-3, "lr_d": 1e-3, "adam_eps": 1e-4, "ema_decay": 0.9}
tuned = pipe.adapt(images, steps=3, diffaugment="color,translation", progress=False, cpu=True, **options, **holdout)
if holdout:
    Path(f"{out}.drawn{PartialState().process_index}").write_text(str(sum(drawn)))
if PartialState().is_main_process:
    tensors = {f"G.{k}": v for k, v in tuned.generator.state_dict().items()}
    tensors.update({f"D.{k}": v for k, v in tuned.discriminator.state_dict().items()})
    if holdout:
        tensors["scores"] = torch.tensor(tuned.training_result.extras["selection"]["scores"])
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out))
