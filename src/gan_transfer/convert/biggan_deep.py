"""The ``biggan-deep`` format: pytorch-pretrained-biggan's BigGAN-deep (``pytorch_model.bin`` + ``config.json``).

Generator only (no BigGAN-deep critic was ever released). The ``config.json`` beside the weights is read when present
and checked against the tensors; without it everything is read from shapes (two blocks per resolution, the second
upsampling: 10 blocks → 128 px, 12 → 256, 14 → 512). Differences from this library's layout, all exact:

* the class embedding is ``nn.Linear(num_classes → 128)`` applied to one-hot rows: its transpose is the
  ``nn.Embedding`` table (soft class mixes: pass ``class_embedding = probs @ table``);
* c = [z, embedding] there, [embedding, z] here: the columns of the first linear and of every BN's γ/β maps (and the
  power-iteration vectors ``v``) are permuted;
* the first linear's output is (H, W, C) there, (C, H, W) here: its rows (and ``u``, bias) are permuted;
* the BN γ/β maps are spectral-normed: their W/σ is baked into this library's plain maps (exact in eval).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..hub import load_state_dict_strict
from ..models.biggan_deep import BigGANDeepGenerator
from .base import CheckpointFormat, Converted, StateDict, register_format, sn_baked, sn_state

OPTIONS = "class_names, resolution, config"
LAYER = re.compile(r"generator\.layers\.(\d+)\.")


def _entries(state: StateDict) -> tuple[list[int], list[int]]:
    """(indices of the bottleneck blocks, indices of attention entries) in ``generator.layers``."""
    found = {int(m.group(1)) for k in state if (m := LAYER.match(k))}
    attention = sorted(j for j in found if f"generator.layers.{j}.gamma" in state)
    return sorted(found - set(attention)), attention


def _sn(state: StateDict, old: str, new: str, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None
        ) -> StateDict:  # fmt: skip
    """A torch-spectral-normed layer under the new name, its output rows / input columns permuted if given."""
    w, u, v = state[f"{old}.weight_orig"], state[f"{old}.weight_u"], state[f"{old}.weight_v"]
    bias = state.get(f"{old}.bias")
    if rows is not None:
        w, u, bias = w[rows], u[rows], None if bias is None else bias[rows]
    if cols is not None:
        w, v = w[:, cols], v[cols]
    return {**sn_state(new, w, u, v), **({} if bias is None else {f"{new}.bias": bias})}


def _baked(state: StateDict, old: str, new: str, cols: torch.Tensor) -> StateDict:
    w = sn_baked(state[f"{old}.weight_orig"], state[f"{old}.weight_u"], state[f"{old}.weight_v"])[:, cols]
    return {f"{new}.weight": w, f"{new}.bias": torch.zeros(w.shape[0], dtype=w.dtype)}


def generator_config(state: StateDict, source: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """The :class:`BigGANDeepGenerator` options of a BigGAN-deep state dict (checked against ``config.json``)."""
    blocks, attention = _entries(state)
    if not blocks or len(blocks) % 2:
        raise ValueError(f"'{source}' has {len(blocks)} BigGAN-deep blocks; this layout has two per resolution.")
    embed_dim, num_classes = state["embeddings.weight"].shape
    stem_out, cond_dim = state["generator.gen_z.weight_orig"].shape
    ins = [state[f"generator.layers.{j}.conv_0.weight_orig"].shape[1] for j in blocks]
    outs = [state[f"generator.layers.{j}.conv_3.weight_orig"].shape[0] for j in blocks]
    chs = [ins[0], *outs[1::2]]
    if ins[0] * 16 != stem_out or outs[0::2] != ins[0::2] or ins[1::2] != outs[0::2]:
        raise ValueError(f"'{source}' has block widths {list(zip(ins, outs, strict=True))} that do not pair up "
                         "as BigGAN-deep's (keep, then change at the upsampling block); it is not a BigGAN-deep "
                         "file.")  # fmt: skip
    width = min(chs)
    stages = len(blocks) // 2
    position = blocks.index(attention[0] + 1) if attention else None  # blocks run before the attention entry
    options = dict(resolution=4 * 2**stages, num_classes=num_classes, z_dim=cond_dim - embed_dim, width=width,
                   channel_multipliers=tuple(c // width for c in chs), shared_dim=embed_dim,
                   attention_resolution=4 * 2 ** (position // 2) if position is not None else 0,
                   n_stats=state["generator.bn.running_means"].shape[0], norm_eps=1e-4)  # fmt: skip
    if len(attention) > 1 or (position is not None and position % 2 == 1):
        raise ValueError(f"'{source}' has self-attention at layers {attention}; gan_transfer's BigGAN-deep has one, "
                         "after an upsampling block (layer 8 in the released models).")  # fmt: skip
    if config is not None:
        _check_config(config, options, stages, position, source)
    return options


def _check_config(config: dict[str, Any], options: dict[str, Any], stages: int, position: int | None, source: str
                  ) -> None:  # fmt: skip
    ups = [bool(layer[0]) for layer in config.get("layers", [])]
    # (class_embed_dim is not compared: the package sizes its embedding by z_dim and ignores that field)
    want = {"output_dim": options["resolution"], "z_dim": options["z_dim"], "num_classes": options["num_classes"],
            "channel_width": options["width"], "n_stats": options["n_stats"]}  # fmt: skip
    wrong = [f"{k}={config[k]} (tensors: {v})" for k, v in want.items() if k in config and config[k] != v]
    if ups and ups != [False, True] * stages:
        wrong.append(f"layers upsample at {[i for i, u in enumerate(ups) if u]} (supported: every second layer)")
    if position is not None and config.get("attention_layer_position", position) != position:
        wrong.append(f"attention_layer_position={config['attention_layer_position']} (tensors: {position})")
    if wrong:
        raise ValueError(f"The config.json beside '{source}' does not describe its tensors: {'; '.join(wrong)}. "
                         "It belongs to another model (e.g. a 256 px config with 128 px weights); use the matching "
                         "pair.")  # fmt: skip
    if "eps" in config:
        options["norm_eps"] = float(config["eps"])


def generator_state(state: StateDict, options: dict[str, Any]) -> StateDict:
    z_dim, embed_dim = options["z_dim"], options["shared_dim"]
    cols = torch.cat([torch.arange(z_dim, z_dim + embed_dim), torch.arange(z_dim)])  # [z, e] → [e, z]
    ch0 = state["generator.gen_z.weight_orig"].shape[0] // 16
    rows = torch.arange(16 * ch0).view(4, 4, ch0).permute(2, 0, 1).reshape(-1)  # (H, W, C) → (C, H, W)
    own: StateDict = {"shared.weight": state["embeddings.weight"].t(),
                      **_sn(state, "generator.gen_z", "stem", rows=rows, cols=cols)}  # fmt: skip
    blocks, attention = _entries(state)
    for i, j in enumerate(blocks):
        old, new = f"generator.layers.{j}", f"blocks.{i}"
        for k in range(4):
            own[f"{new}.norm{k}.bn.running_means"] = state[f"{old}.bn_{k}.running_means"]
            own[f"{new}.norm{k}.bn.running_vars"] = state[f"{old}.bn_{k}.running_vars"]
            own.update(_baked(state, f"{old}.bn_{k}.scale", f"{new}.norm{k}.gain", cols))
            own.update(_baked(state, f"{old}.bn_{k}.offset", f"{new}.norm{k}.shift", cols))
            own.update(_sn(state, f"{old}.conv_{k}", f"{new}.conv{k}"))
    for j in attention:
        old, new = f"generator.layers.{j}", f"attention.{blocks.index(j + 1) - 1}"
        own[f"{new}.gamma"] = state[f"{old}.gamma"].reshape(())
        for a, b in (("theta", "theta"), ("phi", "phi"), ("g", "g"), ("o_conv", "out")):
            own.update(_sn(state, f"{old}.snconv1x1_{a}", f"{new}.{b}"))
    for name in ("running_means", "running_vars", "weight", "bias"):
        own[f"out_norm.bn.{name}"] = state[f"generator.bn.{name}"]
    own.update(_sn(state, "generator.conv_to_rgb", "to_image"))
    return own


@register_format
class BigGANDeepFormat(CheckpointFormat):
    name = "biggan-deep"
    description = "pytorch-pretrained-biggan BigGAN-deep pytorch_model.bin (+ config.json beside it), generator only"

    def matches(self, state: StateDict) -> bool:
        return "generator.gen_z.weight_orig" in state and "embeddings.weight" in state

    def convert(
        self,
        state: StateDict,
        source: str,
        *,
        class_names: Sequence[str] | None = None,
        resolution: int | None = None,
        config: str | Path | dict[str, Any] | None = None,
        **unknown: Any,
    ) -> Converted:
        if unknown:
            raise ValueError(f"Unknown option '{sorted(unknown)[0]}' for format 'biggan-deep'; known: {OPTIONS}.")
        if not self.matches(state):
            raise ValueError(f"'{source}' lacks generator.gen_z / embeddings tensors; it is not a BigGAN-deep "
                             "pytorch_model.bin.")  # fmt: skip
        if config is None and (Path(source).parent / "config.json").is_file():
            config = Path(source).parent / "config.json"
        if isinstance(config, (str, Path)):
            config = json.loads(Path(config).read_text())
        options = generator_config(state, source, config)
        if resolution is not None and resolution != options["resolution"]:
            raise ValueError(f"'{source}' is a {options['resolution']} px BigGAN-deep generator, not {resolution} px; "
                             f"drop resolution= or convert the {resolution} px file.")  # fmt: skip
        if class_names is not None:
            options["class_names"] = tuple(class_names)
        g = BigGANDeepGenerator(**options)
        load_state_dict_strict(g, generator_state(state, options), f"'{source}'")
        return Converted(generator=g.eval())
