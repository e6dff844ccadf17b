"""TransferI2I and its paper's ablations on real emoji: two-class with ground truth, and multi-class.

Two-class (``--mode two-class``): Google → Twitter emoji from the bundled unconditional Google-emoji GAN
(`gan-transfer/emoji-google`, BigGAN 32 px). Domain 0: 25 Google training emoji, domain 1: 25 *other* Twitter training
emoji (unpaired; seeded few-shot rule). Held out: the Google drawings of 100 test-split emoji are translated; the
Twitter drawings of the same emoji (same file names) are the ground truth. Scores: KID and FD (EfficientNet-Lite0) of
the translations (one fixed z per input) against those 100 Twitter emoji; paired pixel L1 (images in [0, 1]) and
feature distance (L2 between EfficientNet-Lite0 features) to each input's true translation, for one z and for the
best of 4 z. Two baselines put the numbers in scale: "copy the input" (the Google drawing itself) and the source GAN's
own samples.

Multi-class (``--mode multi-class``): the conditional Google-emoji GAN (`gan-transfer/emoji-google-cond`, 10
categories) → Twitter emoji of the categories with enough images, 10 training images per category (the paper's
Animal-faces setting). 10 held-out Twitter emoji per category are each translated into every category; per target
category KID / FD against that category's held-out Twitter emoji, averaged (mKID, mFD); and the accuracy of a
logistic-regression classifier trained on EfficientNet-Lite0 features of real Twitter training emoji (not the 10-shot
ones only: the whole training split) on the translations (the paper's RC).

Each setting is cached in ``bench/out/i2i/<mode>/<setting>.json`` and trains with ``resume=True`` into its own folder,
so the benchmark runs in pieces; ``--settings`` picks some. Prints a Markdown table and writes a grid
``bench/results/i2i_<mode>.png`` (two-class rows: inputs, ground truth, copy baseline, then each setting).

    python bench/transfer_i2i_bench.py --mode two-class --settings full,scratch,no-init,no-self-init,no-aux,k1,k2
    python bench/transfer_i2i_bench.py --mode multi-class --settings full,scratch
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tracking import score_features, table

from gan_transfer import GanPipeline, I2IPipeline
from gan_transfer.data import load_images
from gan_transfer.data.datasets import few_shot, load_dataset
from gan_transfer.metrics import compute_features
from gan_transfer.rendering import make_image_grid, save_image, to_pil

OUT = Path(__file__).parent / "out" / "i2i"
RESULTS = Path(__file__).parent / "results"
SETTINGS = {  # the paper's ablations (Tables 1-2) as options of the one recipe
    "full": {},
    "scratch": {"from_scratch": True},
    "no-init": {"init_steps": 0},
    "no-self-init": {"self_init_steps": 0},
    "neither": {"init_steps": 0, "self_init_steps": 0, "aux_weight_i2i": 0.0},  # = DeepI2I in the paper's Table 1
    "no-aux": {"aux_weight_i2i": 0.0},
    "k1": {"shared_blocks": 1},
    "k2": {"shared_blocks": 2},
    "k3": {"shared_blocks": 3},
}
R = 32


def _tensor(images: np.ndarray) -> torch.Tensor:
    return load_images(images, R, 3)


def two_class_data(shots: int, heldout: int) -> dict[str, torch.Tensor]:
    google, twitter = load_dataset("emoji-google", "test"), load_dataset("emoji-twitter", "test")
    assert google.names == twitter.names  # the same emoji in both styles
    pick = np.sort(np.random.default_rng(0).permutation(len(google))[:heldout])
    return {
        "a": _tensor(few_shot("emoji-google", shots, seed=0).images),
        "b": _tensor(few_shot("emoji-twitter", shots, seed=1).images),  # other emoji than domain a's: unpaired
        "inputs": _tensor(google.images[pick]),
        "truth": _tensor(twitter.images[pick]),
    }


def multi_class_data(shots: int, per_class: int) -> dict:
    source = GanPipeline.from_pretrained("gan-transfer/emoji-google-cond")
    train, test = load_dataset("emoji-twitter", "train"), load_dataset("emoji-twitter", "test")
    names = list(source.generator.config.class_names) or train.classes
    keep = [c for c in range(len(train.classes)) if (train.labels == c).sum() >= shots
            and (test.labels == c).sum() >= per_class and train.classes[c] in names]  # fmt: skip
    x, y, hx, hy = [], [], [], []
    for c in keep:
        x.append(_tensor(few_shot("emoji-twitter", shots, seed=0, classes=[c]).images))
        idx = np.flatnonzero(test.labels == c)[:per_class]
        hx.append(_tensor(test.images[idx]))
        y += [names.index(train.classes[c])] * shots
        hy += [names.index(train.classes[c])] * per_class
    return {"x": torch.cat(x), "y": torch.tensor(y), "heldout": torch.cat(hx), "heldout_y": torch.tensor(hy),
            "all_train": _tensor(train.images), "all_train_y": torch.tensor([names.index(train.classes[c])
            if train.classes[c] in names else -1 for c in train.labels]), "names": names}  # fmt: skip


def _translate(pipe: I2IPipeline, inputs: torch.Tensor, target, variants: int = 1, seed: int = 7) -> torch.Tensor:
    out = pipe(inputs, target_class=target, num_variants=variants, generator=torch.Generator().manual_seed(seed),
               output_type="pt", batch_size=64)  # fmt: skip
    return out.images * 2 - 1


def _paired(translations: torch.Tensor, truth: torch.Tensor, feats: torch.Tensor, truth_feats: torch.Tensor):
    l1 = ((translations - truth).abs() / 2).flatten(1).mean(1)
    fdist = (feats - truth_feats).norm(dim=1)
    return l1, fdist


def train(mode: str, name: str, source: GanPipeline, data: dict, args: argparse.Namespace) -> I2IPipeline:
    options = {"steps": args.steps, "init_steps": args.init_steps, "self_init_steps": args.self_init_steps,
               "batch_size": args.batch_size, "loss": args.loss, "progress": False, "resume": True,
               "output_dir": str(OUT / mode / name / _run_key(args)), **SETTINGS[name]}  # fmt: skip
    if mode == "two-class":
        return I2IPipeline.from_gan(source, data["a"], data["b"], **options)
    return I2IPipeline.from_gan(source, data["x"], class_labels=data["y"], **options)


def run_two_class(args: argparse.Namespace) -> None:
    data = two_class_data(args.shots, args.heldout)
    source = GanPipeline.from_pretrained("gan-transfer/emoji-google")
    source.set_progress_bar_config(disable=True)
    truth_f = compute_features(data["truth"], batch_size=32)
    input_f = compute_features(data["inputs"], batch_size=32)
    n = len(data["inputs"])
    samples = source(num_images=n, generator=torch.Generator().manual_seed(3), output_type="pt").images * 2 - 1
    l1, fd_ = _paired(data["inputs"], data["truth"], input_f, truth_f)
    rows = [["copy the input (baseline)", "—", *_scores(input_f, truth_f), l1.mean().item(), l1.mean().item(),
             fd_.mean().item(), "—"],
            ["source GAN samples (no input)", "—", *_scores(compute_features(samples, batch_size=32), truth_f), "—",
             "—", "—", "—"]]  # fmt: skip
    grid = [data["inputs"][:8], data["truth"][:8], data["inputs"][:8]]
    for name in args.settings:
        result = _cached("two-class", name, args, lambda name=name: _two_class_setting(name, source, data, args))
        rows.append([name, result["train_s"], result["kid"], result["fd"], result["l1"], result["l1_best4"],
                     result["feat"], result["adaptor_bytes"]])  # fmt: skip
        grid.append(torch.load(OUT / "two-class" / name / "grid.pt", weights_only=True))
    save_image(make_image_grid(to_pil(torch.cat(grid)), cols=8), RESULTS / "i2i_two-class.png")
    print(f"\n{args.shots} + {args.shots} training emoji (Google, other Twitter), {n} held-out pairs; translation "
          f"steps {args.steps}/direction, init {args.init_steps}, self-init {args.self_init_steps}, batch "
          f"{args.batch_size}, loss {args.loss}; grid bench/results/i2i_two-class.png\n")  # fmt: skip
    print(table(["setting", "train s", "KID", "FD (EfficientNet-Lite0)", "pixel L1", "pixel L1 best of 4",
                 "feature dist.", "adaptor bytes"], rows))  # fmt: skip


def _run_key(args: argparse.Namespace) -> str:
    """The training folder's name: a run resumes only a run of the same settings."""
    a = args
    return f"training-s{a.steps}-i{a.init_steps}-si{a.self_init_steps}-b{a.batch_size}-{a.loss}-n{a.shots}"


