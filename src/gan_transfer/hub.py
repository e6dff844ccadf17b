"""Config, safetensors and Hub glue shared by every saveable thing.

A saveable thing is a folder with one JSON config (stamped with the library version and the class name, resolved
through this library's registries, never by importing a name read from a file) and one ``*.safetensors`` file,
plus a ``README.md`` model card rendered from one of the ``model_cards`` templates (a source GAN, an adapted
pipeline, an adapter) by huggingface_hub's ``ModelCard.from_template``. Folders load from a local path or a Hub repo
id; ``push_to_hub`` checks the repo id, saves into a temporary folder (card naming the repo), creates the repo and
uploads the folder. Every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import huggingface_hub
import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ._version import __version__
from .atomic import atomic_write
from .memory import available_memory, gib
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


def weight_shapes(path: PathLike) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in a safetensors file, read from its header alone (no tensor is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Missing weights file '{path}': the folder is incomplete; save or download it again.")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    except (SafetensorError, OSError) as err:
        raise ValueError(f"'{path}' is not a readable safetensors file ({err}); save or download it again.") from None


def check_shapes(module: torch.nn.Module, shapes: Mapping[str, tuple[int, ...]], source: str) -> None:
    """Refuse, in one sentence, weights (given by their shapes) that do not fit ``module``: missing, unexpected or
    mis-shaped tensors. ``module`` may live on the meta device (its config checked before anything is allocated)."""
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(own) - set(shapes))
    unexpected = sorted(set(shapes) - set(own))
    wrong = sorted(k for k in set(own) & set(shapes) if own[k] != tuple(shapes[k]))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensors (e.g. '{missing[0]}')")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. '{unexpected[0]}')")
    if wrong:
        k = wrong[0]
        problems.append(
            f"{len(wrong)} tensors of the wrong shape (e.g. '{k}': file {tuple(shapes[k])}, model {own[k]})"
        )
    if problems:
        raise ValueError(
            f"The weights in {source} do not fit {type(module).__name__}: {'; '.join(problems)}. "
            "The config and weights come from different models; save the model again."
        )


def check_fits(module: torch.nn.Module, source: str) -> None:
    """Refuse a model (e.g. built on the meta device) whose weights would not fit in the memory free now."""
    needed = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    free = available_memory()
    if free is not None and needed > free:
        raise MemoryError(
            f"The model in {source} needs {gib(needed)} for its weights alone and {gib(free)} is free; "
            "load it on a machine with more memory."
        )


def load_state_dict_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state_dict`` into ``module`` refusing missing, unexpected or mis-shaped tensors, in one sentence."""
    check_shapes(module, {k: tuple(v.shape) for k, v in state_dict.items()}, source)
    own = module.state_dict()
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
    bundled = None if local.is_dir() else _registered_folder(str(path_or_id))  # may refuse a malformed short name
    if local.is_dir():
        folder = local
    elif bundled is not None and not revision:
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
# The templates ship inside the package (package data), so an installed gan_transfer renders the same cards as a
# checkout; model_cards/README.md at the top of the repository documents them and their variables.
TEMPLATES_DIR = Path(__file__).parent / "model_cards"
CARD_TEMPLATES = ("source_gan", "adapted_pipeline", "adapter")
RELATIONS = {"source_gan": None, "adapted_pipeline": "finetune", "adapter": "adapter"}  # base_model_relation
SAMPLES_NAME = "samples.png"
PLACEHOLDER_ID = "path/or/hub-id"  # what a card's code loads when the folder's Hub id is not known yet
GENERATION_TASK, TRANSLATION_TASK = "unconditional-image-generation", "image-to-image"
CREDITS_HEADING = "## Licences and credits"
_CREDITS_START, _CREDITS_END = "<!-- credits -->", "<!-- /credits -->"
_AUTO_TAGS = ("gan", LIBRARY_NAME)
_DERIVED_KEYS = ("library_name", "pipeline_tag", "base_model_relation", "model-index", "model_name", "eval_results")
_LOCAL_BASES = "base_model_local"  # base models that are folders, not Hub ids (the Hub's base_model takes ids only)
RECIPE_KEYS = ("family", "width", "batch_size", "loss", "lr_g", "lr_d", "ema_decay", "diffaugment")
_EXTRACTOR_LABELS = {"efficientnet-lite0": "EfficientNet-Lite0", "inception-v3-fid": "Inception-v3", "vgg16": "VGG16"}
_SCORE_NAMES = {"fd": "FD", "fid": "FD", "kid": "KID", "kid_std": "KID std", "kmmd": "KMMD", "mv": "MV",
                "precision": "Precision", "recall": "Recall", "iw": "IW", "mfd": "mFD", "mkid": "mKID"}  # fmt: skip


