"""Make the StudioGAN ``big_resnet`` golden fixtures: run its public code on a tiny random config, keep files + outputs.

Usage (once; the outputs are committed as test data, the upstream code is not)::

    git clone https://github.com/POSTECH-CVLab/PyTorch-StudioGAN /tmp/studio   # read at commit 947b35e
    python tests/scripts/golden_studiogan.py /tmp/studio tests/data/checkpoints/studiogan

The model is built as ``src/configs/ImageNet/BigGAN-256.yaml`` builds it (cBN generator, projection critic, spectral
norm in both, attention after generator block 4 and critic block 1 — here at 64 px, so after G block 3), at width 4.
Files are written as StudioGAN's ``save_model`` writes them: ``{"state_dict": ..., "optimizer": ...}`` for G, and the
critic's file also with NumPy scalars beside (``best_fid``, ``step``), which ``weights_only`` loading must accept.
``io.safetensors`` holds the inputs and the eval-mode outputs (G with its stored BN statistics, D's ``adv_output``).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn


def main(upstream: str, out: str) -> None:
    sys.path.insert(0, str(Path(upstream) / "src"))
    sys.modules["utils.misc"] = types.SimpleNamespace(dummy_context_mgr=lambda: _Null())  # only this is used
    import utils.ops as ops  # upstream code, read from the given checkout only
    from models import big_resnet

    modules = types.SimpleNamespace(
        g_conv2d=ops.snconv2d, g_deconv2d=ops.sndeconv2d, g_linear=ops.snlinear, g_embedding=ops.sn_embedding,
        d_conv2d=ops.snconv2d, d_deconv2d=ops.sndeconv2d, d_linear=ops.snlinear, d_embedding=ops.sn_embedding,
        g_bn=ops.ConditionalBatchNorm2d, d_bn=ops.batchnorm_2d, g_act_fn=nn.ReLU(inplace=True),
        d_act_fn=nn.ReLU(inplace=True))  # fmt: skip
    model = types.SimpleNamespace(info_type="N/A")
    torch.manual_seed(0)
    g = big_resnet.Generator(z_dim=20, g_shared_dim=16, img_size=64, g_conv_dim=4, apply_attn=True, attn_g_loc=[3],
                             g_cond_mtd="cBN", num_classes=5, g_init="ortho", g_depth=None, mixed_precision=False,
                             MODULES=modules, MODEL=model)  # fmt: skip
    d = big_resnet.Discriminator(img_size=64, d_conv_dim=4, apply_d_sn=True, apply_attn=True, attn_d_loc=[2],
                                 d_cond_mtd="PD", aux_cls_type="W/O", d_embed_dim=None, normalize_d_embed=False,
                                 num_classes=5, d_init="ortho", d_depth=None, mixed_precision=False,
                                 MODULES=modules, MODEL=model)  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a few train-mode passes: power iterations move u/v, BN statistics leave their start
        g.train()
        for _ in range(3):
            g(torch.randn(8, 20, generator=gen), torch.randint(0, 5, (8,), generator=gen))
        d.train()
        for _ in range(3):
            d(torch.randn(8, 3, 64, 64, generator=gen), torch.randint(0, 5, (8,), generator=gen))
        for name, p in [*g.named_parameters(), *d.named_parameters()]:
            if name.endswith("sigma"):
                p.fill_(0.7)
            elif name.startswith("bn4."):
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    g.eval()
    d.eval()
    z = torch.randn(3, 20, generator=gen)
    y = torch.tensor([0, 3, 4])
    with torch.no_grad():
        images = g(z, y, eval=True)
        logits = d(images, y, eval=True)["adv_output"]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": g.state_dict(), "optimizer": {}}, folder / "model=G-best-weights-step=3.pth")
    torch.save({"state_dict": d.state_dict(), "optimizer": {}, "step": np.int64(3), "best_fid": np.float64(12.5)},
               folder / "model=D-best-weights-step=3.pth")  # fmt: skip
    save_file({"z": z, "y": y, "images": images.contiguous(), "logits": logits.contiguous()},
              str(folder / "io.safetensors"))  # fmt: skip
    print(f"G {len(g.state_dict())} keys, D {len(d.state_dict())} keys; images {tuple(images.shape)}")


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
