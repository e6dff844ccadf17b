"""Config, safetensors and Hub glue shared by every saveable thing.

A saveable thing is a folder with one JSON config (stamped with the library version and the class name, resolved
through this library's registries, never by importing a name read from a file) and one ``*.safetensors`` file,
plus a ``README.md`` model card. Folders load from a local path or a Hub repo id; ``push_to_hub`` creates the repo,
saves into a temporary folder, renders the card and uploads the folder. Every file is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import huggingface_hub
import torch
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._version import __version__
from .atomic import atomic_write
from .registry import NAME_RESOLVERS, Registry

LIBRARY_NAME = "gan_transfer"
VERSION_KEY = "_gan_transfer_version"
CLASS_KEY = "_class_name"
CARD_NAME = "README.md"

PathLike = str | os.PathLike


# ----------------------------------------------------------------------------------------- JSON and text files
def write_json(path: PathLike, data: Mapping[str, Any]) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_text(path: PathLike, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Missing file '{path}': the folder was not saved by gan_transfer or is incomplete.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"'{path}' is not valid JSON ({err}); re-save the model or fix the file.") from None
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' must hold a JSON object; re-save the model or fix the file.")
    return data


def stamp(class_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A config dict with the class name and library version on top."""
    return {CLASS_KEY: class_name, VERSION_KEY: __version__, **fields}


def unstamp(data: Mapping[str, Any], path: PathLike) -> tuple[str, dict[str, Any]]:
    """Split a stamped config into its class name and its fields."""
    if CLASS_KEY not in data:
        raise ValueError(f"'{path}' has no '{CLASS_KEY}' entry: it was not written by gan_transfer.")
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    return str(data[CLASS_KEY]), fields


# --------------------------------------------------------------------------------------------------- weights
def save_weights(state_dict: Mapping[str, torch.Tensor], path: PathLike) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "library": LIBRARY_NAME, "version": __version__})


def load_weights(path: PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Missing weights file '{path}': the folder is incomplete; save or download it again.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"'{path}' is not a readable safetensors file ({err}); save or download it again.") from None


def load_state_dict_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state_dict`` into ``module`` refusing missing, unexpected or mis-shaped tensors, in one sentence."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensors (e.g. '{missing[0]}')")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. '{unexpected[0]}')")
    if wrong:
        k = wrong[0]
        problems.append(
            f"{len(wrong)} tensors of the wrong shape (e.g. '{k}': file {tuple(state_dict[k].shape)}, "
            f"model {tuple(own[k].shape)})"
        )
    if problems:
        raise ValueError(
            f"The weights in {source} do not fit {type(module).__name__}: {'; '.join(problems)}. "
            "The config and weights come from different models; save the model again."
        )
    with torch.no_grad():
        for key, value in state_dict.items():
            own[key].copy_(value)


