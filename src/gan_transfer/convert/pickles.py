"""Reading NVIDIA's network pickles (stylegan2-ada-pytorch ``.pkl``) without running the code inside them.

Those files pickle each network as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, whose normal
unpickling ``exec``s the Python source stored in ``meta`` — arbitrary code. :class:`RestrictedUnpickler` instead
rebuilds tensors (their storages through ``torch.load(weights_only=True)``), plain containers, NumPy scalars and
NVIDIA's ``EasyDict`` configs, turns each persistent network into a :class:`NetworkStub` (its class name, constructor
arguments and tensors, the source only hashed), and refuses every other global with one sentence — before anything
runs.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
from typing import Any, ClassVar

import numpy as np
import torch

StateDict = dict[str, torch.Tensor]


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names something that is not a tensor, container, config or network class."""


class EasyDict(dict):
    """NVIDIA's ``dnnlib.util.EasyDict``: a dict (attribute access is all it adds)."""


class NetworkStub:
    """A persistent network from a pickle, never instantiated: its class name, constructor arguments, tensors."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.class_name: str = str(meta.get("class_name", "?"))
        self.state: dict[str, Any] = dict(meta.get("state") or {})
        source = meta.get("module_src") or ""
        self.source_sha256 = hashlib.sha256(source.encode() if isinstance(source, str) else b"").hexdigest()

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    def state_dict(self, prefix: str = "") -> StateDict:
        """Parameters and buffers of this network and its children, named as ``module.state_dict()`` names them."""
        out: StateDict = {}
        for group in ("_parameters", "_buffers"):
            for name, t in (self.state.get(group) or {}).items():
                if t is not None:
                    out[prefix + name] = t.detach() if isinstance(t, torch.Tensor) else t
        for name, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, NetworkStub):
                out.update(child.state_dict(f"{prefix}{name}."))
            elif child is not None:
                raise pickle.UnpicklingError(f"module '{prefix}{name}' is a {type(child).__name__}, not a network")
        return out

    def __repr__(self) -> str:
        return f"NetworkStub({self.class_name})"


def _load_storage(data: bytes) -> Any:
    """A storage pickled by ``torch.save`` inside the pickle: read with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if dtype.hasobject:
        raise pickle.UnpicklingError("a NumPy object scalar (it could hold code)")
    return np.frombuffer(data or b"", dtype=dtype)[0] if data is not None else dtype.type()


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds tensors, containers, NumPy scalars, configs and network stubs; refuses every other global."""

    ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
        ("torch", "Size"): torch.Size,
        ("torch.storage", "_load_from_bytes"): _load_storage,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): NetworkStub,
    }

    def find_class(self, module: str, name: str) -> Any:
        found = self.ALLOWED.get((module, name))
        if found is None and module.startswith(("dnnlib.tflib", "tfutil")):
            raise RefusedGlobal(f"it is a TensorFlow network ('{module}.{name}'); turn it into a PyTorch pickle with "
                                "stylegan2-ada-pytorch's legacy.py first")  # fmt: skip
        if found is None:
            raise RefusedGlobal(f"it needs '{module}.{name}', which is not a tensor, config or network class")
        return found


def load_network_pickle(data: io.BufferedIOBase) -> Any:
    """The object in an NVIDIA network pickle, networks as :class:`NetworkStub`; raises ``UnpicklingError``."""
    return RestrictedUnpickler(data).load()
