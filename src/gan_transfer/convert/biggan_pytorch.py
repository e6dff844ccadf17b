"""The ``biggan-pytorch`` format: ajbrock/BigGAN-PyTorch's ``G.pth`` / ``G_ema.pth`` (+ ``D.pth``) state dicts.

This is the 138k ImageNet-128 BigGAN that MineGAN, cGANTransfer and BSA adapt, and the only public ImageNet BigGAN
with a discriminator. Its files hold no config: everything is read from tensor shapes (width, hierarchical z chunk,
shared-embedding size, attention block, class count). Layout and quirks (``../shared/CHECKPOINTS.md`` §1):

* spectral norm keeps ``u0`` and runs one power iteration on every forward, also in eval mode; the converted layers
  store the (u, v) that iteration gives (:func:`sn_vectors`), so eval outputs are equal;
* the conditional BN's γ/β maps are spectral-normed linears with γ = 1 + gain(c): this library's
  :class:`~gan_transfer.models.layers.ProjectedBatchNorm` has plain maps, so their W/σ is baked in (exact in eval;
  while fine-tuning those two maps are no longer re-normalised);
* c = [shared class embedding, z chunk] and the first linear's output is (C, H, W): already this library's order.

The discriminator (``D.pth``, ``discriminator=``) keeps its last block at the lowest resolution without a learned
shortcut (``downsample`` in :class:`~gan_transfer.models.BigGANDiscriminatorConfig`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import torch

from ..hub import load_state_dict_strict
from ..models.biggan import BigGANDiscriminator, BigGANGenerator
from .base import (
    CheckpointFormat,
    Converted,
    StateDict,
    find_state_dict,
    read_checkpoint,
    register_format,
    sn_baked,
    sn_state,
    sn_vectors,
)

SN_EPS = 1e-6  # the 138k model's --SN_eps
OPTIONS = "class_names, resolution, discriminator"


def looks_like_g(state: StateDict) -> bool:
    return "shared.weight" in state and "linear.weight" in state and "output_layer.2.weight" in state


def looks_like_d(state: StateDict) -> bool:
    return "embed.weight" in state and "linear.weight" in state and "blocks.0.0.conv1.weight" in state


def _blocks(state: StateDict) -> list[int]:
    found = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.0\.conv1\.weight$", k))}
    return sorted(found)


def _attention_blocks(state: StateDict) -> list[int]:
    return sorted({int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.1\.gamma$", k))})


def _widths(chs: list[int], source: str) -> tuple[int, tuple[int, ...]]:
    width = min(chs)
    if any(c % width for c in chs):
        raise ValueError(f"'{source}' has block widths {chs}, not multiples of one width; it is not a BigGAN file.")
    return width, tuple(c // width for c in chs)


def _sn(state: StateDict, old: str, new: str) -> StateDict:
    """A layer's weight (+ bias) under the new name: spectral-normed when the file keeps ``u0``."""
    out = {f"{new}.bias": state[f"{old}.bias"]} if f"{old}.bias" in state else {}
    if f"{old}.u0" not in state:
        return {**out, f"{new}.weight": state[f"{old}.weight"]}
    weight = state[f"{old}.weight"]
    return {**out, **sn_state(new, weight, *sn_vectors(weight, state[f"{old}.u0"], SN_EPS))}


def _linear_baked(state: StateDict, old: str, new: str) -> StateDict:
    """A bias-free (maybe spectral-normed) linear → a plain ``nn.Linear`` with zero bias, W/σ baked in."""
    weight = state[f"{old}.weight"]
    if f"{old}.u0" in state:
        weight = sn_baked(weight, *sn_vectors(weight, state[f"{old}.u0"], SN_EPS))
    return {f"{new}.weight": weight, f"{new}.bias": torch.zeros(weight.shape[0], dtype=weight.dtype)}


def _stats(state: StateDict, old: str, new: str) -> StateDict:
    """Stored BN statistics, in any of the three ways the code keeps them (plain, --mybn, --cross_replica)."""
    for mean, var in (("stored_mean", "stored_var"), ("bn.stored_mean", "bn.stored_var"),
                      ("bn.running_mean", "bn.running_var")):  # fmt: skip
        if f"{old}.{mean}" in state:
            return {f"{new}.running_mean": state[f"{old}.{mean}"], f"{new}.running_var": state[f"{old}.{var}"],
                    f"{new}.num_batches_tracked": torch.tensor(0)}  # fmt: skip
    raise KeyError(f"{old}.stored_mean")


