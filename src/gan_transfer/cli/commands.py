"""The ``gan-transfer`` command: generate, adapt, translate, evaluate, convert, info, push, space, data, train-source,
demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..adapters import Adapter
from ..atomic import atomic_folder
from ..convert import CHECKPOINT_FORMATS
from ..data import list_image_files, load_images
from ..data.installers import FetchError
from ..hub import PushError, check_repo_id, read_json, resolve_folder, write_json
from ..models import GanModel
from ..pipelines import PIPELINE_CLASSES, GanPipeline, make_image_grid, save_image
from ..pipelines.base import INDEX_NAME
from ..recipes import TrainingDiverged

GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
OVERWRITE_HELP = "replace a run already in OUTPUT/training (its checkpoints, samples and loss plot)"


def _add_hub_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--local-files-only", action="store_true", help="never use the network; read the Hub cache only")


def _write_images(images: list, output: Path) -> str:
    if output.suffix.lower() in GRID_SUFFIXES:
        save_image(make_image_grid(images), output)
        return f"a grid of {len(images)} images to {output}"
    output.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        save_image(image, output / f"{i:05d}.png")
    return f"{len(images)} images to {output}/"


def _pipeline_with_adapters(args: argparse.Namespace, model: str) -> GanPipeline:
    """The pipeline named on the command line, with every ``--adapter`` loaded and active in order."""
    pipe = GanPipeline.from_pretrained(model, revision=args.revision, local_files_only=args.local_files_only)
    names = [pipe.load_adapter(a, f"adapter_{i}", local_files_only=args.local_files_only)
             for i, a in enumerate(args.adapter or [])]  # fmt: skip
    if names:
        pipe.set_adapter(names)
    pipe.set_progress_bar_config(disable=args.quiet)
    return pipe


def cmd_generate(args: argparse.Namespace) -> int:
    pipe = _pipeline_with_adapters(args, args.model)
    output = Path(args.output)
    draw = {"num_images": args.num_images, "class_labels": args.class_labels, "truncation": args.truncation,
            "generator": torch.Generator().manual_seed(args.seed), "batch_size": args.batch_size}  # fmt: skip
    if output.suffix.lower() in GRID_SUFFIXES:
        print(f"Wrote {_write_images(pipe(**draw).images, output)}")
        return 0
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output '{output}' is a file; name a folder (or a .png grid).")
    output.mkdir(parents=True, exist_ok=True)
    count = 0
    for batch in pipe.generate_batches(**draw):  # written as they come: memory stays bounded by the batch
        for image in batch.images:
            save_image(image, output / f"{count:05d}.png")
            count += 1
    print(f"Wrote {count} images to {output}/")
    return 0


def _label(text: str) -> int | str:
    """A class label on the command line: an id, or a class name the model knows."""
    return int(text) if text.lstrip("-").isdigit() else text


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _class_folders(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """Images from one sub-folder per class (sorted names → labels 0, 1, ...)."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"--class-folders: '{root}' has no sub-folders; put each class's images in its own folder.")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = list_image_files(root / name)
        paths += files
        labels += [label] * len(files)
    return paths, labels, classes


