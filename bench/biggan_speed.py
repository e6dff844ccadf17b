"""BigGAN generation speed: BigGAN-deep against pytorch-pretrained-biggan with the same weights, and one full-size
128 px image from each imported BigGAN layout, on this machine's cores, in one run.

Part 1 builds the package's own BigGAN-deep at full size (128 px, channel width 128, 1,000 classes; random weights,
its spectral norms settled by a few power iterations), converts its saved ``pytorch_model.bin`` with the
``biggan-deep`` format and times the same latents through: the package's module (``no_grad``, as its README runs it),
ours as converted (``no_grad``), and ours prepared with :meth:`Generator.for_inference` (spectral norms baked,
channels-last) under ``inference_mode`` at a fixed truncation. Outputs are compared with the package's.
Part 2 times one image (batch 1) and a batch of 8 from full-size BigGAN-PyTorch (138k config) and BigGAN-deep 128.

    python bench/biggan_speed.py --batch 8 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import types
from pathlib import Path

import torch
from train_step import timed

from gan_transfer import GanPipeline
from gan_transfer.models import BigGANGenerator

LAYERS_128 = [[False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
              [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]]  # fmt: skip


def package_model() -> torch.nn.Module:
    for name in ("boto3", "botocore", "botocore.exceptions", "requests"):  # imported for downloads only
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["botocore.exceptions"].ClientError = Exception
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(0)
    model = BigGAN(BigGANConfig(layers=LAYERS_128))  # its 128 px defaults: width 128, z 128, 1,000 classes
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_means"):
                buf.normal_(0, 0.2)
            elif name.endswith("running_vars"):
                buf.uniform_(0.5, 1.5)
        model.generator.bn.weight.fill_(1.0)
        model.generator.bn.bias.zero_()
        model.train()
        for _ in range(3):
            model(torch.randn(1, 128), torch.eye(1000)[[7]], 1.0)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--truncation", type=float, default=0.4)
    args = parser.parse_args()
    t = args.truncation
    ref = package_model()
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(ref.state_dict(), Path(tmp) / "pytorch_model.bin")
        ours = GanPipeline.from_checkpoint(Path(tmp) / "pytorch_model.bin", "biggan-deep").generator.eval()
    ours.set_truncation(t)
    fast = ours.for_inference()
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(args.batch, 128, generator=gen).clamp(-2, 2) * t
    labels = torch.randint(0, 1000, (args.batch,), generator=gen)
    one_hot = torch.eye(1000)[labels]

    def run_ref() -> torch.Tensor:
        with torch.no_grad():
            return ref(z, one_hot, t)

    def run_ours() -> torch.Tensor:
        with torch.no_grad():
            return ours(z, class_labels=labels)

    def run_fast() -> torch.Tensor:
        with torch.inference_mode():
            return fast(z.contiguous(), class_labels=labels)

    expected = run_ref()
    diffs = [0.0, (run_ours() - expected).abs().max().item(), (run_fast() - expected).abs().max().item()]
    times = [timed(f, args.repeats) for f in (run_ref, run_ours, run_fast)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; BigGAN-deep 128 px (50.4 M parameters), "
          f"batch {args.batch}, truncation {t}, median of {args.repeats}\n")  # fmt: skip
    print("| generator | img/s | vs package | max abs diff to the package |")
    print("|---|---|---|---|")
    names = ["pytorch-pretrained-biggan (no_grad)", "gan_transfer biggan-deep, as converted (no_grad)",
             "gan_transfer, for_inference() (SN baked, channels-last, inference_mode)"]  # fmt: skip
    for name, seconds, diff in zip(names, times, diffs, strict=True):
        print(f"| {name} | {args.batch / seconds:.2f} | {times[0] / seconds:.2f}x | {diff:.1e} |")

    print("\n| full-size model | parameters | batch 1: s/image | batch 8: s/image |")
    print("|---|---|---|---|")
    torch.manual_seed(0)
    biggan = BigGANGenerator(resolution=128, num_classes=1000, z_dim=120, width=96, shared_dim=128,
                             channel_multipliers=(16, 16, 8, 4, 2, 1), attention_resolution=64).eval()  # fmt: skip
    for name, g in (("BigGAN-PyTorch 138k config (ch 96)", biggan.for_inference()), ("BigGAN-deep 128", fast)):
        row = []
        for batch in (1, 8):
            zz = torch.randn(batch, g.config.z_dim).clamp(-2, 2) * t
            yy = torch.randint(0, 1000, (batch,))

            def run(g=g, zz=zz, yy=yy) -> None:
                with torch.inference_mode():
                    g(zz, class_labels=yy)

            row.append(timed(run, args.repeats) / batch)
        print(f"| {name} | {g.num_parameters() / 1e6:.1f} M | {row[0]:.2f} | {row[1]:.2f} |")


if __name__ == "__main__":
    main()
