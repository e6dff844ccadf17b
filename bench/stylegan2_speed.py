"""StyleGAN2 speed, one run: generation through the grouped modulated convolution vs a plain per-sample loop of the
same maths (same weights, outputs compared), one full-size 256 px image, and a training step's FLOP rate against
this machine's float32 matmul peak.

The 256 px generator is NVIDIA's paper256 configuration (channel_base 16384, channel_max 512, 8 mapping layers;
random weights: the timing does not depend on them). Rows: the straightforward version (each sample's weights
modulated and convolved on their own, in a Python loop), NVIDIA's fused form (all samples' modulated weights in one
grouped convolution) and ``ModulatedConv`` as shipped (the input scaled by the styles, one batched convolution with
the shared weight, the output scaled by the demodulation coefficients). The training step is one TransferGAN-style
critic + generator step (hinge) at 64 px.

    python bench/stylegan2_speed.py --batch 8 --repeats 3
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from train_step import matmul_peak, timed

from gan_transfer.models import StyleGAN2Generator
from gan_transfer.models.stylegan2 import ModulatedConv, bias_act, upfirdn2d
from gan_transfer.recipes import GanTrainer, GeneratorSide, TrainConfig


def per_sample_forward(self: ModulatedConv, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The same layer, one sample at a time: modulate, demodulate, convolve (the textbook loop)."""
    outs = []
    styles = self.style(w) * self.style_gain
    for i in range(x.shape[0]):
        weight = self.weight * styles[i][None, :, None, None]
        if self.demodulate:
            weight = weight * (weight.square().sum(dim=[1, 2, 3]) + 1e-8).rsqrt()[:, None, None, None]
        xi = x[i : i + 1]
        if self.up:
            xi = F.conv_transpose2d(xi, weight.transpose(0, 1), stride=2)
            xi = upfirdn2d(xi, self.resample_filter, pad=(1, 1, 1, 1), gain=4.0)
        else:
            xi = F.conv2d(xi, weight, padding=weight.shape[-1] // 2)
        outs.append(xi)
    x = torch.cat(outs)
    if self.noise_strength is not None and self.noise_mode == "const":
        x = x + self.noise_const * self.noise_strength
    return bias_act(x, self.bias, self.act, 2**0.5 if self.act == "lrelu" else 1.0, self.clamp)


def grouped_forward(self: ModulatedConv, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """NVIDIA's fused form: every sample's modulated, demodulated weights in one grouped convolution."""
    b = x.shape[0]
    styles = self.style(w) * self.style_gain
    weight = self.weight[None] * styles[:, None, :, None, None]
    if self.demodulate:
        weight = weight * (weight.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    out_ch, in_ch, k = self.weight.shape[0], self.weight.shape[1], self.weight.shape[2]
    x = x.reshape(1, b * in_ch, *x.shape[2:])
    if self.up:
        x = F.conv_transpose2d(x, weight.transpose(1, 2).reshape(b * in_ch, out_ch, k, k), stride=2, groups=b)
        x = upfirdn2d(x, self.resample_filter, pad=(1, 1, 1, 1), gain=4.0)
    else:
        x = F.conv2d(x, weight.reshape(b * out_ch, in_ch, k, k), padding=k // 2, groups=b)
    x = x.reshape(b, out_ch, *x.shape[2:])
    if self.noise_strength is not None and self.noise_mode == "const":
        x = x + self.noise_const * self.noise_strength
    return bias_act(x, self.bias, self.act, 2**0.5 if self.act == "lrelu" else 1.0, self.clamp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    g = StyleGAN2Generator(resolution=256, channel_base=16384, channel_max=512).eval()
    z = torch.randn(args.batch, 512, generator=torch.Generator().manual_seed(1))

    def run(forward=None) -> torch.Tensor:
        original = ModulatedConv.forward
        if forward is not None:
            ModulatedConv.forward = forward
        try:
            with torch.inference_mode():
                return g(z)
        finally:
            ModulatedConv.forward = original

    forms = {"per-sample loop (plain)": per_sample_forward,
             "grouped, per-sample weights (NVIDIA's fused form)": grouped_forward,
             "batched, input and output scaled (gan_transfer; NVIDIA's non-fused form)": None}  # fmt: skip
    reference = run(per_sample_forward)
    diffs = {name: (run(f) - reference).abs().max().item() for name, f in forms.items()}
    times = {name: timed(lambda f=f: run(f), args.repeats) for name, f in forms.items()}
    one = torch.randn(1, 512)

    def single() -> None:
        with torch.inference_mode():
            g(one)

    t_one = timed(single, args.repeats)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; StyleGAN2 256 px paper256 "
          f"({g.num_parameters() / 1e6:.1f} M parameters), batch {args.batch}, median of {args.repeats}\n")  # fmt: skip
    loop = times["per-sample loop (plain)"]
    print("| modulated convolution | img/s | vs per-sample loop | max abs diff to the loop |")
    print("|---|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {args.batch / t:.2f} | {loop / t:.2f}x | {diffs[name]:.1e} |")
    print(f"\nOne 256 px image (batch 1): {t_one:.2f} s")

    torch.manual_seed(0)
    small = StyleGAN2Generator(resolution=64, z_dim=256, w_dim=256, channel_base=8192, channel_max=256)
    d = small.build_discriminator(channel_base=8192, channel_max=256)
    images = torch.rand(64, 3, 64, 64) * 2 - 1
    config = TrainConfig(steps=1, batch_size=16, loss="hinge", ema_decay=None, progress=False)
    trainer = GanTrainer(config, GeneratorSide(copy.deepcopy(small)), d, images, z_dim=256)
    trainer.G.train()
    trainer.D.train()

    def step() -> None:
        trainer._d_step()
        trainer._g_step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    t_step = timed(step, args.repeats)
    peak = matmul_peak()
    print(f"\nTraining step (1 D + 1 G, hinge, batch 16, 64 px, G {small.num_parameters() / 1e6:.1f} M / "
          f"D {d.num_parameters() / 1e6:.1f} M): {t_step:.3f} s, {flops / 1e9:.1f} GFLOP → "
          f"{flops / t_step / 1e9:.1f} GFLOP/s = {100 * flops / t_step / peak:.0f} % of the float32 matmul peak "
          f"{peak / 1e9:.1f} GFLOP/s (2048², measured now)")  # fmt: skip


if __name__ == "__main__":
    main()