def _training_options(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """A method's options from ``--set key=value``, ``--steps`` / ``--batch-size`` / ``--seed`` / ``--preset`` and the
    run folder."""
    options = _set_options(args)
    for key in ("steps", "batch_size", "seed", "preset"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    options.update(output_dir=str(out / "training"), resume=args.resume, overwrite=args.overwrite,
                   progress=not args.quiet)  # fmt: skip
    return options


def _set_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--set key=value`` items → options (values read as JSON where they are JSON, else as text); the config
    dataclass converts and checks each against its field."""
    options: dict[str, Any] = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set '{item}': write it as key=value, e.g. --set lr_g=1e-4.")
        options[key.strip()] = _parse_value(value)
    return options


def cmd_adapt(args: argparse.Namespace) -> int:
    out = Path(args.output)
    options = _training_options(args, out)
    images: Any = args.images
    labels = None
    if args.class_folders:
        images, labels, classes = _class_folders(Path(args.images))
        print(f"{len(images)} images in {len(classes)} classes: {', '.join(classes)}")
    pipe = GanPipeline.from_pretrained(args.model, revision=args.revision, local_files_only=args.local_files_only)
    pipe.set_progress_bar_config(disable=args.quiet)
    method: Any = args.method
    if method == "auto":
        method = pipe.choose_method(images, labels)
        preset = method.options.get("preset")
        print(f"method 'auto' chose {method.method}{f' (preset {preset})' if preset else ''}: {method.reason}.")
    tuned = pipe.adapt(images, method=method, class_labels=labels, **options)
    tuned.save_pretrained(out / "pipeline")
    result = tuned.training_result
    used = tuned.card_data["adaptation"]["method"]
    print(
        f"Adapted with {used} in {result.steps} steps ({result.seconds:.1f} s this run); "
        f"pipeline saved to {out / 'pipeline'}, samples and checkpoint in {out / 'training'}"
    )
    chosen = (result.extras or {}).get("selection")
    if chosen:
        stage = f" of stage {len(chosen['stages'])}" if "stages" in chosen else ""
        verdict = "" if chosen["beat_source"] else " — no step beat the source"
        print(f"Held-out slice: KID {chosen['source_kid']:.4f} for the source, best {chosen['best_kid']:.4f} at step "
              f"{chosen['best_step']}{stage}{verdict}")
    return 0


def cmd_translate_train(args: argparse.Namespace) -> int:
    from ..pipelines import I2IPipeline

    out = Path(args.output)
    options = _training_options(args, out)
    gan = GanPipeline.from_pretrained(args.model, revision=args.revision, local_files_only=args.local_files_only)
    gan.set_progress_bar_config(disable=args.quiet)
    if args.class_folders:
        if len(args.images) != 1:
            raise ValueError("--class-folders takes one folder (one sub-folder per class), not two domain folders.")
        paths, labels, classes = _class_folders(Path(args.images[0]))
        print(f"{len(paths)} images in {len(classes)} classes: {', '.join(classes)}")
        i2i = I2IPipeline.from_gan(gan, paths, class_labels=labels, **options)
    else:
        if len(args.images) != 2:
            raise ValueError("Give two folders (domain 0, domain 1), or one folder with --class-folders.")
        i2i = I2IPipeline.from_gan(gan, args.images[0], args.images[1], **options)
    i2i.save_pretrained(out / "pipeline")
    result = i2i.training_result
    print(f"Trained a translator in {result.steps} steps ({result.seconds:.1f} s this run); pipeline saved to "
          f"{out / 'pipeline'}, samples and checkpoints in {out / 'training'}")  # fmt: skip
    return 0


def cmd_translate_apply(args: argparse.Namespace) -> int:
    from ..pipelines import I2IPipeline

    pipe = I2IPipeline.from_pretrained(args.model, revision=args.revision, local_files_only=args.local_files_only)
    pipe.set_progress_bar_config(disable=args.quiet)
    images: Any = args.images[0] if len(args.images) == 1 and Path(args.images[0]).is_dir() else args.images
    out = pipe(images, target_class=args.target_class, num_variants=args.variants, truncation=args.truncation,
               generator=torch.Generator().manual_seed(args.seed))  # fmt: skip
    print(f"Wrote {_write_images(out.images, Path(args.output))} ({args.variants} per input, input-major)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..metrics import evaluate

    source: Any = Path(args.source)
    if not (source.is_dir() and not (source / INDEX_NAME).is_file() and list_image_files(source)):
        source = _pipeline_with_adapters(args, args.source)
    report = evaluate(
        source,
        args.reference,
        args.metrics,
        extractor=args.extractor,
        weights=args.weights,
        weights_filename=args.weights_filename,
        num_samples=args.num_samples,
        resolution=args.resolution,
        seed=args.seed,
        kid_subset_size=args.kid_subset_size,
    )
    print(report)
    if args.output:
        write_json(args.output, report.to_dict())
        print(f"Wrote {args.output}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from ..data.datasets import DATASETS, fetch, load_dataset

    if args.action == "list":
        for name, (info, _) in DATASETS.items():
            print(f"{name}: {info.description} — {info.source}, {info.license}")
        return 0
    for name in args.names:
        folder = fetch(name, force=args.force)
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
        print(f"{name}: {len(train)} train + {len(test)} test images in {folder} ({DATASETS[name][0].license})")
    return 0


def cmd_train_source(args: argparse.Namespace) -> int:
    from ..data.datasets import load_dataset
    from ..metrics import evaluate
    from ..recipes import make_config
    from ..recipes.base import RUNTIME_OPTIONS
    from ..recipes.from_scratch import SourceConfig, train_source

    options = _set_options(args)
    train = load_dataset(args.data, "train", args.classes)
    test = load_dataset(args.data, "test", args.classes)
    channels = 1 if train.images.shape[-1] == 1 else 3
    out = Path(args.output)
    options.update(family=args.family, resolution=args.resolution, width=args.width, steps=args.steps,
                   channels=channels, num_classes=len(train.classes) if args.conditional else 0,
                   output_dir=str(out / "training"), resume=args.resume, overwrite=args.overwrite,
                   progress=not args.quiet)  # fmt: skip
    config = make_config(SourceConfig, options, "train-source")
    images = load_images(train.images, args.resolution, channels)
    labels = torch.as_tensor(train.labels)
    g, d, result = train_source(config, images, labels)
    pipe = GanPipeline(g, d)
    pipe.set_progress_bar_config(disable=True)
    kwargs = {"reference_labels": test.labels} if args.conditional else {}
    report = evaluate(pipe, load_images(test.images, args.resolution, channels), ["fd", "kid"] + (
        ["mfd"] if args.conditional else []), num_samples=min(len(test), 1000), kid_subset_size=min(len(test), 500),
        **kwargs)  # fmt: skip
    pipe.card_data = {
        **train.model_card_data(),
        "datasets": [train.info.source],
        "tags": ["source-gan", args.family],
        "gan_transfer": {
            "data": args.data, "classes": train.classes, "train_images": len(train), "test_images": len(test),
            "recipe": {k: v for k, v in config.to_dict().items() if k not in RUNTIME_OPTIONS},
            "steps": result.steps, "wall_clock_hours": round(result.total_seconds / 3600, 2),
            "metrics": report.labeled(),
        },
    }  # fmt: skip
    pipe.save_pretrained(out / "pipeline")
    print(report)
    print(f"Trained {result.steps} steps ({result.total_seconds / 3600:.2f} h in all); saved {out / 'pipeline'}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Someone else's checkpoint → an ordinary pipeline folder, written whole or not at all."""
    out = Path(args.output)
    if out.exists():
        raise ValueError(f"'{out}' already exists; choose a new output folder (convert never overwrites).")
    options: dict[str, Any] = {}
    if args.class_names:
        options["class_names"] = args.class_names
    for key in ("num_classes", "resolution", "discriminator"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    card = {k: v for k, v in (("license", args.license), ("credits", args.credits)) if v}
    pipe = GanPipeline.from_checkpoint(args.source, args.format, card_data=card,
                                       local_files_only=args.local_files_only, **options)  # fmt: skip
    with atomic_folder(out) as tmp:
        pipe.save_pretrained(tmp)
    g, d = pipe.generator, pipe.discriminator
    critic = f" + {type(d).__name__} ({d.num_parameters():,})" if d is not None else ""
    print(f"Converted {args.source} ({args.format}): {type(g).__name__} {g.config.resolution} px, "
          f"{g.config.num_classes} classes, {g.num_parameters():,} parameters{critic} → {out}")  # fmt: skip
    return 0


def _adapter_summary(adapter: Adapter) -> dict[str, Any]:
    return {"kind": adapter.kind, "values": sum(t.numel() for t in adapter.state_dict().values())}


def describe(path_or_id: str, *, revision: str | None = None, local_files_only: bool = False) -> dict[str, Any]:
    """What a pipeline, model or adapter folder holds: class, config, parameter counts."""
    folder = resolve_folder(path_or_id, revision=revision, local_files_only=local_files_only)
    if (folder / INDEX_NAME).is_file():
        kind = read_json(folder / INDEX_NAME).get("_class_name")
        pipe = PIPELINE_CLASSES.get(kind, GanPipeline).from_pretrained(folder)
        return {
            "type": "pipeline",
            "class": type(pipe).__name__,
            "path": str(folder),
            **{
                name: {"class": type(m).__name__, "parameters": m.num_parameters(), "config": m.config.to_dict()}
                for name, m in pipe.components.items()
                if m is not None
            },
            "adapters": {name: _adapter_summary(pipe.get_adapter(name)) for name in pipe.list_adapters()},
            "card": pipe.card_data,
        }
    if (folder / Adapter.config_name).is_file():
        adapter = Adapter.from_pretrained(folder)
        values = sum(t.numel() for t in adapter.state_dict().values())
        return {
            "type": "adapter",
            "path": str(folder),
            "values": values,
            "config": read_json(folder / Adapter.config_name),
        }
    model = GanModel.from_pretrained(folder)
    return {
        "type": "model",
        "path": str(folder),
        "class": type(model).__name__,
        "parameters": model.num_parameters(),
        "config": model.config.to_dict(),
    }


def cmd_info(args: argparse.Namespace) -> int:
    print(json.dumps(describe(args.path, revision=args.revision, local_files_only=args.local_files_only), indent=2))
    return 0


def _load_pipeline(path_or_id: str, args: argparse.Namespace) -> Any:
    """Any pipeline class (by the ``_class_name`` of its ``model_index.json``), from a folder or a Hub id."""
    folder = resolve_folder(path_or_id, revision=args.revision, local_files_only=args.local_files_only)
    kind = read_json(folder / INDEX_NAME).get("_class_name") if (folder / INDEX_NAME).is_file() else None
    if kind not in PIPELINE_CLASSES:
        raise ValueError(f"'{path_or_id}' is not a pipeline folder (no model_index.json of a known pipeline class).")
    return PIPELINE_CLASSES[kind].from_pretrained(folder)


def cmd_push(args: argparse.Namespace) -> int:
    """Upload a saved pipeline, adapter or model: loaded (so a broken folder or a mismatched adapter is refused
    before anything is sent), then pushed through ``push_to_hub``, which re-renders its card for the repo."""
    repo_id = check_repo_id(args.repo_id)
    folder = resolve_folder(args.path, revision=args.revision, local_files_only=args.local_files_only)
    options = {"private": args.private or None, "commit_message": args.commit_message}
    if (folder / Adapter.config_name).is_file():
        if args.base:  # the adapter travels with its base pipeline's licence, credits and a sample grid
            pipe = _load_pipeline(args.base, args)
            name = "pushed"
            while name in pipe.list_adapters():
                name += "_"
            pipe.load_adapter(folder, name)
            info = pipe.push_to_hub(repo_id, adapter_name=name, **options)
        else:
            info = Adapter.from_pretrained(folder).push_to_hub(repo_id, **options)
        what = "adapter"
    elif args.base:
        raise ValueError(f"--base applies to adapter folders; '{args.path}' holds no {Adapter.config_name}.")
    elif (folder / INDEX_NAME).is_file():
        pipe = _load_pipeline(str(folder), args)
        info = pipe.push_to_hub(repo_id, **options)
        what = type(pipe).__name__
    else:
        model = GanModel.from_pretrained(folder)
        info = model.push_to_hub(repo_id, **options)
        what = type(model).__name__
    url = getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}"
    print(f"Pushed the {what} in {args.path} to {repo_id} ({url})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The offline main job (see gan_transfer.cli.demo)."""
    from .demo import run_demo

    out = Path(args.output)
    result = run_demo(out, demo=args.demo, method=args.method, steps=args.steps, progress=not args.quiet)
    for name, scores in result["scores"].items():
        print(f"{name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in scores.items() if "std" not in k))
    print(
        f"Wrote {out / 'samples.png'} (rows: target, source, adapted), {result['saved']}, "
        f"{out / 'metrics.json'} in {result['seconds']} s"
    )
    return 0


SPACE_APP = Path("spaces") / "gan-transfer" / "app.py"


def _space_app(path: str | None) -> Path:
    """The Space's app.py: --app, else spaces/gan-transfer/app.py under the current folder or this checkout."""
    candidates = [Path(path)] if path else [Path.cwd() / SPACE_APP, Path(__file__).resolve().parents[3] / SPACE_APP]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"No {SPACE_APP} here or beside this install; run from a gan_transfer checkout or pass --app PATH/app.py."
    )


def cmd_space(args: argparse.Namespace) -> int:
    """Serve the web app (spaces/gan-transfer/app.py); gradio is imported only here, and only if installed."""
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        print('gan-transfer space: the web app needs gradio; install it with pip install "gan_transfer[space]".',
              file=sys.stderr)  # fmt: skip
        return 2
    app_file = _space_app(args.app)
    spec = importlib.util.spec_from_file_location("gan_transfer_space_app", app_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    options: dict[str, Any] = {"translator": args.translator}
    if args.adapters is not None:
        options["adapters_dir"] = args.adapters
    demo = module.build_demo(args.models or None, **options)
    print(f"Serving the gan_transfer app on http://{args.host}:{args.port} (Ctrl+C stops it)")
    module.launch(demo, server_name=args.host, server_port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gan-transfer", description="Adapt pretrained GANs to new domains.")
    parser.add_argument("--version", action="version", version=f"gan_transfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="generate images from a pipeline folder or Hub id")
    p.add_argument("model", help="pipeline folder or Hub repo id")
    p.add_argument("--adapter", action="append", help="adapter folder or Hub id to apply (repeatable)")
    p.add_argument("--num-images", type=int, default=16)
    p.add_argument("--class-labels", type=_label, nargs="+", default=None,
                   help="one label (an id or a class name), or one per image")  # fmt: skip
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--output", default="samples.png", help="a .png/.jpg path for a grid, or a folder for files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_hub_args(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("adapt", help="adapt a pipeline to a folder of images (resumable)")
    p.add_argument("model", help="source pipeline folder or Hub repo id")
    p.add_argument("images", help="folder of target images")
    p.add_argument("--method", default="transfer_gan",
                   help="registered method name, or auto: chosen from the images (default: transfer_gan)")
    p.add_argument("--preset", help="a named set of the method's options (see the README: 'Which method?')")
    p.add_argument("--output", default="adapted", help="folder: pipeline/ (result) and training/ (checkpoints)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in OUTPUT/training")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--class-folders", action="store_true", help="one sub-folder of images per class")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any option of the method's config")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_hub_args(p)
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("translate", help="TransferI2I: train an image-to-image translator from a GAN, or apply one")
    tsub = p.add_subparsers(dest="action", required=True)
    t = tsub.add_parser("train", help="train a translator from a source GAN (resumable)")
    t.add_argument("model", help="source GAN pipeline folder or Hub repo id")
    t.add_argument("images", nargs="+", help="two folders (domain 0, domain 1), or one with --class-folders")
    t.add_argument("--class-folders", action="store_true", help="multi-class: one sub-folder of images per class")
    t.add_argument("--output", default="translator", help="folder: pipeline/ (result) and training/ (checkpoints)")
    t.add_argument("--steps", type=int, default=None, help="translation steps per direction")
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--resume", action="store_true", help="continue from the checkpoints in OUTPUT/training")
    t.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="any option of transfer_i2i's config")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_hub_args(t)
    t.set_defaults(func=cmd_translate_train)
    t = tsub.add_parser("apply", help="translate images with a trained translator")
    t.add_argument("model", help="translator pipeline folder or Hub repo id")
    t.add_argument("images", nargs="+", help="image files, or one folder")
    t.add_argument("--target-class", type=_label, nargs="+", default=[1],
                   help="target domain/class id or name, one for all or one per image (default 1)")  # fmt: skip
    t.add_argument("--variants", type=int, default=1, help="translations per input (different z)")
    t.add_argument("--truncation", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--output", default="translations.png", help="a .png/.jpg path for a grid, or a folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_hub_args(t)
    t.set_defaults(func=cmd_translate_apply)

    p = sub.add_parser("evaluate", help="score a pipeline (or an image folder) against reference images")
    p.add_argument("source", help="pipeline folder / Hub repo id, or a folder of images")
    p.add_argument("reference", help="folder of reference (real) images")
    p.add_argument("--metrics", nargs="+", default=["fd", "kid"], help="fd kid kmmd mv precision recall iw")
    p.add_argument("--extractor", default="efficientnet-lite0", help="efficientnet-lite0 | inception-v3-fid | vgg16")
    p.add_argument("--weights", default=None, help="weights file or Hub repo id for inception-v3-fid / vgg16")
    p.add_argument("--weights-filename", default=None, help="file inside --weights when it is a Hub repo id")
    p.add_argument("--num-samples", type=int, default=None, help="generated images (default: as many as reference)")
    p.add_argument("--resolution", type=int, default=None, help="size to load images at (default: the model's)")
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--adapter", action="append", help="adapter folder or Hub id to apply (repeatable)")
    p.add_argument("--output", default=None, help="write the scores as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_hub_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("data", help="list or fetch the real image sets")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("names", nargs="*", help="dataset names (see: gan-transfer data list)")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train-source", help="train a source GAN from scratch on a dataset (resumable)")
    p.add_argument("--data", required=True, help="dataset name (see: gan-transfer data list)")
    p.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these classes")
    p.add_argument("--family", default="biggan", choices=["biggan", "resnet"])
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--conditional", action="store_true")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--output", required=True, help="folder: pipeline/ (result) and training/ (checkpoints)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any engine option")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_source)

    p = sub.add_parser("convert", help="turn someone else's checkpoint into a pipeline folder (no pickled code runs)")
    p.add_argument("format", help="checkpoint layout: " + ", ".join(CHECKPOINT_FORMATS.names()))
    p.add_argument("source", help="checkpoint file, or hf://owner/repo/path/to/file")
    p.add_argument("output", help="new folder for the pipeline")
    p.add_argument("--class-names", nargs="+", default=None, help="names of the classes, in the model's order")
    p.add_argument("--num-classes", type=int, default=None, help="number of classes (when they have no names)")
    p.add_argument("--resolution", type=int, default=None, help="check the file is for this resolution")
    p.add_argument("--discriminator", default=None, help="the critic's file, for formats that ship one (D.pth)")
    p.add_argument("--license", default=None, help="licence of the weights, for the card (e.g. mit)")
    p.add_argument("--credits", default=None, help="who trained it and on what, for the card")
    p.add_argument("--local-files-only", action="store_true", help="never use the network; read the Hub cache only")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("info", help="print a pipeline's, model's or adapter's config and parameter counts")
    p.add_argument("path", help="folder or Hub repo id")
    _add_hub_args(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("push", help="upload a saved pipeline, adapter or model to the Hugging Face Hub")
    p.add_argument("path", help="pipeline, adapter or model folder (or a Hub id to copy)")
    p.add_argument("repo_id", help="the Hub repo to create or update: owner/name")
    p.add_argument("--base", default=None,
                   help="adapters: the base pipeline (folder or Hub id) it was trained on; checks it fits, adds the "
                        "base's licence and credits to the card, and a sample grid")  # fmt: skip
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--commit-message", default=None)
    _add_hub_args(p)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("demo", help="the offline main job: adapt the bundled real face GAN to 25 cartoon faces")
    p.add_argument("--output", default="demo_out", help="folder for samples.png, adapted/, metrics.json")
    p.add_argument("--demo", default="faces", choices=["faces", "emoji"],
                   help="faces (default): digiface-faces → Twemoji person faces; emoji: emoji-google → Twitter emoji")
    p.add_argument("--method", default=None, help="faces: minegan (default), transfer_gan, bsa; emoji: transfer_gan "
                   "(default), bsa, minegan")
    p.add_argument("--steps", type=int, default=None,
                   help="default (faces / emoji): minegan 150 / 200, transfer_gan 150 / 100, bsa 200 / 300")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("space", help="serve the web app (Generate, Morph, Translate, Adapt); needs gan_transfer[space]")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--models", nargs="+", default=None, help="pipelines to serve (default: every bundled source GAN)")
    p.add_argument("--adapters", default=None, help="folder of adapter folders (default: the Space's adapters/)")
    p.add_argument("--translator", default=None, help="an I2IPipeline folder: adds the Translate tab")
    p.add_argument("--app", default=None, help="path to the Space's app.py (default: spaces/gan-transfer/app.py)")
    p.set_defaults(func=cmd_space)
    return parser


# What a user can cause and fix: bad input or options, missing files, a diverged run, a failed download or push.
# Anything else is a bug in gan_transfer and stays a traceback, so it can be reported.
USER_ERRORS = (ValueError, FileNotFoundError, MemoryError, TrainingDiverged, FetchError, PushError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        print(f"gan-transfer {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
