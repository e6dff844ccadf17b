"""A user's bad day, and nothing lost on any of it (issue 16).

Classes: unreadable / odd / huge / degenerate images; tampered files; option types and ranges; output-folder misuse;
divergence at the first, middle and last step; kill and resume for every method; resume with changed and with
forbidden options; path names. Each CLI case asserts a non-zero exit, one sentence naming the input and the fix, and
that no file changed or appeared outside the run's own folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from gan_transfer import GanPipeline
from gan_transfer.cli import main
from gan_transfer.data import list_image_files, load_images
from gan_transfer.metrics import evaluate
from gan_transfer.recipes import GanTrainer, GeneratorSide, TrainConfig, TrainingDiverged, get_recipe

from .conftest import seeded, tiny_pipeline

EMOJI = Path(__file__).parent / "data" / "emoji" / "google_a"
IMAGES = torch.rand(8, 3, 32, 32) * 2 - 1
ROOT = Path(__file__).resolve().parents[1]


def _files(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every file under ``root`` (but ``skip``) → its SHA-256: what a failed command must leave as it was."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and (skip is None or not path.is_relative_to(skip)):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _fails(args: list[str], capsys, *needles: str, root: Path, run: Path | None = None) -> str:
    """Run the CLI; assert exit 2, one line naming ``needles``, and nothing changed under ``root`` but ``run``."""
    before = _files(root, run)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert _files(root, run) == before
    return err


def _png_header(width: int, height: int) -> bytes:
    """A valid tiny PNG that declares ``width`` × ``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    tiny_pipeline("biggan").save_pretrained(tmp_path / "source")
    return tmp_path / "source"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in list_image_files(EMOJI)[:8]:
        shutil.copy(path, folder / path.name)
    return folder


def _adapt(source: Path, images: Path, out: Path, *extra: str) -> list[str]:
    return ["adapt", str(source), str(images), "--steps", "1", "--batch-size", "4", "--set", "d_steps=1",
            "--output", str(out), "--quiet", *extra]  # fmt: skip


def _trainer(out: Path, seed: int = 0, **options) -> GanTrainer:
    pipe = tiny_pipeline("resnet", seed=seed)
    config = TrainConfig(**{"steps": 2, "batch_size": 4, "progress": False, "output_dir": str(out), **options})
    return GanTrainer(config, GeneratorSide(pipe.generator), pipe.discriminator, IMAGES, z_dim=16)


@pytest.mark.parametrize("steps", [1, 3])
def test_non_finite_weights_at_the_last_step_stop_the_run_and_are_never_saved(tmp_path, steps):
    trainer = _trainer(tmp_path / "run", steps=steps, lr_g=1e39, checkpoint_every=1)
    with pytest.raises(TrainingDiverged, match="generator's weights are no longer finite"):
        trainer.fit()
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_cli_reports_divergence_at_the_only_step_and_writes_no_pipeline(tmp_path, capsys):
    tiny_pipeline("biggan").save_pretrained(tmp_path / "source")
    args = ["adapt", str(tmp_path / "source"), str(EMOJI), "--steps", "1", "--batch-size", "4", "--set", "d_steps=1",
            "--set", "lr_g=1e39", "--output", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "diverged at step 1" in err and "lower the learning rates" in err
    assert not (tmp_path / "out" / "pipeline").exists() and not (tmp_path / "out" / "training" / "checkpoint").exists()


def test_resume_applies_a_changed_learning_rate(tmp_path):
    _trainer(tmp_path / "run").fit()
    resumed = _trainer(tmp_path / "run", steps=3, lr_g=1e-6, lr_d=2e-6, resume=True)
    resumed._resume()
    assert resumed.step == 2
    assert [g["lr"] for g in resumed.opt_g.param_groups] == [1e-6]
    assert [g["lr"] for g in resumed.opt_d.param_groups] == [2e-6]
    assert resumed.opt_g.state  # the moments themselves were restored


def test_resume_refuses_forbidden_changes_in_one_sentence(tmp_path):
    _trainer(tmp_path / "run").fit()
    with pytest.raises(ValueError, match=r"with batch_size=8: the run was started with batch_size=4"):
        _trainer(tmp_path / "run", batch_size=8, resume=True).fit()
    with pytest.raises(ValueError, match="was made for another model"):
        pipe = tiny_pipeline("biggan")
        config = TrainConfig(steps=3, batch_size=4, progress=False, output_dir=str(tmp_path / "run"), resume=True)
        GanTrainer(config, GeneratorSide(pipe.generator), pipe.discriminator, IMAGES, z_dim=32).fit()


def test_atomic_writes_leave_ordinary_permissions(tmp_path):
    from gan_transfer.atomic import atomic_folder, atomic_write

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_write(tmp_path / "atomic.txt") as tmp:
        tmp.write_text("x")
    with atomic_folder(tmp_path / "folder") as tmp:
        (tmp / "inside.txt").write_text("x")
    (tmp_path / "plain_folder").mkdir()
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "atomic.txt") == mode(plain)
    assert mode(tmp_path / "folder") == mode(tmp_path / "plain_folder")


