"""Reading checkpoints that other code bases wrote, without ever running pickled code, and the format registry.

A checkpoint format (one file per foreign layout) says whether a state dict looks like its own (``matches``) and
turns one into this library's models (``convert``), with the config inferred from tensor shapes. Files are read with
``torch.load(weights_only=True)`` (or safetensors): a file that needs pickled code to load is refused with a sentence
saying why and what to do instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..models import Discriminator, Generator
from ..registry import Registry
from .pickles import NetworkStub, RefusedGlobal, load_network_pickle

CHECKPOINT_FORMATS: Registry[type[CheckpointFormat]] = Registry("checkpoint format")
# Where training scripts commonly keep the generator's state dict inside a checkpoint dictionary.
STATE_KEYS = ("netG_state_dict", "generator_state_dict", "state_dict_G", "netG", "generator", "G", "g_ema",
              "state_dict", "model_state_dict", "model")  # fmt: skip
StateDict = dict[str, torch.Tensor]


@dataclasses.dataclass
class Converted:
    """What a format makes of a checkpoint: models and what the card should say."""

    generator: Generator
    discriminator: Discriminator | None = None
    card_data: dict[str, Any] = dataclasses.field(default_factory=dict)


class CheckpointFormat:
    """One foreign layout: ``name`` (what ``format=`` says), ``matches`` and ``convert``."""

    name: ClassVar[str]
    description: ClassVar[str]

    def matches(self, state: StateDict) -> bool:
        raise NotImplementedError

    def convert(self, state: StateDict, source: str, **options: Any) -> Converted:
        raise NotImplementedError


def register_format(cls: type[CheckpointFormat]) -> type[CheckpointFormat]:
    """Class decorator: make a checkpoint format reachable by its ``name``."""
    return CHECKPOINT_FORMATS.register(cls.name)(cls)


def read_checkpoint(path: str | os.PathLike) -> Any:
    """The object stored in ``path`` (.safetensors, or a PyTorch file read with ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint '{path}' does not exist; check the path.")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"'{path}' is not a readable safetensors file ({err}); download it again.") from None
    with path.open("rb") as f:  # opened once: peeked at, then read from the start
        head = f.read(4096)
        f.seek(0)
        nvidia = (b"torch_utils.persistence", b"dnnlib.util", b"dnnlib.tflib", b"tfutil")
        if not zipfile.is_zipfile(f) and any(mark in head for mark in nvidia):
            return _read_network_pickle(f, path)
        f.seek(0)
        try:
            with warnings.catch_warnings(), torch.serialization.safe_globals([*_numpy_scalars(), argparse.Namespace]):
                warnings.simplefilter("ignore", UserWarning)  # torch's note on unusual pickle protocols
                return torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(
                f"'{path}' can only be loaded by running the pickled code inside it ({reason[:200]}), which "
                "gan_transfer never does. Re-save its tensors where it was made, e.g. torch.save(model.state_dict(), "
                "'weights.pt'), or as .safetensors, and convert that file."
            ) from None
        except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
            raise ValueError(
                f"'{path}' is not a complete PyTorch checkpoint ({type(err).__name__}: {str(err)[:160]}); it may be "
                "truncated: download it again."
            ) from None


def _read_network_pickle(f: BinaryIO, path: Path) -> Any:
    """An NVIDIA network pickle (``f``, opened from ``path``) through the restricted unpickler (networks as stubs;
    no code runs)."""
    try:
        f.seek(0)
        return load_network_pickle(f)
    except RefusedGlobal as err:
        raise ValueError(
            f"'{path}' is a network pickle that gan_transfer will not open: {err}. It reads only tensors, configs and "
            "NVIDIA's network classes from pickles and never runs code stored in them; re-save the weights with "
            "torch.save(G.state_dict(), 'G.pt') where the file was made."
        ) from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, OSError, IndexError) as err:
        raise ValueError(
            f"'{path}' is not a complete network pickle ({type(err).__name__}: {str(err)[:120]}); it may be "
            "truncated: download it again."
        ) from None


def _numpy_scalars() -> list[Any]:
    """NumPy scalars rebuilt from their bytes and a plain dtype (StudioGAN's critic files keep e.g. its best FID as
    one): data only, so ``weights_only`` may rebuild them. Object dtypes stay refused."""
    core = getattr(np, "_core", None) or np.core
    kinds = ("bool", "int32", "int64", "float16", "float32", "float64")
    return [core.multiarray.scalar, np.dtype, *(type(np.dtype(k)) for k in kinds)]


