"""Every registered method adapts through ``pipe.adapt`` and ``gan-transfer adapt``, and what it made survives
``save_pretrained`` → ``from_pretrained`` bit-identically (adapters included); BSA resumes like the engine methods."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from gan_transfer import GanPipeline
from gan_transfer.cli import main
from gan_transfer.data import list_image_files
from gan_transfer.recipes import RECIPE_REGISTRY

from .conftest import seeded, tiny_pipeline

EMOJI = Path(__file__).parent / "data" / "emoji" / "google_a"

# Each method at its smallest honest setting: a few steps on 8 real emoji.
SETTINGS: dict[str, dict] = {
    "transfer_gan": {"source": {}, "options": {"batch_size": 8, "d_steps": 1}},
    "bsa": {"source": {}, "options": {"batch_size": 8, "perceptual_resolution": 32}},
    "minegan": {"source": {}, "options": {"batch_size": 8, "d_steps": 1}},
    "cgan_transfer": {"source": {"num_classes": 3}, "options": {"batch_size": 8}},
    "transfer_i2i": {"translator": True},  # an I2IPipeline: its round trips are in test_transfer_i2i.py
}
ADAPTER_METHODS = {"bsa", "minegan", "cgan_transfer"}
GAN_METHODS = sorted(m for m, s in SETTINGS.items() if not s.get("translator"))


def _inputs(method: str) -> tuple[list[Path], list[int] | None]:
    files = list_image_files(EMOJI)[:8]
    return (files, [i % 2 for i in range(8)]) if method == "cgan_transfer" else (files, None)


def _draw(pipe: GanPipeline) -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    return pipe(num_images=6, generator=seeded(3), output_type="pt").images


def test_every_registered_method_has_a_setting_here():
    assert set(RECIPE_REGISTRY.names()) == set(SETTINGS)
    assert {m for m in SETTINGS if RECIPE_REGISTRY.get(m).translator} == set(SETTINGS) - set(GAN_METHODS)


@pytest.mark.parametrize("method", GAN_METHODS)
def test_adapt_save_load_is_bit_identical(tmp_path, method):
    setting = SETTINGS[method]
    source = tiny_pipeline("biggan", **setting["source"])
    images, labels = _inputs(method)
    tuned = source.adapt(images, method=method, class_labels=labels, steps=2, progress=False, **setting["options"])
    if method in ADAPTER_METHODS:
        assert tuned.list_adapters() == [method] and tuned.active_adapters == [method]
    tuned.save_pretrained(tmp_path / "saved")
    if method in ADAPTER_METHODS:
        assert (tmp_path / "saved" / "adapters" / "0" / "adapter_config.json").is_file()
    loaded = GanPipeline.from_pretrained(tmp_path / "saved")
    assert loaded.list_adapters() == tuned.list_adapters() and loaded.active_adapters == tuned.active_adapters
    assert torch.equal(_draw(loaded), _draw(tuned))
    with loaded.disable_adapters(), tuned.disable_adapters():
        assert torch.equal(_draw(loaded), _draw(tuned))


def test_minegan_stage2_and_multi_source_round_trip(tmp_path):
    images, _ = _inputs("minegan")
    opts = {"steps": 2, "progress": False, "batch_size": 8, "d_steps": 1}
    tuned = tiny_pipeline("resnet").adapt(images, method="minegan", stage2=True, **opts)
    multi = GanPipeline.from_sources([tiny_pipeline("resnet", seed=1), tiny_pipeline("resnet", seed=2)])
    mined = multi.adapt(images, method="minegan", stage2=False, **opts)
    for name, pipe in (("stage2", tuned), ("multi", mined)):
        pipe.save_pretrained(tmp_path / name)
        loaded = GanPipeline.from_pretrained(tmp_path / name)
        assert torch.equal(_draw(loaded), _draw(pipe)), name
    assert GanPipeline.from_pretrained(tmp_path / "multi").selector_probabilities == mined.selector_probabilities


def test_disabled_and_inactive_adapters_stay_so_after_reload(tmp_path):
    images, _ = _inputs("bsa")
    tuned = tiny_pipeline("biggan").adapt(images, method="bsa", steps=1, progress=False, perceptual_resolution=32)
    tuned.disable_adapters()
    tuned.save_pretrained(tmp_path / "off")
    loaded = GanPipeline.from_pretrained(tmp_path / "off")
    assert loaded.list_adapters() == ["bsa"] and loaded.active_adapters == []
    assert torch.equal(_draw(loaded), _draw(tiny_pipeline("biggan")))


def test_saved_adapter_folder_names_are_checked(tmp_path):
    images, _ = _inputs("bsa")
    tuned = tiny_pipeline("biggan").adapt(images, method="bsa", steps=1, progress=False, perceptual_resolution=32)
    tuned.save_pretrained(tmp_path / "p")
    index = (tmp_path / "p" / "model_index.json").read_text()
    (tmp_path / "p" / "model_index.json").write_text(index.replace('"adapters/0"', '"../../elsewhere"'))
    with pytest.raises(ValueError, match="only adapters/<number> is allowed"):
        GanPipeline.from_pretrained(tmp_path / "p")


@pytest.mark.parametrize("method", GAN_METHODS)
def test_cli_adapt_every_method_and_reload(tmp_path, method, capsys):
    """``gan-transfer adapt`` passes resume, output_dir and progress to every method, and its saved pipeline draws
    what the same adapt() call draws in-process (adapter included)."""
    setting = SETTINGS[method]
    source = tiny_pipeline("biggan", **setting["source"])
    source.save_pretrained(tmp_path / "source")
    images, labels = _inputs(method)
    folder = tmp_path / "images"
    for path, label in zip(images, labels or [None] * len(images), strict=True):
        target = folder / (f"class_{label}" if label is not None else "") / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    args = ["adapt", str(tmp_path / "source"), str(folder), "--method", method, "--steps", "2", "--quiet",
            "--output", str(tmp_path / "out")]  # fmt: skip
    args += ["--class-folders"] if labels is not None else []
    for key, value in setting["options"].items():
        args += ["--batch-size", str(value)] if key == "batch_size" else ["--set", f"{key}={value}"]
    assert main(args) == 0, capsys.readouterr().err
    saved = GanPipeline.from_pretrained(tmp_path / "out" / "pipeline")
    files = list_image_files(folder)  # the order the CLI reads them in: class folders sorted by name
    cli_labels = None if labels is None else [int(p.parent.name.removeprefix("class_")) for p in files]
    reference = GanPipeline.from_pretrained(tmp_path / "source").adapt(
        files, method=method, class_labels=cli_labels, steps=2, progress=False, **setting["options"]
    )
    assert saved.list_adapters() == reference.list_adapters()
    assert torch.equal(_draw(saved), _draw(reference))


class _Stop(Exception):
    pass


def test_bsa_resumes_to_the_same_adapter_and_latents(tmp_path):
    images, _ = _inputs("bsa")
    opts = {"steps": 5, "progress": False, "perceptual_resolution": 32, "batch_size": 4, "checkpoint_every": 2,
            "sample_every": 2}  # fmt: skip
    straight = tiny_pipeline("biggan").adapt(images, method="bsa", output_dir=str(tmp_path / "a"), **opts)

    def stop_at_3(step, logs, draw):
        if step == 3:
            raise _Stop

    with pytest.raises(_Stop):
        tiny_pipeline("biggan").adapt(images, method="bsa", output_dir=str(tmp_path / "b"), callbacks=[stop_at_3],
                                      **opts)  # fmt: skip
    resumed = tiny_pipeline("biggan").adapt(images, method="bsa", output_dir=str(tmp_path / "b"), resume=True, **opts)
    a, b = straight.get_adapter("bsa").state_dict(), resumed.get_adapter("bsa").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(straight.training_result.extras["latents"], resumed.training_result.extras["latents"])
    assert [h["loss"] for h in resumed.training_result.history] == [h["loss"] for h in straight.training_result.history]
    assert (tmp_path / "b" / "samples" / "step_000004.png").is_file() and (tmp_path / "b" / "losses.png").is_file()