# --- images ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: PIL.Image.new("L", (2_000_000, 1)).save(p), "aspect ratio beyond 20:1"),
        (lambda p: p.write_bytes(_png_header(30_000, 30_000)), "declares more than"),
        (lambda p: p.write_bytes(_png_header(9_000, 9_000)), "is 9000x9000 pixels, more than the 67,108,864"),
        (lambda p: p.write_bytes(b""), "Cannot read image"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "Cannot read image"),
    ],
    ids=["strip", "bomb", "large", "empty-file", "corrupt"],
)
def test_absurd_images_are_refused_by_name_before_decoding(tmp_path, source, images, capsys, make, needle):
    bad = images / "bad.png"
    make(bad)
    with pytest.raises(ValueError, match=needle) as caught:
        load_images(images, 32)
    assert str(bad) in str(caught.value) and ("remove" in str(caught.value) or "replace" in str(caught.value))
    _fails(_adapt(source, images, tmp_path / "out"), capsys, str(bad), needle, root=tmp_path)


def test_sixteen_bit_images_are_scaled_by_their_mode_not_their_content(tmp_path):
    values = (np.arange(32 * 32).reshape(32, 32) % 200).astype(np.uint16)  # all below 256
    PIL.Image.fromarray(values).save(tmp_path / "dark.png")
    assert PIL.Image.open(tmp_path / "dark.png").mode.startswith("I;16")
    x = (load_images(tmp_path / "dark.png", 32, channels=1) + 1) / 2
    torch.testing.assert_close(x[0, 0], torch.from_numpy(values / 65535).float(), atol=1e-6, rtol=0)


def test_an_animated_image_gives_its_first_frame_with_a_warning(tmp_path):
    frames = [PIL.Image.new("RGB", (32, 32), colour) for colour in ("red", "lime", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match=r"anim\.gif' is animated \(3 frames\); only its first frame"):
        x = load_images(tmp_path / "anim.gif", 32)
    assert x[0, 0].mean() > 0.9 and x[0, 1].mean() < -0.9  # red


def test_large_photos_are_reduced_before_the_float_conversion(tmp_path):
    rng = np.random.default_rng(0)
    PIL.Image.fromarray(rng.integers(0, 255, (2400, 3000, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = load_images(tmp_path / "photo.png", 32)
    assert x.shape == (1, 3, 32, 32) and x.abs().max() <= 1
    assert abs(x.mean().item()) < 0.05  # uniform noise averages to grey


def test_evaluate_needs_two_images_on_each_side():
    pipe = tiny_pipeline()
    one = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"Got 1 images from the tensor, but evaluation .* needs at least 2"):
        evaluate(pipe, one, ["fd"], use_cache=False)
    with pytest.raises(ValueError, match=r"num_samples=1: .* at least 2"):
        evaluate(pipe, torch.rand(4, 3, 32, 32), ["fd"], num_samples=1, use_cache=False)


# --- tampered files ----------------------------------------------------------------------------------------------
def test_a_config_edited_to_a_huge_width_is_refused_before_allocating(source):
    path = source / "generator" / "config.json"
    config = json.loads(path.read_text())
    config["width"] = 20_000
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"do not fit BigGANGenerator: .* wrong shape .* save the model again"):
        GanPipeline.from_pretrained(source)


def test_a_model_too_big_for_memory_is_refused_before_allocating(source, monkeypatch):
    import gan_transfer.hub

    monkeypatch.setattr(gan_transfer.hub, "available_memory", lambda: 1000)  # a machine with 1000 bytes free
    with pytest.raises(MemoryError, match=r"needs 0\.\d GiB for its weights alone and 0\.0 GiB is free"):
        GanPipeline.from_pretrained(source)


def test_an_adapter_config_edited_to_absurd_sizes_is_refused_before_allocating(tmp_path):
    from gan_transfer.adapters import Adapter

    tuned = tiny_pipeline("biggan").adapt(list_image_files(EMOJI)[:4], method="minegan", steps=1, batch_size=4,
                                          d_steps=1, stage2=False, progress=False)  # fmt: skip
    tuned.get_adapter("minegan").save_pretrained(tmp_path / "adapter")
    path = tmp_path / "adapter" / "adapter_config.json"
    config = json.loads(path.read_text())
    config["kwargs"]["width"] = 3_000_000_000
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"'{path}' describes no model that could be built"):
        Adapter.from_pretrained(tmp_path / "adapter")
    config["kwargs"]["width"] = 3_000
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"do not fit MinerAdapter: .* wrong shape"):
        Adapter.from_pretrained(tmp_path / "adapter")


