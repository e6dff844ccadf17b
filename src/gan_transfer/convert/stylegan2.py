"""StyleGAN2 checkpoints: NVIDIA's stylegan2-ada-pytorch (``.pkl``, or its state dicts, as StudioGAN's StyleGAN2 saves
them) and rosinality's stylegan2-pytorch ``.pt`` — into :class:`~gan_transfer.models.StyleGAN2Generator` (+ critic).

Both layouts are renamed onto this library's names (tables below; the rosinality side is the ADA → rosinality map of
``../shared/CHECKPOINTS.md`` read backwards), then the config is read from shapes: resolution from the number of
to-RGB layers, channels per resolution (→ ``channel_base``/``channel_max``), z/w sizes, mapping depth, classes. What
shapes cannot tell comes from the pickle's stored constructor arguments (``conv_clamp``, the mapping's learning-rate
multiplier, the critic's minibatch-std group) or from options. A model that would not fit in free memory is refused
before it is allocated. ``.pkl`` files are read by :mod:`~gan_transfer.convert.pickles` (no code in them runs).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..hub import check_fits, load_state_dict_strict
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, fir_filter
from .base import (
    CheckpointFormat,
    CheckpointState,
    Converted,
    StateDict,
    find_state_dict,
    read_checkpoint,
    register_format,
)
from .pickles import NetworkStub

OPTIONS = "class_names, resolution, discriminator, conv_clamp, mbstd_group_size"
Rule = tuple[str, Callable[[re.Match[str]], str | None]]


def _rename(state: StateDict, rules: list[Rule], source: str, what: str) -> StateDict:
    """Every key through the first rule whose pattern matches it (None drops the tensor); unmatched keys refused."""
    out: StateDict = {}
    for key, value in state.items():
        for pattern, target in rules:
            m = re.fullmatch(pattern, key)
            if m:
                new = target(m)
                if new is not None:
                    out[new] = value
                break
        else:
            raise ValueError(f"'{source}' holds '{key}', which a {what} of this layout does not have; it was made by "
                             "other code (or another architecture) — check the format.")  # fmt: skip
    return out


def _res_index(m: re.Match[str], group: int = 1) -> int:
    return int(math.log2(int(m.group(group)))) - 2


ADA_G: list[Rule] = [
    (r"mapping\.fc(\d+)\.(weight|bias)", lambda m: f"mapping.layers.{m[1]}.{m[2]}"),
    (r"mapping\.embed\.(weight|bias)", lambda m: f"mapping.embed.{m[1]}"),
    (r"mapping\.w_avg", lambda m: "w_avg"),
    (r"synthesis\.b4\.const", lambda m: "input.const"),
    (r"synthesis\.b(\d+)\.conv([01])\.affine\.(weight|bias)",
     lambda m: f"blocks.{_res_index(m)}.conv{m[2]}.style.affine.{m[3]}"),
    (r"synthesis\.b(\d+)\.conv([01])\.(weight|bias|noise_const|noise_strength)",
     lambda m: f"blocks.{_res_index(m)}.conv{m[2]}.{m[3]}"),
    (r"synthesis\.b(\d+)\.torgb\.affine\.(weight|bias)", lambda m: f"to_rgb.{_res_index(m)}.style.affine.{m[2]}"),
    (r"synthesis\.b(\d+)\.torgb\.(weight|bias)", lambda m: f"to_rgb.{_res_index(m)}.{m[2]}"),
    (r".*resample_filter", lambda m: None),
]  # fmt: skip


def _ada_d_rules(resolution: int) -> list[Rule]:
    top = int(math.log2(resolution))

    def block(m: re.Match[str]) -> int:
        return top - int(math.log2(int(m[1])))

    return [
        (r"b(\d+)\.fromrgb\.(weight|bias)", lambda m: f"blocks.{block(m)}.from_rgb.{m[2]}" if m[1] != "4" else "!"),
        (r"b(\d+)\.(conv0|conv1|skip)\.(weight|bias)", lambda m: f"blocks.{block(m)}.{m[2]}.{m[3]}"),
        (r"b4\.(conv|fc|out)\.(weight|bias)", lambda m: f"{m[1]}.{m[2]}"),
        (r"mapping\.fc(\d+)\.(weight|bias)", lambda m: f"mapping.layers.{m[1]}.{m[2]}"),
        (r"mapping\.embed\.(weight|bias)", lambda m: f"mapping.embed.{m[1]}"),
        (r".*resample_filter", lambda m: None),
    ]


def _rosinality_layer(index: int) -> str:
    """rosinality's synthesis layers: ``conv1`` is block 0; ``convs.k`` alternate upsampling / plain per block."""
    return "blocks.0.conv1" if index < 0 else f"blocks.{index // 2 + 1}.conv{index % 2}"


