"""One GAN training step: the engine against a plain PyTorch loop written the obvious way, same models, same batch.

Also counts the step's FLOPs (torch's FlopCounterMode: matmuls and convolutions, forward and backward, the gradient
penalty's double backward included) and compares the achieved rate with a float32 matmul peak measured in the same
run. Prints a markdown table.

    python bench/train_step.py --steps 6 --warmup 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gan_transfer.models import BigGANDiscriminator, BigGANGenerator, ResNetDiscriminator, ResNetGenerator
from gan_transfer.recipes import GanTrainer, GeneratorSide, TrainConfig
from gan_transfer.recipes.losses import gradient_penalty

FAMILIES = {
    "resnet (WGAN-GP)": (ResNetGenerator, ResNetDiscriminator, "wgan-gp"),
    "biggan (hinge)": (BigGANGenerator, BigGANDiscriminator, "hinge"),
}


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after one warm-up call (the speed benchmarks' one timer)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def obvious_loop(g, d, images, loss, batch, steps, warmup):
    """The textbook loop: NCHW, default Adam, separate real/fake D passes, indexing a shuffled tensor."""
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.0, 0.9))
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        real = images[torch.randint(0, images.shape[0], (batch,))]
        z = torch.randn(batch, g.config.z_dim)
        fake = g(z).detach()
        opt_d.zero_grad()
        if loss == "wgan-gp":
            d_loss = d(fake).mean() - d(real).mean() + 10 * gradient_penalty(d, real, fake, torch.rand(batch))
        else:
            d_loss = F.relu(1 - d(real)).mean() + F.relu(1 + d(fake)).mean()
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = -d(g(torch.randn(batch, g.config.z_dim))).mean()
        g_loss.backward()
        opt_g.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_loop(g, d, images, loss, batch, steps, warmup, precision="no"):
    config = TrainConfig(
        steps=warmup + steps,
        batch_size=batch,
        loss=loss,
        d_steps=1,
        ema_decay=None,
        progress=False,
        betas=(0.0, 0.9),
        mixed_precision=precision,
    )
    trainer = GanTrainer(config, GeneratorSide(g), d, images, z_dim=g.config.z_dim)
    stamps = []
    trainer.fit(callbacks=[lambda step, logs, draw: stamps.append(time.perf_counter())])
    return statistics.median(b - a for a, b in zip(stamps[warmup - 1 : -1], stamps[warmup:], strict=True)), trainer


class FlopCount(TorchDispatchMode):
    """Sums torch's own per-op FLOP formulas (matmul, conv and their backward) at the dispatch level.

    torch's FlopCounterMode also tracks modules with autograd hooks, which autograd.grad (the gradient penalty)
    does not support; counting at dispatch alone avoids that.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet in flop_registry:
            self.total += flop_registry[packet](*args, **kwargs, out_val=out)
        return out


def count_flops(trainer) -> int:
    trainer.G.train()
    trainer.D.train()
    with FlopCount() as counter:
        trainer._d_step()
        trainer._g_step()
    return counter.total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    peak = matmul_peak()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 matmul peak "
        f"{peak / 1e9:.1f} GFLOP/s (2048², measured now); median seconds per step (1 D + 1 G step), "
        f"batch {args.batch}, {args.resolution} px, width {args.width}\n"
    )
    print(
        "| family | G / D params | obvious loop s/step | engine s/step | speed-up | GFLOP/step | engine GFLOP/s "
        "| % of matmul peak | engine bf16 s/step | bf16 speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (g_cls, d_cls, loss) in FAMILIES.items():
        torch.manual_seed(0)
        g = g_cls(resolution=args.resolution, width=args.width)
        d = d_cls(resolution=args.resolution, width=args.width)
        images = torch.rand(512, 3, args.resolution, args.resolution) * 2 - 1
        run = (images, loss, args.batch, args.steps, args.warmup)
        plain = obvious_loop(copy.deepcopy(g), copy.deepcopy(d), *run)
        fast, trainer = engine_loop(copy.deepcopy(g), copy.deepcopy(d), *run)
        half, _ = engine_loop(copy.deepcopy(g), copy.deepcopy(d), *run, precision="bf16")
        flops = count_flops(trainer)
        print(
            f"| {name} | {g.num_parameters() / 1e6:.2f} M / {d.num_parameters() / 1e6:.2f} M | {plain:.3f} | "
            f"{fast:.3f} | {plain / fast:.2f}x | {flops / 1e9:.1f} | {flops / fast / 1e9:.1f} | "
            f"{100 * flops / fast / peak:.0f} % | {half:.3f} | {plain / half:.2f}x |"
        )


if __name__ == "__main__":
    main()