def _scores(features: torch.Tensor, reference: torch.Tensor) -> list[float]:
    s = score_features(features, reference, min(100, len(reference)), with_kmmd=False)
    return [s["kid"], s["fd"]]


def _cached(mode: str, name: str, args: argparse.Namespace, compute) -> dict:
    path = OUT / mode / f"{name}.json"
    key = {k: getattr(args, k) for k in ("steps", "init_steps", "self_init_steps", "batch_size", "loss", "shots")}
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("args") == key:
            return cached
    started = time.perf_counter()
    result = {**compute(), "args": key}
    result.setdefault("wall_s", round(time.perf_counter() - started, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)
    return result


def _adaptor_bytes(pipe: I2IPipeline, mode: str, name: str) -> int:
    folder = OUT / mode / name / "pipeline"
    pipe.save_pretrained(folder)
    return (folder / "adapters" / "0" / "adapter_model.safetensors").stat().st_size


def _two_class_setting(name: str, source: GanPipeline, data: dict, args: argparse.Namespace) -> dict:
    pipe = train("two-class", name, source, data, args)
    pipe.set_progress_bar_config(disable=True)
    one = _translate(pipe, data["inputs"], 1)
    four = _translate(pipe, data["inputs"], 1, variants=4).view(len(one), 4, *one.shape[1:])
    truth_f = compute_features(data["truth"], batch_size=32)
    feats = compute_features(one, batch_size=32)
    l1, fdist = _paired(one, data["truth"], feats, truth_f)
    l1_4 = ((four - data["truth"][:, None]).abs() / 2).flatten(2).mean(2).min(1).values
    torch.save(one[:8].clone(), OUT / "two-class" / name / "grid.pt")
    kid_, fd_ = _scores(feats, truth_f)
    return {"kid": kid_, "fd": fd_, "l1": l1.mean().item(), "l1_best4": l1_4.mean().item(),
            "feat": fdist.mean().item(), "train_s": round(pipe.training_result.seconds, 1),
            "adaptor_bytes": _adaptor_bytes(pipe, "two-class", name)}  # fmt: skip


def _classifier(features: torch.Tensor, labels: torch.Tensor, classes: int, steps: int = 500) -> torch.nn.Module:
    """Multinomial logistic regression on standardised features (Adam, weight decay), trained on real images."""
    torch.manual_seed(0)
    mean, std = features.mean(0), features.std(0) + 1e-6
    model = torch.nn.Sequential(torch.nn.Linear(features.shape[1], classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    x = ((features - mean) / std).float()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()
    return lambda f: model(((f - mean) / std).float()).argmax(1)


def run_multi_class(args: argparse.Namespace) -> None:
    data = multi_class_data(args.shots, args.per_class)
    source = GanPipeline.from_pretrained("gan-transfer/emoji-google-cond")
    source.set_progress_bar_config(disable=True)
    targets = sorted(set(data["y"].tolist()))
    names = data["names"]
    held_f = compute_features(data["heldout"], batch_size=32)
    mask = data["all_train_y"] >= 0
    train_f = compute_features(data["all_train"][mask], batch_size=32)
    classify = _classifier(train_f, data["all_train_y"][mask], len(names))
    real_acc = (classify(held_f) == data["heldout_y"]).float().mean().item()
    z = torch.Generator().manual_seed(3)
    per_class = []
    for c in targets:
        images = source(num_images=len(data["heldout"]), class_labels=c, generator=z, output_type="pt").images * 2 - 1
        per_class.append((c, compute_features(images, batch_size=32)))
    rows = [["source GAN samples of class c (no input)", "—", *_class_scores(per_class, held_f, data, classify)]]
    for name in args.settings:
        result = _cached("multi-class", name, args, lambda name=name: _multi_setting(name, source, data, args,
                                                                                     held_f, classify))  # fmt: skip
        rows.append([name, result["train_s"], result["mkid"], result["mfd"], result["accuracy"],
                     result["adaptor_bytes"]])  # fmt: skip
    rows[0] += ["—"]
    print(f"\n{len(targets)} target categories ({', '.join(names[c] for c in targets)}), {args.shots} training "
          f"images each, {len(data['heldout'])} held-out inputs each translated into every category; classifier "
          f"accuracy on real held-out Twitter emoji: {real_acc:.3f}\n")  # fmt: skip
    print(table(["setting", "train s", "mKID", "mFD (EfficientNet-Lite0)", "classifier accuracy", "adaptor bytes"],
                rows))  # fmt: skip


def _class_scores(per_class, held_f, data, classify) -> list[float]:
    kids, fds, hits = [], [], []
    for c, feats in per_class:
        real = held_f[data["heldout_y"] == c]
        k, f = _scores(feats, real)
        kids.append(k), fds.append(f)
        hits.append((classify(feats) == c).float().mean().item())
    return [float(np.mean(kids)), float(np.mean(fds)), float(np.mean(hits))]


def _multi_setting(name: str, source, data: dict, args, held_f, classify) -> dict:
    pipe = train("multi-class", name, source, data, args)
    pipe.set_progress_bar_config(disable=True)
    per_class = [(c, compute_features(_translate(pipe, data["heldout"], c), batch_size=32))
                 for c in sorted(set(data["y"].tolist()))]  # fmt: skip
    mkid, mfd, acc = _class_scores(per_class, held_f, data, classify)
    grid = [data["heldout"][::10][:8]] + [_translate(pipe, data["heldout"][::10][:8], c)
                                          for c in sorted(set(data["y"].tolist()))[:4]]  # fmt: skip
    save_image(make_image_grid(to_pil(torch.cat(grid)), cols=8), RESULTS / f"i2i_multi-class_{name}.png")
    return {"mkid": mkid, "mfd": mfd, "accuracy": acc, "train_s": round(pipe.training_result.seconds, 1),
            "adaptor_bytes": _adaptor_bytes(pipe, "multi-class", name)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["two-class", "multi-class"], default="two-class")
    parser.add_argument("--settings", default="full,scratch,no-init,no-self-init,neither,no-aux,k1,k2")
    parser.add_argument("--steps", type=int, default=300, help="translation steps per direction")
    parser.add_argument("--init-steps", type=int, default=200)
    parser.add_argument("--self-init-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--loss", default="ns")
    parser.add_argument("--shots", type=int, default=None, help="two-class: 25 per domain; multi-class: 10 per class")
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=10)
    args = parser.parse_args()
    args.settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in args.settings if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]}; known: {', '.join(SETTINGS)}")
    RESULTS.mkdir(exist_ok=True)
    if args.mode == "two-class":
        args.shots = args.shots or 25
        run_two_class(args)
    else:
        args.shots = args.shots or 10
        run_multi_class(args)


if __name__ == "__main__":
    main()