ROSINALITY_G: list[Rule] = [
    (r"style\.(\d+)\.(weight|bias)", lambda m: f"mapping.layers.{int(m[1]) - 1}.{m[2]}"),
    (r"input\.input", lambda m: "input.const"),
    (r"(conv1|convs\.(\d+))\.conv\.weight", lambda m: f"{_rosinality_layer(int(m[2] or -1))}.weight"),
    (r"(conv1|convs\.(\d+))\.conv\.modulation\.(weight|bias)",
     lambda m: f"{_rosinality_layer(int(m[2] or -1))}.style.affine.{m[3]}"),
    (r"(conv1|convs\.(\d+))\.noise\.weight", lambda m: f"{_rosinality_layer(int(m[2] or -1))}.noise_strength"),
    (r"(conv1|convs\.(\d+))\.activate\.bias", lambda m: f"{_rosinality_layer(int(m[2] or -1))}.bias"),
    (r"noises\.noise_(\d+)", lambda m: f"{_rosinality_layer(int(m[1]) - 1)}.noise_const"),
    (r"to_rgb1\.conv\.weight", lambda m: "to_rgb.0.weight"),
    (r"to_rgb1\.conv\.modulation\.(weight|bias)", lambda m: f"to_rgb.0.style.affine.{m[1]}"),
    (r"to_rgb1\.bias", lambda m: "to_rgb.0.bias"),
    (r"to_rgbs\.(\d+)\.conv\.weight", lambda m: f"to_rgb.{int(m[1]) + 1}.weight"),
    (r"to_rgbs\.(\d+)\.conv\.modulation\.(weight|bias)", lambda m: f"to_rgb.{int(m[1]) + 1}.style.affine.{m[2]}"),
    (r"to_rgbs\.(\d+)\.bias", lambda m: f"to_rgb.{int(m[1]) + 1}.bias"),
    (r".*\.(blur|upsample)\.kernel", lambda m: None),
]  # fmt: skip

ROSINALITY_D: list[Rule] = [
    (r"convs\.0\.0\.weight", lambda m: "blocks.0.from_rgb.weight"),
    (r"convs\.0\.1\.bias", lambda m: "blocks.0.from_rgb.bias"),
    (r"convs\.(\d+)\.conv1\.0\.weight", lambda m: f"blocks.{int(m[1]) - 1}.conv0.weight"),
    (r"convs\.(\d+)\.conv1\.1\.bias", lambda m: f"blocks.{int(m[1]) - 1}.conv0.bias"),
    (r"convs\.(\d+)\.conv2\.1\.weight", lambda m: f"blocks.{int(m[1]) - 1}.conv1.weight"),
    (r"convs\.(\d+)\.conv2\.2\.bias", lambda m: f"blocks.{int(m[1]) - 1}.conv1.bias"),
    (r"convs\.(\d+)\.skip\.1\.weight", lambda m: f"blocks.{int(m[1]) - 1}.skip.weight"),
    (r"final_conv\.0\.weight", lambda m: "conv.weight"),
    (r"final_conv\.1\.bias", lambda m: "conv.bias"),
    (r"final_linear\.0\.(weight|bias)", lambda m: f"fc.{m[1]}"),
    (r"final_linear\.1\.(weight|bias)", lambda m: f"out.{m[1]}"),
    (r"convs\.\d+\.(conv2\.0|skip\.0)\.kernel", lambda m: None),
]  # fmt: skip