@dataclasses.dataclass
class CardBody:
    """What a saveable thing tells its card template besides its card data (``card_body`` returns one).

    ``template``: one of :data:`CARD_TEMPLATES`. ``usage``: Python that loads it (three lines, then a call).
    ``metrics``: scores for the model-index (default: the source's training record for a source GAN, the
    ``adaptation`` record's ``metrics`` for an adapted pipeline). ``base_model``: overrides the card data's.
    ``extra``: further template variables (held adapters, the base model's hash, a samples caption, …).
    """

    template: str
    title: str
    description: str
    usage: str
    task: str = GENERATION_TASK
    metrics: Mapping[str, Any] | None = None
    base_model: str | list[str] | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is a valid Hub model id (``name`` or ``owner/name``), else a one-sentence ValueError."""
    try:
        huggingface_hub.utils.validate_repo_id(str(repo_id))
    except HFValidationError:
        raise ValueError(
            f"'{repo_id}' is not a valid Hub repo id: use owner/name with letters, digits, '-', '_' and '.' "
            "(no '..', '--', spaces or further slashes)."
        ) from None
    return str(repo_id)


def is_hub_id(name: Any) -> bool:
    """True for ``owner/name`` Hub ids; False for local folders and paths."""
    text = str(name)
    if text.count("/") != 1 or Path(text).expanduser().exists():
        return False
    try:
        huggingface_hub.utils.validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def metric_label(key: str, extractor: str | None = None) -> str:
    """A score's name with the network whose features made it: "FD (EfficientNet-Lite0)".

    Only Inception-v3 features make an FID: any other "FID" is renamed FD, and a bare name whose network was not
    recorded says so.
    """
    found = re.fullmatch(r"\s*(.+?)\s*\((.+)\)\s*", str(key))
    if found:
        name, network = found.group(1), found.group(2).strip()
    else:
        name = _SCORE_NAMES.get(str(key).strip().lower(), str(key).strip())
        network = _EXTRACTOR_LABELS.get(str(extractor), str(extractor)) if extractor else "features not recorded"
        if name == "FD" and "inception" in network.lower():
            name = "FID"  # as MetricsReport names it: the Fréchet distance on Inception-v3 features
    if "inception" not in network.lower():
        name = re.sub(r"FID", "FD", name, flags=re.IGNORECASE)
    return f"{name} ({network})"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def card_results(metrics: Mapping[str, Any] | None, reference: str, dataset: str = "custom") -> list[dict[str, Any]]:
    """Scores as rows of a card's table and model-index: name, value, display (with ± std), reference, type.

    ``metrics``: ``{label: value}`` (``MetricsReport.labeled()``) or ``MetricsReport.to_dict()``; an optional
    ``"reference"`` (what the scores compare against) and ``"dataset"`` entry override the defaults.
    """
    if not metrics:
        return []
    metrics = dict(metrics)
    reference = str(metrics.pop("reference", reference))
    dataset = str(metrics.pop("dataset", dataset))
    extractor = metrics.pop("extractor", None)
    scores = metrics.pop("metrics", None)
    if isinstance(scores, Mapping):  # MetricsReport.to_dict()
        labels = metrics.get("labels") or {}
        scores = {metric_label(labels.get(k) or k, extractor): v for k, v in scores.items()}
    else:
        scores = {metric_label(k, extractor): v for k, v in metrics.items()}

    def number(value: Any) -> float | None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None

    rows = []
    for label, value in scores.items():
        value = number(value)
        if value is None or re.search(r" std \(", label):
            continue
        std = number(scores.get(re.sub(r" \(", " std (", label, count=1)))
        display = f"{value:.4g}" + (f" ± {std:.2g}" if std and std > 1e-9 else "")  # 0: a single subset
        rows.append({"name": label, "value": value, "display": display, "reference": reference,
                     "dataset": dataset, "type": _slug(label)})  # fmt: skip
    return rows


def join_credits(*texts: str | None) -> str | None:
    """Credits of several sources in one text, each paragraph once (a derived model carries all of them)."""
    paragraphs = [p.strip() for text in texts if text for p in str(text).split("\n\n") if p.strip()]
    return "\n\n".join(dict.fromkeys(paragraphs)) or None


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def _link(base: str) -> str:
    return f"[{base}](https://huggingface.co/{base})" if is_hub_id(base) else f"`{base}`"


def render_card(body: CardBody, card_data: Mapping[str, Any] | None, *, name: str | None = None,
                samples: str | None = None) -> str:  # fmt: skip
    """A model card from the ``model_cards`` template ``body.template``, rendered by ``ModelCard.from_template``.

    YAML: ``library_name``, ``pipeline_tag``, ``base_model`` (Hub ids) + ``base_model_relation`` (``adapter`` /
    ``finetune``; none for a source), ``tags``, ``datasets``, ``license`` and the model-index (scores named with
    their network), plus the card data's own records. ``name``: the Hub id or title the card names;
    ``samples``: the sample grid's file name beside the card, if one was written.
    """
    if body.template not in CARD_TEMPLATES:
        raise ValueError(f"Unknown card template '{body.template}'; use one of {', '.join(CARD_TEMPLATES)}.")
    data = json.loads(json.dumps(dict(card_data or {}), default=str))  # plain YAML only: tuples become lists
    for key in _DERIVED_KEYS:
        data.pop(key, None)
    credits = data.pop("credits", None)
    bases = body.base_model if body.base_model is not None else data.get("base_model")
    data.pop("base_model", None)
    data.pop(_LOCAL_BASES, None)
    bases = [bases] if isinstance(bases, str) else [str(b) for b in bases or []]
    hub_bases = [b for b in bases if is_hub_id(b)]
    local_bases = [b for b in bases if not is_hub_id(b)]
    relation = RELATIONS[body.template] if hub_bases else None
    tags = [*(data.pop("tags", None) or []), *_AUTO_TAGS]
    tags += [f"base_model:{relation}:{b}" for b in hub_bases] if relation else []
    record = data.get("gan_transfer") or {}
    adaptation = data.get("adaptation") or {}
    metrics = body.metrics
    if metrics is None and body.template == "source_gan":
        metrics = record.get("metrics")
    elif metrics is None and body.template == "adapted_pipeline":
        metrics = adaptation.get("metrics")
    held_out = (f"{record['test_images']} held-out test images of {record['data']}" if record.get("data")
                else "held-out images")  # fmt: skip
    source = body.template == "source_gan"
    dataset = str(record.get("data") or "custom") if source else "custom"
    results = card_results(metrics, held_out if source else "held-out images", dataset)
    base_results = [] if source else card_results(record.get("metrics"), held_out)
    model_name = (name or body.title).rsplit("/", 1)[-1]
    eval_results = [
        EvalResult(task_type=body.task, dataset_type=r["dataset"], dataset_name=r["reference"],
                   metric_type=r["type"], metric_value=r["value"], metric_name=r["name"])
        for r in results
    ] or None  # fmt: skip
    card_data_yaml = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=body.task,
        base_model=(hub_bases[0] if len(hub_bases) == 1 else hub_bases) or None,
        base_model_relation=relation,
        tags=list(dict.fromkeys(tags)),
        eval_results=eval_results,
        model_name=model_name if eval_results else None,
        **({_LOCAL_BASES: local_bases} if local_bases else {}),
        **data,
    )
    licence = data.get("license_name") or data.get("license")
    licence_line = f"Licence of these weights: `{licence}`." if licence else "No licence was recorded for the weights."
    if bases and body.template != "source_gan":
        licence_line += (" They derive from the base model named above: its licence and the licences of the data it "
                         "and this model learned from (below) still apply.")  # fmt: skip
    extra = dict(body.extra)
    hyperparameters = extra.pop("hyperparameters", None)
    if hyperparameters is None:
        hyperparameters = {k: v for k, v in adaptation.items() if k not in ("metrics", "auto")}
    card = ModelCard.from_template(
        card_data_yaml,
        template_path=str(TEMPLATES_DIR / f"{body.template}.md"),
        title=body.title,
        description=body.description.strip(),
        usage=body.usage.strip(),
        samples=samples,
        samples_caption=extra.pop("samples_caption", "Samples."),
        results=results,
        base_results=base_results,
        record=record,
        adaptation=adaptation,
        recipe_keys=RECIPE_KEYS,
        hyperparameters=[(k, _cell(v)) for k, v in hyperparameters.items()],
        bases=[_link(b) for b in bases],
        relation=relation,
        licence_line=licence_line,
        credits=(credits or "").strip(),
        **extra,
    )
    text = re.sub(r"\n{3,}", "\n\n", str(card)).strip() + "\n"
    return text


def read_card_data(folder: PathLike) -> dict[str, Any]:
    """The card data a folder's model card was rendered from (empty when it has none), credits included.

    What the renderer derives (library name, pipeline tag, relation, model-index, automatic tags) is left out, so
    rendering what this returns gives the same card again.
    """
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        return {}
    card = ModelCard.load(path)
    data = card.data.to_dict()
    for key in _DERIVED_KEYS:
        data.pop(key, None)
    local = data.pop(_LOCAL_BASES, None) or []
    if local:
        hub = data.get("base_model") or []
        merged = ([hub] if isinstance(hub, str) else list(hub)) + list(local)
        data["base_model"] = merged[0] if len(merged) == 1 else merged
    tags = [t for t in data.get("tags") or [] if t not in _AUTO_TAGS and not str(t).startswith("base_model:")]
    data.pop("tags", None)
    if tags:
        data["tags"] = tags
    text = card.text
    if _CREDITS_START in text:
        credits = text.split(_CREDITS_START, 1)[1].split(_CREDITS_END, 1)[0].strip()
    elif CREDITS_HEADING in text:  # cards written before the templates: the credits close the card
        credits = text.split(CREDITS_HEADING, 1)[1].strip()
    else:
        credits = ""
    if credits:
        data["credits"] = credits
    return data


def save_card(folder: PathLike, body: CardBody, card_data: Mapping[str, Any] | None, *, name: str | None = None,
              samples: Any = None) -> Path:  # fmt: skip
    """Write ``README.md`` (and ``samples.png`` when ``samples``, a PIL image, is given) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = folder / SAMPLES_NAME
    if samples is not None:  # a PIL image, written here so the Hub glue needs nothing above it
        with atomic_write(grid) as tmp:
            samples.save(tmp, format="PNG")
    elif grid.is_file():
        grid.unlink()  # a grid from an earlier save would no longer show this model
    text = render_card(body, card_data, name=name, samples=SAMPLES_NAME if samples is not None else None)
    write_text(folder / CARD_NAME, text)
    return folder / CARD_NAME