class CheckpointState(dict):
    """A generator's state dict plus the object it came from (``container``), where a format finds more: the
    critic saved beside it, a config, an average latent."""

    def __init__(self, tensors: Mapping[str, torch.Tensor], container: Any = None) -> None:
        super().__init__(tensors)
        self.container = container


def find_state_dict(obj: Any, source: str) -> CheckpointState:
    """The generator's tensors in a checkpoint: the object itself, the first of :data:`STATE_KEYS` it holds, or
    the ``G_ema`` (else ``G``) network of an NVIDIA pickle."""
    if _is_state_dict(obj):
        return CheckpointState(obj, obj)
    if isinstance(obj, Mapping):
        for key in ("G_ema", "G"):
            if isinstance(obj.get(key), NetworkStub):
                return CheckpointState(obj[key].state_dict(), obj)
        for key in STATE_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return CheckpointState(obj[key], obj)
        keys = ", ".join(map(str, list(obj)[:12]))
        raise ValueError(
            f"'{source}' holds a dictionary without a tensor state dict under any key gan_transfer knows (keys: "
            f"{keys}); known keys: {', '.join(STATE_KEYS)}. Save the generator's state_dict() on its own and convert "
            "that."
        )
    raise ValueError(f"'{source}' holds a {type(obj).__name__}, not a state dict; save model.state_dict() instead.")


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(torch.is_tensor(v) for v in obj.values())


def convert_checkpoint(path: str | os.PathLike, format: str | None = None, **options: Any) -> Converted:
    """Read ``path`` and convert it with ``format`` (or the one registered format whose layout it matches)."""
    source = str(path)
    state = find_state_dict(read_checkpoint(path), source)
    if format is not None:
        declared = CHECKPOINT_FORMATS.get(format)()
        others = [n for n, cls in CHECKPOINT_FORMATS.items() if n != format and cls().matches(state)]
        if others and not declared.matches(state):
            other = CHECKPOINT_FORMATS.get(others[0])
            raise ValueError(f"'{source}' is not a '{format}' file: its tensors are laid out as '{other.name}' "
                             f"({other.description}); pass format='{other.name}'.")  # fmt: skip
        return declared.convert(state, source, **options)
    found = [name for name, cls in CHECKPOINT_FORMATS.items() if cls().matches(state)]
    if len(found) != 1:
        keys = sorted(state)
        seen = ", ".join(keys[:10]) + (f", … ({len(keys)} in all)" if len(keys) > 10 else "")
        why = "no registered format knows its layout" if not found else f"several formats match ({', '.join(found)})"
        raise ValueError(
            f"'{source}': {why} (keys seen: {seen}); formats known: {', '.join(CHECKPOINT_FORMATS.names())}. "
            "Pass format=... if you know which it is."
        )
    return CHECKPOINT_FORMATS.get(found[0])().convert(state, source, **options)


# ------------------------------------------------------------------------------------------ spectral norm
def sn_vectors(weight: torch.Tensor, u0: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """BigGAN-PyTorch's one power iteration from its stored ``u0``: (u, v) with σ = u·W·v, as its forward computes.

    That code iterates on every call, also in eval mode (from ``u0``, which it only overwrites while training), so
    this pair, stored as a ``torch.nn.utils.parametrizations.spectral_norm`` state, gives exactly its eval-mode σ.
    """
    w = weight.reshape(weight.shape[0], -1)
    v = torch.nn.functional.normalize(u0.reshape(1, -1) @ w, eps=eps)
    u = torch.nn.functional.normalize(v @ w.t(), eps=eps)
    return u[0], v[0]


def sn_state(prefix: str, weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> StateDict:
    """The state-dict entries of a spectral-normed layer of this library's models (torch's parametrization)."""
    p = f"{prefix}.parametrizations.weight"
    return {f"{p}.original": weight, f"{p}.0._u": u, f"{p}.0._v": v}


def sn_baked(weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """W / σ with σ = u·W·v: a spectral-normed layer's effective weight, for a target layer without spectral norm."""
    return weight / torch.dot(u, weight.reshape(weight.shape[0], -1) @ v)
