"""The ``studiogan`` format: PyTorch-StudioGAN's ``big_resnet`` files (``model=G[_ema]-…-weights-step=N.pth`` and
``model=D-…``), e.g. its ImageNet BigGAN-256 run.

Structurally the same network as BigGAN-PyTorch (shared embedding, hierarchical z, c = [embedding, z chunk],
γ = 1 + gain(c), projection critic), so the state dict is renamed to that layout and converted by
:class:`~gan_transfer.convert.biggan_pytorch.BigGANPyTorchFormat`. Differences that matter: torch's spectral norm
(``weight_orig/_u/_v``, used as stored), batch-norm ε = 1e-4, the critic's in-place ReLU (the shortcut of every
block after the first sees relu(x)), and self-attention as its own entry of ``blocks`` (so the
block indices after it shift). The config lives in StudioGAN's YAML, not in the file: it is read from shapes here.
Supported: ``g_cond_mtd: cBN`` (or W/O is refused: no shared embedding), ``d_cond_mtd: PD``, spectral norm in D.
"""

from __future__ import annotations

import re

from .base import StateDict, register_format
from .biggan_pytorch import BigGANPyTorchFormat

BLOCK = re.compile(r"blocks\.(\d+)\.0\.(.+)")
CONV = {"conv2d0": "conv_sc", "conv2d1": "conv1", "conv2d2": "conv2"}
ATTENTION = {"conv1x1_theta": "theta", "conv1x1_phi": "phi", "conv1x1_g": "g", "conv1x1_attn": "o", "sigma": "gamma"}
TOP = {"linear0": "linear", "conv2d5": "output_layer.2", "linear1": "linear", "embedding": "embed",
       "bn4.weight": "output_layer.0.gain", "bn4.bias": "output_layer.0.bias",
       "bn4.running_mean": "output_layer.0.bn.running_mean", "bn4.running_var": "output_layer.0.bn.running_var",
       "bn4.num_batches_tracked": "output_layer.0.bn.num_batches_tracked"}  # fmt: skip


def _rename(key: str, block_of: dict[int, tuple[int, bool]]) -> str:
    m = BLOCK.match(key)
    if m is None:
        for old, new in TOP.items():
            if key == old or key.startswith(old + "."):
                return new + key[len(old) :]
        return key
    index, attention = block_of[int(m.group(1))]
    head, _, tail = m.group(2).partition(".")
    if attention:
        return f"blocks.{index}.1.{ATTENTION.get(head, head)}" + (f".{tail}" if tail else "")
    return f"blocks.{index}.0.{CONV.get(head, head)}" + (f".{tail}" if tail else "")


@register_format
class StudioGANFormat(BigGANPyTorchFormat):
    name = "studiogan"
    description = "PyTorch-StudioGAN big_resnet model=G[_ema]-…-weights-step=N.pth (+ model=D-… as discriminator=)"
    label = "StudioGAN big_resnet"
    generator_file, discriminator_file = "model=G_ema-… (or model=G-…)", "model=D-…"
    norm_eps = 1e-4
    relu_shortcut = True  # its d_act_fn is nn.ReLU(inplace=True): the shortcut of each later block sees relu(x)

    def matches(self, state: StateDict) -> bool:
        g = "shared.weight" in state and "linear0.weight_orig" in state
        d = "linear1.weight_orig" in state and "blocks.0.0.conv2d1.weight_orig" in state
        return g or d

    def rename(self, state: StateDict) -> StateDict:
        """StudioGAN's names → BigGAN-PyTorch's: attention entries fold into the block before them."""
        entries = sorted({int(m.group(1)) for k in state if (m := BLOCK.match(k))})
        block_of: dict[int, tuple[int, bool]] = {}
        index = -1
        for j in entries:
            attention = f"blocks.{j}.0.sigma" in state
            index += 0 if attention else 1
            block_of[j] = (max(index, 0), attention)
        return {_rename(k, block_of): v for k, v in state.items()}
