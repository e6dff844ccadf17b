"""The ``dcgan`` format: PyTorch DCGAN-tutorial generators (``main.N.*`` state dicts), unconditional or with a
one-hot label appended to z.

The layout is read from the tensors: the transposed convolutions (4-D weights) alternate with batch norms (running
statistics), so their count gives the resolution (5 → 64 px), the last one the image channels, the hidden widths the
tutorial's ngf, and the first one's input width z_dim (+ the number of classes, which only the user can tell apart:
pass ``class_names`` or ``num_classes``). Parameter-free modules (ReLU, Dropout) leave no trace in a state dict:
``dropout`` sets the training-time dropout after the first block where the original code had one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch

from ..hub import load_state_dict_strict
from ..models.dcgan import DCGANGenerator, dcgan_channels
from .base import CheckpointFormat, Converted, StateDict, register_format


def _modules(state: StateDict) -> dict[int, dict[str, torch.Tensor]]:
    groups: dict[int, dict[str, torch.Tensor]] = defaultdict(dict)
    for key, value in state.items():
        prefix, index, name = [*key.split(".", 2), "", ""][:3]
        if prefix != "main" or not index.isdigit() or not name:
            raise ValueError(f"key '{key}'")
        groups[int(index)][name] = value
    return dict(sorted(groups.items()))


def _looks_like_critic(first: torch.Tensor, last: torch.Tensor) -> bool:
    """Conv2d weights are (out, in, k, k): a critic takes 1 or 3 image channels in and gives one logit out."""
    return first.shape[1] in (1, 3) and last.shape[0] == 1 and last.shape[1] > 3


@register_format
class DCGANFormat(CheckpointFormat):
    name = "dcgan"
    description = "PyTorch DCGAN-tutorial generator state dict (main.N.*), bare or under e.g. netG_state_dict"

    def matches(self, state: StateDict) -> bool:
        return all(k.startswith("main.") for k in state) and any(v.ndim == 4 for v in state.values())

    def convert(
        self,
        state: StateDict,
        source: str,
        *,
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
        resolution: int | None = None,
        dropout: float = 0.0,
        **unknown: Any,
    ) -> Converted:
        if unknown:
            raise ValueError(f"Unknown option '{sorted(unknown)[0]}' for format 'dcgan'; known: class_names, "
                             "num_classes, resolution, dropout.")  # fmt: skip
        try:
            groups = _modules(state)
        except ValueError as err:
            message = f"'{source}' is not a DCGAN-tutorial state dict: unexpected {err}; use another format."
            raise ValueError(message) from None
        convs = [i for i, g in groups.items() if g.get("weight") is not None and g["weight"].ndim == 4]
        norms = [i for i, g in groups.items() if "running_mean" in g]
        if convs and _looks_like_critic(groups[convs[0]]["weight"], groups[convs[-1]]["weight"]):
            raise ValueError(
                f"'{source}' looks like a DCGAN discriminator (image channels in, one logit out), not a generator; "
                "convert the generator's file (only generators are imported in this format)."
            )
        kinds = ["conv" if i in convs else "norm" if i in norms else "other" for i in groups]
        alternating = kinds == ["conv", "norm"] * (len(kinds) // 2) + ["conv"]  # conv, BN, …, conv: nothing else
        if len(convs) < 4 or not alternating:
            raise ValueError(
                f"'{source}' has {len(convs)} convolutions and {len(norms)} batch norms in an order a DCGAN generator "
                "does not have (conv, BN, …, conv); it is not a DCGAN-tutorial generator."
            )
        if any(set(groups[c]) != {"weight"} for c in convs):
            raise ValueError(f"'{source}' has convolution biases; DCGAN-tutorial generators have none.")
        first, last = groups[convs[0]]["weight"], groups[convs[-1]]["weight"]
        found = 2 ** (len(convs) + 1)
        if resolution is not None and resolution != found:
            raise ValueError(
                f"'{source}' is a {found} px DCGAN generator ({len(convs)} transposed convolutions), not "
                f"{resolution} px; drop resolution= or convert the {resolution} px file."
            )
        names = tuple(class_names or ())
        if names and num_classes is not None and num_classes != len(names):
            raise ValueError(f"{len(names)} class names but num_classes={num_classes}; give one name per class.")
        k = len(names) or int(num_classes or 0)
        z_dim = first.shape[0] - k
        if z_dim < 1:
            raise ValueError(
                f"'{source}' takes {first.shape[0]} input channels, fewer than the {k} classes stated; check the "
                "class count."
            )
        hidden = [groups[i]["weight"].shape[1] for i in convs[:-1]]
        width, channels = hidden[-1], last.shape[1]
        if hidden != dcgan_channels(found, width) or channels not in (1, 3):
            raise ValueError(
                f"'{source}' has hidden widths {hidden} and {channels} output channels; a DCGAN-tutorial generator "
                "halves its width per layer and draws 1 or 3 channels."
            )
        g = DCGANGenerator(resolution=found, channels=channels, num_classes=k, class_names=names, z_dim=z_dim,
                           width=width, conditioning="concat", dropout=dropout)  # fmt: skip
        own: dict[str, torch.Tensor] = {"stem.weight": first[:z_dim]}
        if k:
            own["label_embedding.weight"] = first[z_dim:].reshape(k, -1)
        for b, (n, conv) in enumerate(zip(norms, convs[1:], strict=True)):
            bn = dict(groups[n])
            bn.setdefault("num_batches_tracked", torch.tensor(0))
            own.update({f"blocks.{b}.norm.bn.{name}": t for name, t in bn.items()})
            own[f"blocks.{b}.conv.weight"] = groups[conv]["weight"]
        load_state_dict_strict(g, {k_: v.float() for k_, v in own.items()}, f"'{source}'")
        return Converted(generator=g.eval())
