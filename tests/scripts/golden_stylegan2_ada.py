"""Make the StyleGAN2 golden fixtures: run NVIDIA's stylegan2-ada-pytorch (its reference CPU paths) on tiny random
configs and keep a real network pickle plus the outputs.

Usage (once; the outputs are committed as test data, the upstream code is not)::

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/ada   # read at commit d72cc7d
    python tests/scripts/golden_stylegan2_ada.py /tmp/ada tests/data/checkpoints/stylegan2

Writes ``network-snapshot-uncond.pkl`` and ``network-snapshot-cond.pkl`` exactly as its training loop pickles them
(``dict(G, D, G_ema, augment_pipe, training_set_kwargs)`` of persistent classes carrying their module source) and
``io-uncond.safetensors`` / ``io-cond.safetensors``: latents, labels, ``G_ema`` images at ψ = 1 and ψ = 0.7 (with
``truncation_cutoff=None``) in ``noise_mode='const'``, ``force_fp32=True``, and the critic's logits for those images.
Random weights are perturbed beyond the initialisation (noise strengths, biases, ``w_avg``) so every tensor matters.
"""

from __future__ import annotations

import copy
import pickle
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file


def main(upstream: str, out: str) -> None:
    sys.path.insert(0, upstream)
    sys.modules.setdefault("requests", types.ModuleType("requests"))  # dnnlib imports it for downloads only
    from training import networks  # upstream code, read from the given checkout only

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, c_dim in (("uncond", 0), ("cond", 3)):
        torch.manual_seed(0 if c_dim == 0 else 1)
        common = dict(z_dim=32, c_dim=c_dim, w_dim=32, img_resolution=32, img_channels=3)
        g = networks.Generator(**common, mapping_kwargs=dict(num_layers=2),
                               synthesis_kwargs=dict(channel_base=512, channel_max=32, num_fp16_res=0,
                                                     conv_clamp=256))  # fmt: skip
        d = networks.Discriminator(c_dim=c_dim, img_resolution=32, img_channels=3, channel_base=512, channel_max=32,
                                   conv_clamp=256, mapping_kwargs=dict(num_layers=2))  # fmt: skip
        gen = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for n, p in [*g.named_parameters(), *d.named_parameters()]:
                if n.endswith("noise_strength"):
                    p.copy_(torch.rand((), generator=gen) * 0.5 + 0.1)
                elif n.endswith("bias"):
                    p.add_(torch.randn(p.shape, generator=gen) * 0.1)
            g.mapping.w_avg.copy_(torch.randn(32, generator=gen) * 0.5)
        g_ema = copy.deepcopy(g).eval()
        d.eval()
        z = torch.randn(4, 32, generator=gen)
        labels = torch.tensor([0, 2, 1, 2])
        c = torch.nn.functional.one_hot(labels, c_dim).float() if c_dim else torch.zeros(4, 0)
        with torch.no_grad():
            img = g_ema(z, c, truncation_psi=1, noise_mode="const", force_fp32=True)
            img_t = g_ema(z, c, truncation_psi=0.7, noise_mode="const", force_fp32=True)
            logits = d(img, c)
        with open(folder / f"network-snapshot-{name}.pkl", "wb") as f:
            pickle.dump(dict(G=g, D=d, G_ema=g_ema, augment_pipe=None,
                             training_set_kwargs=dict(resolution=32, use_labels=bool(c_dim))), f)  # fmt: skip
        save_file({"z": z, "labels": labels, "images": img.contiguous(), "images_psi07": img_t.contiguous(),
                   "logits": logits.reshape(-1).contiguous()}, str(folder / f"io-{name}.safetensors"))  # fmt: skip
        print(f"{name}: G {sum(p.numel() for p in g.parameters())} params, images std {img.std():.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