# ---------------------------------------------------------------------------------------------------- pushing
class PushError(ConnectionError):
    """The Hub refused or could not be reached while pushing (no token, no rights, no network, offline mode)."""


def push_folder(
    save: Callable[[Path], Any],
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str = "Upload with gan_transfer",
    create_pr: bool = False,
) -> Any:
    """Check ``repo_id``, save into a temporary folder with ``save``, then create the repo and upload the folder.

    The one path every push takes (pipelines, adapters, single models). A bad repo id or a failing save stops it
    before anything reaches the Hub; Hub and network failures become a one-sentence :class:`PushError`.
    Returns the commit info.
    """
    repo_id = check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="gan_transfer-push-") as tmp:
        save(Path(tmp))
        api = huggingface_hub.HfApi(token=token, library_name=LIBRARY_NAME, library_version=__version__)
        try:
            repo = api.create_repo(repo_id, private=private, exist_ok=True)
            return api.upload_folder(
                repo_id=repo.repo_id, folder_path=tmp, commit_message=commit_message, create_pr=create_pr
            )
        except OSError as err:  # HfHubHTTPError, OfflineModeIsEnabled and transport errors are all OSErrors
            status = getattr(getattr(err, "response", None), "status_code", None)
            why = f"HTTP {status}" if status else type(err).__name__
            raise PushError(
                f"Could not push to '{repo_id}' ({why}); check your token (HF_TOKEN or `hf auth login`), your "
                "rights on the repo, the network, and that HF_HUB_OFFLINE is not set."
            ) from None


