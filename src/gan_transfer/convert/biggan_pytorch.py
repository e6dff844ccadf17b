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


class _Reads(dict):
    """A state dict that remembers which keys were read, so tensors a mapping has no place for are named."""

    def __init__(self, state: StateDict) -> None:
        super().__init__(state)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> torch.Tensor:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            self.read.add(key)
        return super().get(key, default)

    def check_all_read(self, source: str, label: str) -> None:
        ignored = (".sv0", "num_batches_tracked")  # BigGAN-PyTorch's logged σ; batch counts
        left = sorted(k for k in self if k not in self.read and not k.endswith(ignored))
        if left:
            raise ValueError(f"'{source}' holds {len(left)} tensors a {label} BigGAN of this layout has no place for "
                             f"(e.g. {', '.join(left[:3])}): it was trained with options gan_transfer does not import "
                             "(e.g. a critic without spectral norm, or another conditioning method).")  # fmt: skip


def weight(state: StateDict, layer: str) -> torch.Tensor | None:
    """A layer's stored weight: ``weight`` (BigGAN-PyTorch) or ``weight_orig`` (torch's spectral norm)."""
    return state.get(f"{layer}.weight", state.get(f"{layer}.weight_orig"))


def looks_like_g(state: StateDict) -> bool:
    return "shared.weight" in state and all(weight(state, k) is not None for k in ("linear", "output_layer.2"))


def looks_like_d(state: StateDict) -> bool:
    return all(weight(state, k) is not None for k in ("embed", "linear", "blocks.0.0.conv1"))


def _blocks(state: StateDict) -> list[int]:
    found = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.0\.conv1\.weight", k))}
    return sorted(found)


