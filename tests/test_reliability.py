"""A user's bad day in the training engine: divergence at the last step, resuming with changed or forbidden options."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_transfer.cli import main
from gan_transfer.recipes import GanTrainer, GeneratorSide, TrainConfig, TrainingDiverged

from .conftest import tiny_pipeline

EMOJI = Path(__file__).parent / "data" / "emoji" / "google_a"
IMAGES = torch.rand(8, 3, 32, 32) * 2 - 1


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