def test_truncated_weights_and_bad_config_values_are_named(source):
    weights = source / "generator" / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[:1000])
    with pytest.raises(ValueError, match=f"'{weights}' is not a readable safetensors file"):
        GanPipeline.from_pretrained(source)
    weights.write_bytes(whole)
    config = source / "discriminator" / "config.json"
    config.write_text(config.read_text().replace('"width": 8', '"width": "eight"'))
    with pytest.raises(ValueError, match="Option width='eight' is not a whole number"):
        GanPipeline.from_pretrained(source)


# --- options -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("lr_g=abc", "Option lr_g='abc' is not a finite number or none"),
        ("checkpoint_every=abc", "Option checkpoint_every='abc' is not a whole number"),
        ("seed=abc", "Option seed='abc' is not a whole number"),
        ("d_steps=2.5", "Option d_steps=2.5 is not a whole number"),
        ("lr_g=Infinity", "Option lr_g=inf is not a finite number"),
        ("betas=[0.5,1.5]", "Option betas=[0.5, 1.5] is out of range; use a value in [0, 1)"),
        ("num_samples=0", "Option num_samples=0 is out of range; use a value ≥ 1"),
        ("ema_decay=yes", "Option ema_decay='yes' is not a finite number or none"),
        ("lr_g", "write it as key=value"),
    ],
)
def test_options_are_converted_and_checked_by_their_field(tmp_path, source, images, capsys, option, needle):
    _fails(_adapt(source, images, tmp_path / "out", "--set", option), capsys, needle, root=tmp_path)


def test_text_options_convert_to_their_field_types():
    config = get_recipe("transfer_gan", lr_g="1e-4", steps="1e3", betas="0.5, 0.99", ema_decay="none",
                        progress="false").config  # fmt: skip
    assert (config.lr_g, config.steps, config.betas, config.ema_decay, config.progress) == (
        1e-4, 1000, (0.5, 0.99), None, False)


def test_generation_arguments_are_checked_before_anything_is_drawn():
    pipe = tiny_pipeline()
    with pytest.raises(TypeError, match=r"generator='0' is of type str; pass a torch\.Generator"):
        pipe(num_images=2, generator="0")
    with pytest.raises(ValueError, match=r"truncation=inf: use a finite value"):
        pipe(num_images=2, truncation=float("inf"))
    with pytest.raises(ValueError, match=r"batch_size=2\.5"):
        pipe(num_images=2, batch_size=2.5)
    with pytest.raises(MemoryError, match=r"num_images=10,000,000,000 would hold .* pipe\.generate_batches"):
        pipe(num_images=10**10)