def _attention(state: StateDict, old: str, new: str) -> StateDict:
    out = {f"{new}.gamma": state[f"{old}.gamma"].reshape(())}
    for a, b in (("theta", "theta"), ("phi", "phi"), ("g", "g"), ("o", "out")):
        out.update(_sn(state, f"{old}.{a}", f"{new}.{b}"))
    return out


def generator_config(state: StateDict, source: str) -> dict[str, Any]:
    """The :class:`BigGANGenerator` options of a G file, read from its tensor shapes."""
    blocks = _blocks(state)
    if not blocks:
        raise ValueError(f"'{source}' has no blocks.N.0.conv1 tensors; it is not a BigGAN-PyTorch generator.")
    chs = [state["blocks.0.0.conv1.weight"].shape[1]] + [state[f"blocks.{i}.0.conv1.weight"].shape[0] for i in blocks]
    out_features, chunk = state["linear.weight"].shape
    base = math.isqrt(out_features // chs[0])
    if base * base * chs[0] != out_features:
        raise ValueError(f"'{source}': the first linear gives {out_features} values, not a square map of {chs[0]} "
                         "channels; it is not a BigGAN-PyTorch generator.")  # fmt: skip
    shared_dim = state["shared.weight"].shape[1]
    cond = state["blocks.0.0.bn1.gain.weight"].shape[1]
    hierarchical = cond != shared_dim
    attention = _attention_blocks(state)
    if len(attention) > 1:
        raise ValueError(f"'{source}' has self-attention after {len(attention)} blocks; gan_transfer's BigGAN has "
                         "at most one (BigGAN-PyTorch's --G_attn with one resolution, e.g. 64).")  # fmt: skip
    width, mults = _widths(chs, source)
    return dict(resolution=base * 2 ** len(blocks), num_classes=state["shared.weight"].shape[0],
                channels=state["output_layer.2.weight"].shape[0], z_dim=chunk * (len(blocks) + 1) if hierarchical
                else chunk, width=width, channel_multipliers=mults, shared_dim=shared_dim,
                hierarchical_z=hierarchical, attention_resolution=base * 2 ** (attention[0] + 1) if attention else 0,
                spectral_norm="linear.u0" in state, norm_eps=1e-5)  # fmt: skip


def generator_state(state: StateDict, num_blocks: int) -> StateDict:
    own: StateDict = {"shared.weight": state["shared.weight"], **_sn(state, "linear", "stem")}
    for i in range(num_blocks):
        old, new = f"blocks.{i}.0", f"blocks.{i}"
        for a, b in (("conv1", "conv1"), ("conv2", "conv2"), ("conv_sc", "shortcut")):
            own.update(_sn(state, f"{old}.{a}", f"{new}.{b}"))
        for n in ("1", "2"):
            own.update(_stats(state, f"{old}.bn{n}", f"{new}.norm{n}.bn"))
            own.update(_linear_baked(state, f"{old}.bn{n}.gain", f"{new}.norm{n}.gain"))
            own.update(_linear_baked(state, f"{old}.bn{n}.bias", f"{new}.norm{n}.shift"))
        if f"blocks.{i}.1.gamma" in state:
            own.update(_attention(state, f"blocks.{i}.1", f"attention.{i}"))
    out = "output_layer.0"
    own.update({"out_norm.bn.weight": state[f"{out}.gain"], "out_norm.bn.bias": state[f"{out}.bias"],
                **_stats(state, out, "out_norm.bn"), **_sn(state, "output_layer.2", "to_image")})  # fmt: skip
    return own


def discriminator_config(state: StateDict, resolution: int, source: str) -> dict[str, Any]:
    """The :class:`BigGANDiscriminator` options of a D file for a ``resolution`` px generator."""
    blocks = _blocks(state)
    chs = [state[f"blocks.{i}.0.conv1.weight"].shape[0] for i in blocks]
    # BigGAN-PyTorch's D_arch: every block halves the map but the last (32 px: the last two), which keep no shortcut.
    keep = 2 if resolution == 32 else 1
    down = tuple([True] * (len(blocks) - keep) + [False] * keep)
    learned = tuple(f"blocks.{i}.0.conv_sc.weight" in state for i in blocks)
    ins = [state["blocks.0.0.conv1.weight"].shape[1], *chs[:-1]]
    if learned != tuple(d or a != b for d, a, b in zip(down, ins, chs, strict=True)):
        raise ValueError(f"'{source}' has {len(blocks)} blocks with learned shortcuts {learned}, which no "
                         f"BigGAN-PyTorch {resolution} px discriminator has; check it belongs to this "
                         "generator.")  # fmt: skip
    width, mults = _widths(chs, source)
    sizes = [resolution // 2 ** sum(down[: i + 1]) for i in range(len(blocks))]
    attention = _attention_blocks(state)
    return dict(resolution=resolution, num_classes=state["embed.weight"].shape[0],
                channels=state["blocks.0.0.conv1.weight"].shape[1], width=width, channel_multipliers=mults,
                downsample=down, attention_resolution=sizes[attention[0]] if attention else 0,
                spectral_norm="linear.u0" in state)  # fmt: skip


def discriminator_state(state: StateDict, num_blocks: int) -> StateDict:
    own: StateDict = {**_sn(state, "linear", "head"), **_sn(state, "embed", "embed")}
    for i in range(num_blocks):
        for a, b in (("conv1", "conv1"), ("conv2", "conv2"), ("conv_sc", "shortcut")):
            if f"blocks.{i}.0.{a}.weight" in state:
                own.update(_sn(state, f"blocks.{i}.0.{a}", f"blocks.{i}.{b}"))
        if f"blocks.{i}.1.gamma" in state:
            own.update(_attention(state, f"blocks.{i}.1", f"attention.{i}"))
    return own


@register_format
class BigGANPyTorchFormat(CheckpointFormat):
    name = "biggan-pytorch"
    description = "ajbrock/BigGAN-PyTorch G.pth / G_ema.pth (+ D.pth as discriminator=), e.g. the 138k ImageNet model"

    def matches(self, state: StateDict) -> bool:
        return (looks_like_g(state) or looks_like_d(state)) and any(k.endswith(".u0") for k in state)

    def convert(
        self,
        state: StateDict,
        source: str,
        *,
        class_names: Sequence[str] | None = None,
        resolution: int | None = None,
        discriminator: str | os.PathLike | None = None,
        **unknown: Any,
    ) -> Converted:
        if unknown:
            raise ValueError(f"Unknown option '{sorted(unknown)[0]}' for format 'biggan-pytorch'; known: {OPTIONS}.")
        if looks_like_d(state) and not looks_like_g(state):
            raise ValueError(f"'{source}' is a BigGAN-PyTorch discriminator (D.pth: embed, linear, no shared "
                             "embedding), not a generator; convert G_ema.pth (or G.pth) and pass this file as "
                             "discriminator=… (--discriminator).")  # fmt: skip
        if not looks_like_g(state):
            raise ValueError(f"'{source}' lacks shared.weight / linear.weight / output_layer.2.weight; it is not a "
                             "BigGAN-PyTorch generator saved with --G_shared.")  # fmt: skip
        options = generator_config(state, source)
        if resolution is not None and resolution != options["resolution"]:
            raise ValueError(f"'{source}' is a {options['resolution']} px BigGAN-PyTorch generator, not {resolution} "
                             f"px; drop resolution= or convert the {resolution} px file.")  # fmt: skip
        if class_names is not None:
            options["class_names"] = tuple(class_names)
        g = BigGANGenerator(**options)
        load_state_dict_strict(g, generator_state(state, len(_blocks(state))), f"'{source}'")
        d = None
        if discriminator is not None:
            d_source = str(discriminator)
            d_state = find_state_dict(read_checkpoint(discriminator), d_source)
            if not looks_like_d(d_state):
                what = "a generator" if looks_like_g(d_state) else "not a BigGAN-PyTorch discriminator"
                raise ValueError(f"discriminator='{d_source}' is {what}; pass the D.pth saved beside this G.")
            d_options = discriminator_config(d_state, g.config.resolution, d_source)
            if d_options["num_classes"] != g.config.num_classes:
                raise ValueError(f"discriminator='{d_source}' has {d_options['num_classes']} classes, the generator "
                                 f"{g.config.num_classes}; pass the D.pth saved with this G.")  # fmt: skip
            d = BigGANDiscriminator(**d_options, class_names=g.config.class_names)
            load_state_dict_strict(d, discriminator_state(d_state, len(_blocks(d_state))), f"'{d_source}'")
            d = d.eval()
        return Converted(generator=g.eval(), discriminator=d)