def _attention_blocks(state: StateDict) -> list[int]:
    return sorted({int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.1\.gamma$", k))})


def _widths(chs: list[int], source: str) -> tuple[int, tuple[int, ...]]:
    width = min(chs)
    if any(c % width for c in chs):
        raise ValueError(f"'{source}' has block widths {chs}, not multiples of one width; it is not a BigGAN file.")
    return width, tuple(c // width for c in chs)


def _uv(state: StateDict, layer: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A spectral-normed layer's (u, v) with σ = u·W·v as its code computes σ in eval mode; None without SN."""
    if f"{layer}.u0" in state:  # BigGAN-PyTorch: one power iteration from u0 on every call
        return sn_vectors(state[f"{layer}.weight"], state[f"{layer}.u0"], SN_EPS)
    if f"{layer}.weight_u" in state:  # torch.nn.utils.spectral_norm: the stored vectors, as they are
        return state[f"{layer}.weight_u"], state[f"{layer}.weight_v"]
    return None


def _sn(state: StateDict, old: str, new: str) -> StateDict:
    """A layer's weight (+ bias) under the new name, spectral-normed when the file's layer is."""
    out = {f"{new}.bias": state[f"{old}.bias"]} if f"{old}.bias" in state else {}
    uv = _uv(state, old)
    w = weight(state, old)
    return {**out, f"{new}.weight": w} if uv is None else {**out, **sn_state(new, w, *uv)}


def _linear_baked(state: StateDict, old: str, new: str) -> StateDict:
    """A bias-free (maybe spectral-normed) linear → a plain ``nn.Linear`` with zero bias, W/σ baked in."""
    w, uv = weight(state, old), _uv(state, old)
    w = w if uv is None else sn_baked(w, *uv)
    return {f"{new}.weight": w, f"{new}.bias": torch.zeros(w.shape[0], dtype=w.dtype)}


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


def generator_config(state: StateDict, source: str, norm_eps: float = 1e-5) -> dict[str, Any]:
    """The :class:`BigGANGenerator` options of a G file, read from its tensor shapes."""
    blocks = _blocks(state)
    if not blocks:
        raise ValueError(f"'{source}' has no blocks.N.0.conv1 tensors; it is not a BigGAN-PyTorch generator.")
    chs = [weight(state, "blocks.0.0.conv1").shape[1]] + [weight(state, f"blocks.{i}.0.conv1").shape[0] for i in blocks]
    out_features, chunk = weight(state, "linear").shape
    base = math.isqrt(out_features // chs[0])
    if base * base * chs[0] != out_features:
        raise ValueError(f"'{source}': the first linear gives {out_features} values, not a square map of {chs[0]} "
                         "channels; it is not a BigGAN-PyTorch generator.")  # fmt: skip
    shared_dim = state["shared.weight"].shape[1]
    cond = weight(state, "blocks.0.0.bn1.gain").shape[1]
    hierarchical = cond != shared_dim
    attention = _attention_blocks(state)
    if len(attention) > 1:
        raise ValueError(f"'{source}' has self-attention after {len(attention)} blocks; gan_transfer's BigGAN has "
                         "at most one (BigGAN-PyTorch's --G_attn with one resolution, e.g. 64).")  # fmt: skip
    width, mults = _widths(chs, source)
    return dict(resolution=base * 2 ** len(blocks), num_classes=state["shared.weight"].shape[0],
                channels=weight(state, "output_layer.2").shape[0], z_dim=chunk * (len(blocks) + 1) if hierarchical
                else chunk, width=width, channel_multipliers=mults, shared_dim=shared_dim,
                hierarchical_z=hierarchical, attention_resolution=base * 2 ** (attention[0] + 1) if attention else 0,
                spectral_norm=_uv(state, "linear") is not None, norm_eps=norm_eps)  # fmt: skip


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
    chs = [weight(state, f"blocks.{i}.0.conv1").shape[0] for i in blocks]
    # BigGAN-PyTorch's D_arch: every block halves the map but the last (32 px: the last two), which keep no shortcut.
    keep = 2 if resolution == 32 else 1
    down = tuple([True] * (len(blocks) - keep) + [False] * keep)
    learned = tuple(weight(state, f"blocks.{i}.0.conv_sc") is not None for i in blocks)
    ins = [weight(state, "blocks.0.0.conv1").shape[1], *chs[:-1]]
    if learned != tuple(d or a != b for d, a, b in zip(down, ins, chs, strict=True)):
        raise ValueError(f"'{source}' has {len(blocks)} blocks with learned shortcuts {learned}, which no "
                         f"BigGAN-PyTorch {resolution} px discriminator has; check it belongs to this "
                         "generator.")  # fmt: skip
    width, mults = _widths(chs, source)
    sizes = [resolution // 2 ** sum(down[: i + 1]) for i in range(len(blocks))]
    attention = _attention_blocks(state)
    return dict(resolution=resolution, num_classes=weight(state, "embed").shape[0], channels=ins[0], width=width,
                channel_multipliers=mults, downsample=down,
                attention_resolution=sizes[attention[0]] if attention else 0,
                spectral_norm=_uv(state, "linear") is not None)  # fmt: skip


def discriminator_state(state: StateDict, num_blocks: int) -> StateDict:
    own: StateDict = {**_sn(state, "linear", "head"), **_sn(state, "embed", "embed")}
    for i in range(num_blocks):
        for a, b in (("conv1", "conv1"), ("conv2", "conv2"), ("conv_sc", "shortcut")):
            if weight(state, f"blocks.{i}.0.{a}") is not None:
                own.update(_sn(state, f"blocks.{i}.0.{a}", f"blocks.{i}.{b}"))
        if f"blocks.{i}.1.gamma" in state:
            own.update(_attention(state, f"blocks.{i}.1", f"attention.{i}"))
    return own


@register_format
class BigGANPyTorchFormat(CheckpointFormat):
    """BigGAN-PyTorch's layout; formats of the same network under other names subclass it and rename (``rename``)."""

    name = "biggan-pytorch"
    description = "ajbrock/BigGAN-PyTorch G.pth / G_ema.pth (+ D.pth as discriminator=), e.g. the 138k ImageNet model"
    label = "BigGAN-PyTorch"
    generator_file, discriminator_file = "G_ema.pth (or G.pth)", "D.pth"
    norm_eps = 1e-5
    relu_shortcut = False  # see BigGANDiscriminatorConfig.relu_shortcut

    def rename(self, state: StateDict) -> StateDict:
        """The state dict under BigGAN-PyTorch's names (identity here)."""
        return state

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
            raise ValueError(f"Unknown option '{sorted(unknown)[0]}' for format '{self.name}'; known: {OPTIONS}.")
        state = self.rename(state)
        if looks_like_d(state) and not looks_like_g(state):
            raise ValueError(f"'{source}' is a {self.label} discriminator ({self.discriminator_file}: a "
                             "projection embedding, no shared class embedding), not a generator; convert "
                             f"{self.generator_file} and pass this file as discriminator=… "
                             "(--discriminator).")  # fmt: skip
        if not looks_like_g(state):
            raise ValueError(f"'{source}' lacks the shared class embedding, first linear or output convolution of "
                             f"a {self.label} generator; it is not one (or was trained without a shared "
                             "embedding).")  # fmt: skip
        options = generator_config(state, source, self.norm_eps)
        if resolution is not None and resolution != options["resolution"]:
            raise ValueError(f"'{source}' is a {options['resolution']} px {self.label} generator, not {resolution} "
                             f"px; drop resolution= or convert the {resolution} px file.")  # fmt: skip
        if class_names is not None:
            options["class_names"] = tuple(class_names)
        g = BigGANGenerator(**options)
        reads = _Reads(state)
        load_state_dict_strict(g, generator_state(reads, len(_blocks(state))), f"'{source}'")
        reads.check_all_read(source, self.label)
        d = None if discriminator is None else self._discriminator(discriminator, g)
        return Converted(generator=g.eval(), discriminator=d)

    def _discriminator(self, path: str | os.PathLike, g: BigGANGenerator) -> BigGANDiscriminator:
        d_source = str(path)
        d_state = self.rename(find_state_dict(read_checkpoint(path), d_source))
        if not looks_like_d(d_state):
            what = "a generator" if looks_like_g(d_state) else f"not a {self.label} discriminator"
            raise ValueError(f"discriminator='{d_source}' is {what}; pass the {self.discriminator_file} saved beside "
                             "this generator.")  # fmt: skip
        options = discriminator_config(d_state, g.config.resolution, d_source)
        if options["num_classes"] != g.config.num_classes:
            raise ValueError(f"discriminator='{d_source}' has {options['num_classes']} classes, the generator "
                             f"{g.config.num_classes}; pass the critic saved with this generator.")  # fmt: skip
        d = BigGANDiscriminator(**options, class_names=g.config.class_names, relu_shortcut=self.relu_shortcut)
        reads = _Reads(d_state)
        load_state_dict_strict(d, discriminator_state(reads, len(_blocks(d_state))), f"'{d_source}'")
        reads.check_all_read(d_source, self.label)
        return d.eval()