class PushToHubMixin:
    """``push_to_hub`` for anything with ``save_pretrained(folder, repo_id=...)``: models, adapters, pipelines."""

    def save_pretrained(self, save_directory: PathLike, *, repo_id: str | None = None) -> Path:
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
        """Create ``repo_id`` if needed and upload this object's saved folder (its card names ``repo_id``);
        returns the commit info."""
        return push_folder(
            lambda folder: self.save_pretrained(folder, repo_id=repo_id),
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

    def card_body(
        self, card_data: Mapping[str, Any], *, name: str | None = None, subfolder: str | None = None
    ) -> CardBody:
        """What this object's card says besides its card data (see :class:`CardBody`).

        ``name``: the Hub id (or folder) its code loads, when known; ``subfolder``: where it sits inside that repo.
        """
        raise NotImplementedError

    def save_card(
        self,
        save_directory: PathLike,
        *,
        card_data: Mapping[str, Any] | None = None,
        repo_id: str | None = None,
        subfolder: str | None = None,
        samples: Any = None,
    ) -> Path:
        """Write this object's ``README.md`` (rendered from a ``model_cards`` template) into ``save_directory``."""
        card = self.card_data if card_data is None else card_data
        body = self.card_body(card, name=repo_id, subfolder=subfolder)
        return save_card(save_directory, body, card, name=repo_id or body.title, samples=samples)

    def save_pretrained(
        self,
        save_directory: PathLike,
        *,
        card_data: Mapping[str, Any] | None = None,
        repo_id: str | None = None,
        subfolder: str | None = None,
        samples: Any = None,
    ) -> Path:
        """Write weights, card and config into ``save_directory`` (each file atomically; config last).

        ``card_data`` (licence, credits, …) replaces this object's own for the card, without changing it.
        ``repo_id`` / ``subfolder``: where the card's code loads it from (the Hub id it is pushed to).
        ``samples``: a PIL image written beside the card as ``samples.png``.
        """
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(self.state_dict(), folder / self.weights_name)  # type: ignore[attr-defined]
        self.save_card(folder, card_data=card_data, repo_id=repo_id, subfolder=subfolder, samples=samples)
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
        weights = folder / cls.weights_name
        try:
            with torch.device("meta"):  # the config checked against the file's header before anything is allocated
                probe = target._from_config_dict(class_name, fields, str(config_path))
        except (RuntimeError, OverflowError, MemoryError) as err:
            raise ValueError(
                f"'{config_path}' describes no model that could be built ({str(err).splitlines()[0]}); "
                "save or download it again."
            ) from None
        check_shapes(probe, weight_shapes(weights), f"'{weights}'")
        check_fits(probe, str(config_path))
        obj = target._from_config_dict(class_name, fields, str(config_path))
        load_state_dict_strict(obj, load_weights(weights), f"'{weights}'")
        obj.card_data = read_card_data(folder)
        obj.eval()
        if device is not None or torch_dtype is not None:
            obj.to(device=device, dtype=torch_dtype)
        return obj