def weights_hash(module: torch.nn.Module) -> str:
    """SHA-256 of a module's weights in a canonical float32 form, blind to storage dtype and device."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        if name.endswith("num_batches_tracked"):
            continue
        t = tensor.detach().cpu()
        if t.is_floating_point():
            t = t.float()
        digest.update(name.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ finding a folder
def offline_mode(local_files_only: bool = False) -> bool:
    """Offline if asked, or if HF_HUB_OFFLINE is set in the environment at call time."""
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return local_files_only or flag in {"1", "true", "yes", "on"}


def _registered_folder(name: str) -> Path | None:
    """The folder a registered resolver (e.g. the bundled zoo's ``gan-transfer/NAME``) gives for ``name``."""
    for _, resolver in NAME_RESOLVERS.items():
        folder = resolver(name)
        if folder is not None:
            return folder
    return None


def resolve_folder(
    path_or_id: PathLike,
    *,
    subfolder: str | None = None,
    revision: str | None = None,
    cache_dir: PathLike | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Return a local folder for a path, a name a resolver knows (the zoo's ``gan-transfer/NAME``) or a Hub repo id.

    Hub repos are downloaded, or read from the local cache when offline.
    """
    local = Path(path_or_id).expanduser()
    bundled = None if revision else _registered_folder(str(path_or_id))
    if local.is_dir():
        folder = local
    elif bundled is not None:
        folder = bundled
    else:
        repo_id = str(path_or_id)
        offline = offline_mode(local_files_only)
        try:
            folder = Path(
                huggingface_hub.snapshot_download(
                    repo_id,
                    revision=revision,
                    cache_dir=cache_dir,
                    local_files_only=offline,
                    token=token,
                    library_name=LIBRARY_NAME,
                    library_version=__version__,
                )
            )
        except HFValidationError:
            raise FileNotFoundError(
                f"'{path_or_id}' is neither a local folder nor a valid Hub repo id; check the path."
            ) from None
        except LocalEntryNotFoundError:
            why = "offline mode is on" if offline else "the Hub could not be reached"
            raise FileNotFoundError(
                f"'{path_or_id}' is not a local folder and is not in the Hub cache ({why}); "
                "download it once while online or pass a local path."
            ) from None
        except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
            raise FileNotFoundError(
                f"'{path_or_id}' was not found on the Hub ({type(err).__name__}); check the repo id, revision "
                "and your token."
            ) from None
    if subfolder:
        folder = folder / subfolder
        if not folder.is_dir():
            raise FileNotFoundError(f"'{path_or_id}' has no '{subfolder}/' folder; is it the right kind of model?")
    return folder


HUB_FILE_PREFIX = "hf://"


def resolve_file(
    path_or_hub_file: PathLike,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local file, or ``hf://owner/repo/path/in/repo`` downloaded (or read from the Hub cache when offline)."""
    text = str(path_or_hub_file)
    if not text.startswith(HUB_FILE_PREFIX):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"'{text}' is not a file; pass a local path or hf://owner/repo/file for a file on the Hub."
            )
        return path
    parts = text[len(HUB_FILE_PREFIX) :].split("/", 2)
    if len(parts) < 3 or not all(parts) or ".." in parts[2].split("/"):
        raise FileNotFoundError(f"'{text}' is not of the form hf://owner/repo/path/to/file; check it.")
    offline = offline_mode(local_files_only)
    try:
        return Path(huggingface_hub.hf_hub_download(
            f"{parts[0]}/{parts[1]}", parts[2], revision=revision, local_files_only=offline, token=token,
            library_name=LIBRARY_NAME, library_version=__version__,
        ))  # fmt: skip
    except (LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError,
            HFValidationError) as err:  # fmt: skip
        why = "offline mode is on and it is not in the Hub cache" if offline else type(err).__name__
        message = f"Could not get '{text}' ({why}); check the repo, the file name and your token."
        raise FileNotFoundError(message) from None


# ---------------------------------------------------------------------------------------------------- cards
def render_card(title: str, card_data: Mapping[str, Any] | None, body: str) -> str:
    """A model card: YAML metadata (licence, datasets, base model, tags) plus a markdown body."""
    data = json.loads(json.dumps(dict(card_data or {})))  # plain YAML only: tuples become lists
    data.setdefault("library_name", LIBRARY_NAME)
    tags = list(dict.fromkeys([*data.pop("tags", []), "gan", "gan_transfer"]))
    credits = data.pop("credits", None)
    yaml = ModelCardData(tags=tags, **data).to_yaml()
    text = f"---\n{yaml}\n---\n\n# {title}\n\n{body.strip()}\n"
    if credits:
        text += f"\n## Licences and credits\n\n{credits.strip()}\n"
    return text


def read_card_data(folder: PathLike) -> dict[str, Any]:
    """The metadata of a folder's model card (empty when it has none), credits included."""
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        return {}
    card = ModelCard.load(path)
    data = card.data.to_dict()
    data.pop("library_name", None)
    data["tags"] = [t for t in data.get("tags") or [] if t not in {"gan", "gan_transfer"}]
    if not data["tags"]:
        del data["tags"]
    marker = "## Licences and credits"
    if marker in card.text:
        data["credits"] = card.text.split(marker, 1)[1].strip()
    return data


def push_folder(
    save: Callable[[Path], None],
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str = "Upload with gan_transfer",
    create_pr: bool = False,
) -> Any:
    """Create the repo, save into a temporary folder with ``save``, upload that folder; returns the commit info."""
    api = huggingface_hub.HfApi(token=token, library_name=LIBRARY_NAME, library_version=__version__)
    repo = api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gan_transfer-push-") as tmp:
        save(Path(tmp))
        return api.upload_folder(
            repo_id=repo.repo_id,
            folder_path=tmp,
            commit_message=commit_message,
            create_pr=create_pr,
        )


class PushToHubMixin:
    """``push_to_hub`` for anything with ``save_pretrained(folder)``: models, adapters and pipelines share it."""

    def save_pretrained(self, save_directory: PathLike) -> Path:
        raise NotImplementedError

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | bool | None = None,
        commit_message: str | None = None,
        create_pr: bool = False,
    ) -> Any:
        """Create ``repo_id`` if needed and upload this object's saved folder; returns the commit info."""
        return push_folder(
            self.save_pretrained,
            repo_id,
            private=private,
            token=token,
            commit_message=commit_message or f"Upload {type(self).__name__} (gan_transfer {__version__})",
            create_pr=create_pr,
        )


# ------------------------------------------------------------------------------------ one config + weights
class HubMixin(PushToHubMixin):
    """``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for a module saved as config + safetensors.

    Subclasses set ``registry``, ``config_name`` and ``weights_name`` and implement ``config_dict``,
    ``_from_config_dict`` and ``card_body``.
    """

    registry: ClassVar[Registry[Any]]
    config_name: ClassVar[str] = "config.json"
    weights_name: ClassVar[str] = "model.safetensors"
    card_data: dict[str, Any]

    @classmethod
    def registry_key(cls) -> str:
        """The name this class is written under in config files."""
        return cls.__name__

    def config_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_config_dict(cls, class_name: str, fields: dict[str, Any], source: str) -> Any:
        raise NotImplementedError

    def card_body(self) -> str:
        return ""

    def save_pretrained(self, save_directory: PathLike, *, card_data: dict[str, Any] | None = None) -> Path:
        """Write config, weights and card into ``save_directory`` (each file atomically; config last).

        ``card_data`` (licence, credits, …) replaces this object's own for the card, without changing it.
        """
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(self.state_dict(), folder / self.weights_name)  # type: ignore[attr-defined]
        card = self.card_data if card_data is None else card_data
        write_text(folder / CARD_NAME, render_card(type(self).__name__, card, self.card_body()))
        write_json(folder / self.config_name, stamp(self.registry_key(), self.config_dict()))
        return folder

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: PathLike,
        *,
        subfolder: str | None = None,
        revision: str | None = None,
        cache_dir: PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        device: str | torch.device | None = None,
        torch_dtype: torch.dtype | None = None,
    ) -> Any:
        """Load from a local folder or a Hub repo id; weights must match the config exactly."""
        folder = resolve_folder(
            path_or_id,
            subfolder=subfolder,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
        config_path = folder / cls.config_name
        class_name, fields = unstamp(read_json(config_path), config_path)
        target = cls.registry.get(class_name)
        if not issubclass(target, cls):
            raise ValueError(
                f"'{folder}' holds a {target.__name__}, not a {cls.__name__}; "
                f"load it with {target.__name__}.from_pretrained."
            )
        obj = target._from_config_dict(class_name, fields, str(config_path))
        load_state_dict_strict(obj, load_weights(folder / cls.weights_name), f"'{folder / cls.weights_name}'")
        obj.card_data = read_card_data(folder)
        obj.eval()
        if device is not None or torch_dtype is not None:
            obj.to(device=device, dtype=torch_dtype)
        return obj