def test_generation_streams_the_same_images_as_one_call(tmp_path, monkeypatch):
    from gan_transfer.pipelines import gan_pipeline

    monkeypatch.setattr(gan_pipeline, "DRAW_BLOCK", 4)  # several draw blocks in a small call
    pipe = tiny_pipeline("biggan", num_classes=3)
    whole = pipe(num_images=10, generator=seeded(1), batch_size=3, output_type="pt")
    batches = list(pipe.generate_batches(num_images=10, generator=seeded(1), batch_size=3, output_type="pt"))
    assert [len(b.images) for b in batches] == [3, 1, 3, 1, 2]  # batches never cross a draw block
    assert not any(b.images.requires_grad for b in batches)  # no autograd graph kept per batch
    assert torch.equal(torch.cat([b.images for b in batches]), whole.images)
    assert torch.equal(torch.cat([b.class_labels for b in batches]), whole.class_labels)
    again = pipe(num_images=10, generator=seeded(1), batch_size=10, output_type="pt")
    torch.testing.assert_close(again.images, whole.images, atol=1e-5, rtol=0)


def test_cli_generate_into_a_folder_writes_as_it_goes(tmp_path, source):
    assert main(["generate", str(source), "--num-images", "5", "--batch-size", "2", "--output",
                 str(tmp_path / "gen"), "--quiet"]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == [f"{i:05d}.png" for i in range(5)]


# --- output folders ----------------------------------------------------------------------------------------------
def test_output_that_is_a_file_is_refused_before_training(tmp_path, source, images, capsys):
    (tmp_path / "out").write_text("not a folder")
    _fails(_adapt(source, images, tmp_path / "out"), capsys, "lies under the file", str(tmp_path / "out"),
           root=tmp_path)  # fmt: skip


def test_output_inside_the_image_folder_is_refused(tmp_path, source, images, capsys):
    _fails(_adapt(source, images, images / "run"), capsys, "outputs are never inputs", str(images), root=tmp_path)


def test_a_finished_run_is_not_replaced_without_resume_or_overwrite(tmp_path, source, images, capsys):
    out = tmp_path / "out"
    assert main(_adapt(source, images, out)) == 0
    capsys.readouterr()
    _fails(_adapt(source, images, out), capsys, "already holds a training run", "--resume", "--overwrite",
           root=tmp_path)  # fmt: skip
    (out / "training" / "notes.txt").write_text("mine")
    assert main(_adapt(source, images, out, "--overwrite", "--seed", "1")) == 0
    assert (out / "training" / "notes.txt").read_text() == "mine"  # only the run's own files were replaced
    meta = json.loads((out / "training" / "checkpoint" / "state.json").read_text())
    assert meta["config"]["seed"] == 1


# --- divergence ----------------------------------------------------------------------------------------------
# The first step is test_non_finite_weights_at_the_last_step_stop_the_run_and_are_never_saved[1] above.
@pytest.mark.parametrize("steps", [5, 3], ids=["middle", "last"])
def test_divergence_keeps_the_last_finite_checkpoint(tmp_path, steps):
    trainer = _trainer(tmp_path / "run", steps=steps, checkpoint_every=2)

    def poison(step, logs, draw):  # after step 2 (checkpointed), so step 3 meets NaN weights
        if step == 2:
            with torch.no_grad():
                next(trainer.G.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"diverged at step 3: .* last good checkpoint \(step 2\)"):
        trainer.fit([poison])
    from safetensors.torch import load_file

    state = tmp_path / "run" / "checkpoint"
    assert json.loads((state / "state.json").read_text())["step"] == 2
    assert all(torch.isfinite(v).all() for v in load_file(str(state / "state.safetensors")).values()
               if v.is_floating_point())  # fmt: skip


# --- kill and resume ---------------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


# transfer_gan: test_engine.py (two families), bsa: test_methods_round_trip.py, transfer_i2i: test_transfer_i2i.py.
KILLED = {
    "minegan": ({}, {"d_steps": 1, "stage2": True}, 7),  # stopped in stage 2, after its step-2 checkpoint
    "cgan_transfer": ({"num_classes": 3}, {"stage2_steps": 4}, 7),
}


@pytest.mark.parametrize("method", sorted(KILLED))
def test_a_stopped_run_resumes_to_the_same_weights(tmp_path, method):
    source_options, options, stop_after = KILLED[method]
    files = list_image_files(EMOJI)[:8]
    labels = [i % 2 for i in range(8)] if method == "cgan_transfer" else None
    opts = {"steps": 4, "batch_size": 4, "checkpoint_every": 2, "progress": False, **options}

    def run(out: str, **extra):
        source = tiny_pipeline("biggan", **source_options)
        return source.adapt(files, method=method, class_labels=labels, output_dir=str(tmp_path / out), **opts, **extra)

    straight = run("a")
    calls = []

    def stop(step, logs, draw):
        calls.append(step)
        if len(calls) == stop_after:
            raise _Stop

    with pytest.raises(_Stop):
        run("b", callbacks=[stop])
    resumed = run("b", resume=True)
    for part in ("generator", "discriminator"):
        a, b = getattr(straight, part).state_dict(), getattr(resumed, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), part
    a, b = (p.get_adapter(method).state_dict() for p in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_then_resume_gives_the_uninterrupted_weights(tmp_path, source, images):
    """A real SIGKILL of ``gan-transfer adapt`` mid-run, then ``--resume``: weights bit-identical to a straight run."""
    steps = ["--steps", "60", "--set", "checkpoint_every=3", "--set", "sample_every=1000"]
    command = [sys.executable, "-c", "from gan_transfer.cli import main; raise SystemExit(main())",
               *_adapt(source, images, tmp_path / "killed")[:-1], *steps]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    state = tmp_path / "killed" / "training" / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while not state.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert json.loads(state.read_text())["step"] < 60
    assert not (tmp_path / "killed" / "pipeline").exists()
    torch.set_num_threads(1)  # the same float arithmetic as the killed process
    try:
        assert main([*_adapt(source, images, tmp_path / "killed")[:-1], *steps, "--quiet", "--resume"]) == 0
        assert main([*_adapt(source, images, tmp_path / "straight")[:-1], *steps, "--quiet"]) == 0
    finally:
        torch.set_num_threads(os.cpu_count() or 1)
    a, b = (GanPipeline.from_pretrained(tmp_path / name / "pipeline") for name in ("killed", "straight"))
    for part in ("generator", "discriminator"):
        x, y = getattr(a, part).state_dict(), getattr(b, part).state_dict()
        assert all(torch.equal(x[k], y[k]) for k in x), part


# --- names -------------------------------------------------------------------------------------------------------
def test_a_zoo_name_resolves_inside_the_zoo_or_not_at_all(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_pipeline().save_pretrained(tmp_path / "elsewhere")
    name = "gan-transfer/../elsewhere"
    assert not (tmp_path / name).is_dir()  # not a path here: a short name, and not one of the zoo
    with pytest.raises(FileNotFoundError, match=f"is not a zoo name: .* absolute path \\({tmp_path / 'elsewhere'}\\)"):
        GanPipeline.from_pretrained(name)
    assert GanPipeline.from_pretrained(tmp_path / "elsewhere").generator is not None
    (tmp_path / "gan-transfer" / "mine").mkdir(parents=True)  # a local folder of that shape is a local folder
    tiny_pipeline().save_pretrained(tmp_path / "gan-transfer" / "mine" / "pipeline")
    assert GanPipeline.from_pretrained("gan-transfer/mine/pipeline").generator is not None


def test_cli_adapt_reports_the_held_out_verdict(tmp_path, source, images, capsys):
    args = _adapt(source, images, tmp_path / "out", "--steps", "2", "--set", "holdout=0.25", "--set", "eval_every=1",
                  "--set", "eval_samples=8")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main(args) == 0
    out = capsys.readouterr().out
    assert "Held-out slice: KID" in out and "for the source, best" in out
    meta = json.loads((tmp_path / "out" / "training" / "checkpoint" / "state.json").read_text())
    assert meta["config"]["holdout"] == 0.25 and [s for s, _ in meta["selection"]] == [0, 1, 2]