def _channel_plan(chs: dict[int, int], source: str) -> tuple[int, int]:
    """(channel_base, channel_max) giving these per-resolution widths through min(base // r, max)."""
    cap = max(chs.values())
    below = [r for r, c in chs.items() if c < cap]
    base = chs[max(below)] * max(below) if below else cap * max(chs)
    if any(min(base // r, cap) != c for r, c in chs.items()):
        raise ValueError(f"'{source}' has widths {chs} per resolution, which no StyleGAN2 channel plan "
                         "(min(channel_base // r, channel_max)) gives.")  # fmt: skip
    return base, cap


def generator_options(own: StateDict, source: str) -> dict[str, Any]:
    blocks = sorted({int(m[1]) for k in own if (m := re.match(r"to_rgb\.(\d+)\.weight", k))})
    if not blocks or blocks != list(range(len(blocks))):
        raise ValueError(f"'{source}' has no to-RGB layers in order; it is not a StyleGAN2 generator.")
    chs = {4 * 2**i: own[f"blocks.{i}.conv1.weight"].shape[0] for i in blocks}
    base, cap = _channel_plan(chs, source)
    layers = len({m[1] for k in own if (m := re.match(r"mapping\.layers\.(\d+)\.weight", k))})
    w_dim, first_in = own["mapping.layers.0.weight"].shape
    classes = own["mapping.embed.weight"].shape[1] if "mapping.embed.weight" in own else 0
    return dict(resolution=4 * 2 ** (len(blocks) - 1), channels=own["to_rgb.0.weight"].shape[0],
                num_classes=classes, z_dim=first_in - (w_dim if classes else 0), w_dim=w_dim,
                mapping_layers=layers, channel_base=base, channel_max=cap)  # fmt: skip


def discriminator_options(own: StateDict, resolution: int, source: str) -> dict[str, Any]:
    n = len({m[1] for k in own if (m := re.match(r"blocks\.(\d+)\.conv1\.weight", k))})
    if 4 * 2**n != resolution:
        raise ValueError(f"'{source}' is a critic for {4 * 2**n} px images; the generator draws {resolution} px.")
    chs = {resolution // 2**i: own[f"blocks.{i}.conv0.weight"].shape[0] for i in range(n)}
    chs[4] = own["conv.weight"].shape[0]
    base, cap = _channel_plan(chs, source)
    classes = own["mapping.embed.weight"].shape[1] if "mapping.embed.weight" in own else 0
    layers = len({m[1] for k in own if (m := re.match(r"mapping\.layers\.(\d+)\.weight", k))})
    return dict(resolution=resolution, channels=own["blocks.0.from_rgb.weight"].shape[1], num_classes=classes,
                channel_base=base, channel_max=cap, mbstd_num_channels=own["conv.weight"].shape[1] - chs[4],
                cmap_dim=own["out.weight"].shape[0] if classes else None,
                mapping_layers=layers or 8)  # fmt: skip


def _build(cls: type, options: dict[str, Any], own: StateDict, source: str) -> Any:
    """The model, checked on the meta device first (shapes, and that its weights fit in free memory)."""
    with torch.device("meta"):
        shell = cls(**options)
    check_fits(shell, f"'{source}'")
    model = cls(**options)
    load_state_dict_strict(model, own, f"'{source}'")
    return model.eval()


class _StyleGAN2Format(CheckpointFormat):
    """Shared conversion; subclasses rename their layout (``generator_rules``, ``critic_state``)."""

    generator_rules: list[Rule]
    label: str

    def own_generator(self, state: CheckpointState, source: str) -> tuple[StateDict, dict[str, Any], dict[str, Any]]:
        """(renamed tensors, options shapes cannot tell, card notes)."""
        raise NotImplementedError

    def critic_beside(self, container: Any) -> tuple[StateDict, NetworkStub | None] | None:
        """The critic's tensors (and its network stub, if pickled) where this layout keeps them beside the
        generator; None when the file holds none."""
        raise NotImplementedError

    def own_critic(
        self, state: StateDict, stub: NetworkStub | None, source: str
    ) -> tuple[StateDict, dict[str, Any]] | None:
        """(renamed critic tensors, stored critic options); None when ``state`` is not this layout's critic."""
        raise NotImplementedError

    def convert(
        self,
        state: StateDict,
        source: str,
        *,
        class_names: Sequence[str] | None = None,
        resolution: int | None = None,
        discriminator: str | os.PathLike | None = None,
        conv_clamp: float | None = None,
        mbstd_group_size: int | None = None,
        **unknown: Any,
    ) -> Converted:
        if unknown:
            raise ValueError(f"Unknown option '{sorted(unknown)[0]}' for format '{self.name}'; known: {OPTIONS}.")
        if not isinstance(state, CheckpointState):
            state = CheckpointState(state)
        own, stored, notes = self.own_generator(state, source)
        options = {**generator_options(own, source), **stored}
        declared = notes.get("declared_resolution")
        if declared not in (None, options["resolution"]):
            raise ValueError(f"'{source}' says size={declared} in its args but holds a {options['resolution']} px "
                             "generator; the file is inconsistent.")  # fmt: skip
        if conv_clamp is not None:
            options["conv_clamp"] = conv_clamp
        if resolution is not None and resolution != options["resolution"]:
            raise ValueError(f"'{source}' is a {options['resolution']} px StyleGAN2 generator, not {resolution} px; "
                             f"drop resolution= or convert the {resolution} px file.")  # fmt: skip
        if class_names is not None:
            options["class_names"] = tuple(class_names)
        g = _build(StyleGAN2Generator, options, own, source)
        if notes.get("estimate_w_avg"):
            with torch.no_grad():  # rosinality train.py files keep no average w: the mean of 4,096 mapped latents
                z = torch.randn(4096, g.config.z_dim, generator=torch.Generator().manual_seed(0))
                g.w_avg.copy_(g.mapping(z, None).mean(dim=0))
        if discriminator is not None:
            found = dict(find_state_dict(read_checkpoint(discriminator), str(discriminator))), None
            critic = self.own_critic(*found, str(discriminator))
            if critic is None:
                raise ValueError(f"discriminator='{discriminator}' is not a {self.label} critic; pass the critic "
                                 "saved with this generator.")  # fmt: skip
        else:
            beside = self.critic_beside(state.container)
            critic = None if beside is None else self.own_critic(*beside, source)
        d = None
        if critic is not None:
            d_own, d_stored = critic
            d_options = {**discriminator_options(d_own, g.config.resolution, source), **d_stored,
                         "class_names": g.config.class_names}  # fmt: skip
            if mbstd_group_size is not None:
                d_options["mbstd_group_size"] = mbstd_group_size
            d = _build(StyleGAN2Discriminator, d_options, d_own, source)
        card = {"conversion_notes": notes["text"]} if notes.get("text") else {}
        return Converted(generator=g, discriminator=d, card_data=card)


@register_format
class StyleGAN2ADAFormat(_StyleGAN2Format):
    name = "stylegan2-ada"
    description = ("NVIDIA stylegan2-ada-pytorch network-snapshot .pkl (read without running its code), or its "
                   "G/G_ema state dict (also StudioGAN's StyleGAN2)")  # fmt: skip
    label = "stylegan2-ada-pytorch"

    def matches(self, state: StateDict) -> bool:
        return "synthesis.b4.const" in state or ("b4.out.weight" in state and "b4.conv.weight" in state)

    def own_generator(self, state: CheckpointState, source: str) -> tuple[StateDict, dict[str, Any], dict[str, Any]]:
        if any(k.startswith(("synthesis.L", "synthesis.input")) for k in state):
            raise ValueError(f"'{source}' is a StyleGAN3 network (synthesis.L… layers), not StyleGAN2; gan_transfer "
                             "reads StyleGAN2 only.")  # fmt: skip
        if "synthesis.b4.const" not in state:
            raise ValueError(f"'{source}' is a stylegan2-ada-pytorch discriminator (b4.out, no synthesis network), "
                             "not a generator; pass the generator's file (the critic: discriminator=).")  # fmt: skip
        _check_filters(state, source)
        own = _rename(state, ADA_G, source, "StyleGAN2 generator")
        stored: dict[str, Any] = {}
        stub = _stub(state.container, ("G_ema", "G"))
        if stub is not None:
            kwargs = stub.init_kwargs
            synthesis, mapping = dict(kwargs.get("synthesis_kwargs") or {}), dict(kwargs.get("mapping_kwargs") or {})
            if synthesis.get("architecture", "skip") != "skip":
                raise ValueError(f"'{source}' uses the '{synthesis['architecture']}' synthesis architecture; "
                                 "gan_transfer's StyleGAN2 has the 'skip' one (every released model).")  # fmt: skip
            stored = {"conv_clamp": synthesis.get("conv_clamp"),
                      "mapping_lr_multiplier": float(mapping.get("lr_multiplier", 0.01)),
                      "w_avg_beta": float(mapping.get("w_avg_beta", 0.995))}  # fmt: skip
        return own, stored, {}

    def critic_beside(self, container: Any) -> tuple[StateDict, NetworkStub | None] | None:
        stub = _stub(container, ("D",))
        state = stub.state_dict() if stub is not None else container.get("D") if isinstance(container, dict) else None
        return (state, stub) if isinstance(state, dict) else None

    def own_critic(
        self, state: StateDict, stub: NetworkStub | None, source: str
    ) -> tuple[StateDict, dict[str, Any]] | None:
        if "b4.out.weight" not in state:
            return None
        resolution = max(int(m[1]) for k in state if (m := re.match(r"b(\d+)\.", k)))
        _check_filters(state, source)
        own = _rename(state, _ada_d_rules(resolution), source, "StyleGAN2 critic")
        if "!" in own:
            raise ValueError(f"'{source}' has a 'skip' critic (from-RGB at every resolution); gan_transfer's StyleGAN2 "
                             "critic is the 'resnet' one (every released model).")  # fmt: skip
        stored: dict[str, Any] = {}
        if stub is not None:
            kwargs = stub.init_kwargs
            epilogue = dict(kwargs.get("epilogue_kwargs") or {})
            stored = {"conv_clamp": kwargs.get("conv_clamp"), "mbstd_group_size": epilogue.get("mbstd_group_size", 4)}
        return own, stored


@register_format
class StyleGAN2RosinalityFormat(_StyleGAN2Format):
    name = "stylegan2-rosinality"
    description = ("rosinality stylegan2-pytorch .pt: converted {g_ema, latent_avg} files or train.py checkpoints "
                   "{g, d, g_ema, args, …}")  # fmt: skip
    label = "rosinality stylegan2-pytorch"

    def matches(self, state: StateDict) -> bool:
        return ("style.1.weight" in state and "input.input" in state) or "final_linear.1.weight" in state

    def own_generator(self, state: CheckpointState, source: str) -> tuple[StateDict, dict[str, Any], dict[str, Any]]:
        if "input.input" not in state:
            raise ValueError(f"'{source}' is a rosinality stylegan2-pytorch discriminator (final_linear, no "
                             "synthesis), not a generator; pass the generator's file.")  # fmt: skip
        renamed = _rename(state, ROSINALITY_G, source, "StyleGAN2 generator")
        own = {k: _rosinality_shape(k, v) for k, v in renamed.items()}
        container = state.container if isinstance(state.container, dict) else {}
        text = []
        avg = container.get("latent_avg")
        if isinstance(avg, torch.Tensor):
            own["w_avg"] = avg.reshape(-1)
        notes: dict[str, Any] = {"estimate_w_avg": "w_avg" not in own}
        if notes["estimate_w_avg"]:
            own["w_avg"] = torch.zeros(own["mapping.layers.0.weight"].shape[0])  # estimated once the model is built
            text.append("the file keeps no average latent: w̄ is the mean of 4,096 mapped latents (seed 0)")
        missing = _fill_missing_noise(own)
        if missing:
            text.append(f"{missing} noise buffers were missing from the file (as in rosinality's FFHQ 550000.pt): "
                        "drawn from N(0, 1) with seed 0")  # fmt: skip
        notes["declared_resolution"] = getattr(container.get("args"), "size", None)  # train.py's argparse args
        notes["text"] = "; ".join(text)
        return own, {"mapping_lr_multiplier": 0.01}, notes

    def critic_beside(self, container: Any) -> tuple[StateDict, NetworkStub | None] | None:
        state = container.get("d") if isinstance(container, dict) else None
        return (state, None) if isinstance(state, dict) else None

    def own_critic(
        self, state: StateDict, stub: NetworkStub | None, source: str
    ) -> tuple[StateDict, dict[str, Any]] | None:
        if "final_linear.1.weight" not in state:
            return None
        own = _rename(state, ROSINALITY_D, source, "StyleGAN2 critic")
        return own, {"mbstd_group_size": 4}


def _rosinality_shape(key: str, value: torch.Tensor) -> torch.Tensor:
    """rosinality keeps a leading 1 on the constant and the modulated weights, [1] noise gains, [1, 3, 1, 1] to-RGB
    biases and [1, 1, r, r] noise maps."""
    if key == "input.const" or (key.endswith(".weight") and value.ndim == 5):
        return value.squeeze(0)
    if key.endswith("noise_strength"):
        return value.reshape(())
    if key.endswith("noise_const"):
        return value.reshape(value.shape[-2:])
    if key.startswith("to_rgb") and key.endswith(".bias"):
        return value.reshape(-1)
    return value


def _stub(container: Any, keys: tuple[str, ...]) -> NetworkStub | None:
    if isinstance(container, dict):
        for key in keys:
            if isinstance(container.get(key), NetworkStub):
                return container[key]
    return None


def _check_filters(state: StateDict, source: str) -> None:
    f = fir_filter()
    for key, value in state.items():
        if key.endswith("resample_filter") and (value.shape != f.shape or not torch.allclose(value.float(), f)):
            raise ValueError(f"'{source}' resamples with the filter {value.tolist()} at '{key}'; gan_transfer's "
                             "StyleGAN2 uses [1, 3, 3, 1] (every released model).")  # fmt: skip


def _fill_missing_noise(own: StateDict) -> int:
    """Noise buffers a file lacks, drawn from N(0, 1) with seed 0; returns how many."""
    layers = sorted({k.rsplit(".", 1)[0] for k in own if k.endswith(".noise_strength")},
                    key=lambda k: [int(p) if p.isdigit() else p for p in k.split(".")])  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    missing = 0
    for layer in layers:
        if f"{layer}.noise_const" not in own:
            block = int(layer.split(".")[1])
            size = 4 * 2**block
            own[f"{layer}.noise_const"] = torch.randn(size, size, generator=gen)
            missing += 1
    return missing
