"""Make the BigGAN-PyTorch golden fixtures: run ajbrock's public code on a tiny random config, keep files + outputs.

Usage (once; the outputs are committed as test data, the upstream code is not)::

    git clone https://github.com/ajbrock/BigGAN-PyTorch /tmp/ajbrock   # read at commit 9845943
    python tests/scripts/golden_biggan_pytorch.py /tmp/ajbrock tests/data/checkpoints/biggan_pytorch

Writes ``G.pth`` / ``D.pth`` exactly as upstream's ``utils.save_weights`` does (``torch.save(G.state_dict())``) and
``io.safetensors`` holding the inputs and the eval-mode outputs of ``G(z, G.shared(y))`` and ``D(x, y)``. The random
weights are perturbed beyond upstream's initialisation (stored BN statistics, attention gains, the spectral-norm
``u0`` vectors) so that every buffer the forward pass reads changes the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

CONFIG = dict(resolution=64, G_ch=4, D_ch=4, dim_z=24, shared_dim=16, hier=True, G_shared=True, n_classes=5,
              G_attn="32", D_attn="16", SN_eps=1e-6, BN_eps=1e-5, skip_init=False, no_optim=True)  # fmt: skip


def _perturb(model: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("stored_mean"):
                buf.copy_(torch.randn(buf.shape, generator=gen) * 0.1)
            elif name.endswith("stored_var"):
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
            elif name.split(".")[-1].startswith("u"):
                buf.copy_(torch.randn(buf.shape, generator=gen))
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.7)
            elif name.startswith("output_layer.0."):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def main(upstream: str, out: str) -> None:
    sys.path.insert(0, upstream)
    import BigGAN  # upstream code, read from the given checkout only

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    g = BigGAN.Generator(**CONFIG).eval()
    d = BigGAN.Discriminator(**CONFIG).eval()
    _perturb(g, gen)
    _perturb(d, gen)
    z = torch.randn(3, g.dim_z, generator=gen)
    y = torch.tensor([0, 3, 4])
    with torch.no_grad():
        images = g(z, g.shared(y))
        logits = d(images, y)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(g.state_dict(), folder / "G.pth")
    torch.save(d.state_dict(), folder / "D.pth")
    save_file({"z": z, "y": y, "images": images.contiguous(), "logits": logits.contiguous()},
              str(folder / "io.safetensors"))  # fmt: skip
    print(f"G {len(g.state_dict())} keys, D {len(d.state_dict())} keys; images {tuple(images.shape)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
