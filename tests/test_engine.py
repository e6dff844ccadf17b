"""The training engine and TransferGAN: what changes, what stays, resume, several processes, divergence."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan_transfer import GanPipeline
from gan_transfer.cli import main
from gan_transfer.recipes import TrainingDiverged, augment, get_recipe, make_conditional
from gan_transfer.recipes.losses import gradient_penalty

from .conftest import FAMILIES, seeded, tiny_pipeline

FAST = {"batch_size": 8, "d_steps": 2, "progress": False, "lr_g": 1e-3, "lr_d": 1e-3}


def target(n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=seeded(seed))


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("family", FAMILIES)
def test_transfer_gan_trains_copies_and_leaves_the_source_alone(family):
    pipe = tiny_pipeline(family)
    g0, d0 = state(pipe.generator), state(pipe.discriminator)
    before = pipe(num_images=4, generator=seeded(), output_type="pt").images
    tuned = pipe.adapt(target(), method="transfer_gan", steps=2, **FAST)
    assert tuned is not pipe and tuned.generator is not pipe.generator
    assert same(state(pipe.generator), g0) and same(state(pipe.discriminator), d0)
    assert torch.equal(pipe(num_images=4, generator=seeded(), output_type="pt").images, before)
    changed_g = [k for k, v in tuned.generator.state_dict().items() if not torch.equal(v, g0[k])]
    changed_d = [k for k, v in tuned.discriminator.state_dict().items() if not torch.equal(v, d0[k])]
    assert len(changed_g) > len(g0) // 2 and len(changed_d) > len(d0) // 2
    assert len(tuned.training_result.history) == 2
    assert tuned.card_data["adaptation"]["method"] == "transfer_gan"


def test_adapted_pipeline_saves_and_reloads(tmp_path):
    pipe = tiny_pipeline("biggan")
    pipe.card_data = {"license": "apache-2.0", "credits": "Source trained on test data."}
    tuned = pipe.adapt(target(), steps=1, **FAST)
    tuned.save_pretrained(tmp_path)
    loaded = GanPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    a = tuned(num_images=3, generator=seeded(), output_type="pt").images
    assert torch.equal(loaded(num_images=3, generator=seeded(), output_type="pt").images, a)
    assert loaded.card_data["adaptation"]["betas"] == [0.0, 0.9]
    assert loaded.card_data["license"] == "apache-2.0" and "transfer_gan" in loaded.card_data["tags"]
    assert loaded.card_data["credits"] == "Source trained on test data."


def test_paper_defaults():
    recipe = get_recipe("transfer_gan")
    c = recipe.config
    assert (c.loss, c.gp_weight, c.betas, c.d_steps, c.batch_size) == ("wgan-gp", 10.0, (0.0, 0.9), 5, 64)
    assert c.learning_rate(1000) == 1e-5 and c.learning_rate(1001) == 1e-4
    with pytest.raises(ValueError, match="Unknown option 'stpes' for method 'transfer_gan'"):
        get_recipe("transfer_gan", stpes=3)
    with pytest.raises(ValueError, match="Unknown method 'nope'"):
        get_recipe("nope")


def test_freeze_d_keeps_the_first_blocks():
    pipe = tiny_pipeline()
    blocks = [state(b) for b in pipe.discriminator.blocks]
    tuned = pipe.adapt(target(), steps=2, freeze_d_blocks=2, **FAST)
    after = [state(b) for b in tuned.discriminator.blocks]
    assert same(after[0], blocks[0]) and same(after[1], blocks[1])
    assert not same(after[2], blocks[2])
    assert all(p.requires_grad for p in tuned.discriminator.parameters()), "frozen flags are not left behind"
    with pytest.raises(ValueError, match="has 3 blocks"):
        pipe.adapt(target(), steps=1, freeze_d_blocks=4, **FAST)


def test_reinit_options():
    pipe = tiny_pipeline(seed=5)
    tuned = pipe.adapt(target(), steps=1, reinit_generator=True, seed=0, **FAST)
    torch.manual_seed(0)
    fresh = type(pipe.generator)(pipe.generator.config)  # what re-initialisation with the run's seed draws
    assert not torch.allclose(tuned.generator.stem.weight, pipe.generator.stem.weight, atol=1e-2)
    torch.testing.assert_close(tuned.generator.stem.weight, fresh.stem.weight, rtol=0, atol=3e-3)  # one Adam step
    kept = pipe.adapt(target(), steps=1, reinit_discriminator=True, seed=0, **FAST)
    torch.testing.assert_close(kept.generator.stem.weight, pipe.generator.stem.weight, rtol=0, atol=3e-3)


@pytest.mark.parametrize("family", FAMILIES)
def test_make_conditional_starts_every_class_at_the_source(family):
    g = tiny_pipeline(family).generator.eval()
    cond = make_conditional(g, 4).eval()
    z = torch.randn(3, g.config.z_dim, generator=seeded())
    base = g(z)
    for k in range(4):
        torch.testing.assert_close(cond(z, class_labels=torch.full((3,), k)), base, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="already class-conditional"):
        make_conditional(cond, 2)


def test_unconditional_to_conditional_transfer():
    pipe = tiny_pipeline()
    labels = torch.arange(16) % 3
    tuned = pipe.adapt(target(), class_labels=labels, steps=2, **FAST)
    assert tuned.generator.config.num_classes == 3 and tuned.discriminator.has_classifier
    out = tuned(num_images=3, class_labels=[0, 1, 2], generator=seeded(), output_type="pt")
    assert out.images.shape == (3, 3, 32, 32)
    assert "d_aux" in tuned.training_result.history[-1]
    with pytest.raises(ValueError, match="one per image"):
        pipe.adapt(target(), class_labels=[0, 1], steps=1, **FAST)
    with pytest.raises(ValueError, match="pass class_labels"):
        tiny_pipeline("biggan", num_classes=3).adapt(target(), steps=1, **FAST)


def test_source_without_discriminator_gets_one_with_a_warning():
    pipe = tiny_pipeline()
    pipe.discriminator = None
    with pytest.warns(UserWarning, match="no discriminator"):
        tuned = pipe.adapt(target(), steps=1, **FAST)
    assert type(tuned.discriminator).__name__ == "ResNetDiscriminator"


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("family", "options"),
    [("resnet", {"loss": "wgan-gp"}), ("biggan", {"loss": "hinge", "diffaugment": "color,translation,cutout"})],
)
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, family, options):
    opts = {**FAST, **options, "ema_decay": 0.9, "checkpoint_every": 2, "sample_every": 2}
    straight = tiny_pipeline(family).adapt(target(), steps=5, output_dir=str(tmp_path / "a"), **opts)

    def stop_at_3(step, logs, draw):
        if step == 3:
            raise _Stop

    with pytest.raises(_Stop):
        tiny_pipeline(family).adapt(target(), steps=5, output_dir=str(tmp_path / "b"), callbacks=[stop_at_3], **opts)
    meta = json.loads((tmp_path / "b/checkpoint/state.json").read_text())
    assert meta["step"] == 2
    resumed = tiny_pipeline(family).adapt(target(), steps=5, output_dir=str(tmp_path / "b"), resume=True, **opts)
    assert same(state(resumed.generator), state(straight.generator))
    assert same(state(resumed.discriminator), state(straight.discriminator))
    assert [h["g_loss"] for h in resumed.training_result.history] == [
        h["g_loss"] for h in straight.training_result.history
    ]
    assert (tmp_path / "b/samples/step_000004.png").is_file() and (tmp_path / "b/losses.png").is_file()
    assert not list((tmp_path / "b").glob(".checkpoint*")), "temporary checkpoint folders left behind"


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step, logs, draw):
        if step == 3:
            with torch.no_grad():
                for p in trainer_generator.parameters():
                    p.fill_(float("nan"))

    pipe = tiny_pipeline()
    trainer_generator = None
    original = type(pipe.generator).__call__

    def capture(self, *args, **kwargs):  # find the training copy of G
        nonlocal trainer_generator
        trainer_generator = self
        return original(self, *args, **kwargs)

    type(pipe.generator).__call__ = capture
    try:
        with pytest.raises(
            TrainingDiverged,
            match=r"diverged at step 4: the \w+ loss is nan\. The last good checkpoint "
            r"\(step 2\) is in .*resume=True",
        ):
            pipe.adapt(target(), steps=6, output_dir=str(tmp_path), checkpoint_every=2, callbacks=[poison], **FAST)
    finally:
        type(pipe.generator).__call__ = original
    meta = json.loads((tmp_path / "checkpoint/state.json").read_text())
    assert meta["step"] == 2
    weights = load_file(str(tmp_path / "checkpoint/state.safetensors"))
    assert all(torch.isfinite(v).all() for k, v in weights.items() if v.is_floating_point())


def _one_and_two_processes(tmp_path: Path, *args: str) -> tuple[dict, dict]:
    """tests/scripts/train_tiny.py run in 1 process and under torchrun in 2 (gloo); the tensors each saved."""
    script = Path(__file__).parent / "scripts" / "train_tiny.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {
        "one": [sys.executable, str(script)],
        "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script)],
    }
    for name, command in runs.items():
        done = subprocess.run(
            [*command, str(tmp_path / name), *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return load_file(str(tmp_path / "one")), load_file(str(tmp_path / "two"))


@pytest.mark.parametrize("family", FAMILIES)
def test_two_processes_match_one_process(tmp_path, family):
    """torchrun with 2 CPU processes (gloo) against 1 process, same global batch: weights agree to float noise."""
    a, b = _one_and_two_processes(tmp_path, family)
    assert a.keys() == b.keys()
    start = tiny_pipeline(family).generator.state_dict()
    changed = [k for k, v in start.items() if v.is_floating_point() and not torch.equal(a[f"G.{k}"], v)]
    assert len(changed) > len(start) // 2, "training changed the weights"
    # Float32 rounding differs between the runs (as it does between two thread counts in one process), and Adam
    # turns it into full ±lr steps where a gradient is near zero: on this CPU 0.3 % of the values differ by more
    # than 1e-4 between OMP_NUM_THREADS=1 and 2 in ONE process. A process that did not average its gradients with
    # the other differs in ~90 % of them (measured with the half batch); so bound the share, and the size.
    values = [k for k in a if a[k].is_floating_point()]
    off = sum(int(((b[k] - a[k]).abs() > 1e-4).sum()) for k in values)
    assert off / sum(a[k].numel() for k in values) < 0.02
    for k in values:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-2, msg=k)


def test_two_processes_share_the_held_out_scoring(tmp_path):
    """With holdout, each of 2 processes draws and embeds its share of the 7 fixed latents (4 + 3) and the shares
    are gathered: the scores equal one process's, which draws all 7."""
    a, b = _one_and_two_processes(tmp_path, "resnet", "holdout")
    assert a["scores"].shape == (4, 2) and torch.equal(a["scores"][:, 0], torch.arange(4.0))  # steps 0, 1, 2, 3
    assert a["scores"][:, 1].unique().numel() == 4  # training moved the score at every step
    torch.testing.assert_close(b["scores"], a["scores"], rtol=0, atol=1e-3)
    drawn = {name: (tmp_path / name).parent.glob(f"{name}.drawn*") for name in ("one", "two")}
    drawn = {name: sorted(int(f.read_text()) for f in files) for name, files in drawn.items()}
    assert drawn == {"one": [4 * 7], "two": [4 * 3, 4 * 4]}  # 4 scorings: 7 images, or 4 + 3


def test_diffaugment_is_sliceable_and_shape_preserving():
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    params = augment.sample_params("color,translation,cutout", 6, seeded())
    whole = augment.apply(x, params)
    parts = [augment.apply(x[i : i + 3], {k: v[i : i + 3] for k, v in params.items()}) for i in (0, 3)]
    assert torch.equal(whole, torch.cat(parts)) and whole.shape == x.shape
    shift = augment.apply(x, {"translation": torch.tensor([[0.99, 0.5]] * 6)})  # +2 rows, 0 columns
    assert torch.equal(shift[:, :, 2:], x[:, :, :-2]) and (shift[:, :, :2] == 0).all()
    cut = augment.apply(torch.ones(6, 3, 16, 16), {"cutout": torch.rand(6, 2, generator=seeded())})
    holes = (cut == 0).flatten(1).sum(1)  # a half-size square, clipped at the border as in the reference code
    assert ((holes <= 3 * 8 * 8) & (holes >= 3 * 4 * 4)).all() and (holes == 3 * 8 * 8).any()
    with pytest.raises(ValueError, match="Unknown DiffAugment policy 'flip'"):
        augment.parse_policy("color,flip")


def test_gradient_penalty_matches_the_formula():
    w = torch.randn(3, 4, 4, generator=seeded())
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731  ∇ = w for every input
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, torch.rand(5))
    torch.testing.assert_close(gp, (w.norm() - 1) ** 2)


def test_cli_adapt_and_resume(tmp_path, capsys):
    tiny_pipeline().save_pretrained(tmp_path / "src")
    folder = tmp_path / "imgs"
    folder.mkdir()
    from gan_transfer.rendering import save_image, to_pil

    for i, img in enumerate(to_pil(target(10) * 2 - 1)):
        save_image(img, folder / f"{i}.png")
    args = [
        "adapt",
        str(tmp_path / "src"),
        str(folder),
        "--steps",
        "2",
        "--output",
        str(tmp_path / "run"),
        "--batch-size",
        "4",
        "--set",
        "d_steps=1",
        "--set",
        "checkpoint_every=1",
        "--quiet",
    ]
    assert main(args) == 0
    assert (tmp_path / "run/pipeline/model_index.json").is_file()
    assert (tmp_path / "run/training/checkpoint/state.json").is_file()
    assert main([*args[:3], "--steps", "3", *args[5:], "--resume"]) == 0
    meta = json.loads((tmp_path / "run/training/checkpoint/state.json").read_text())
    assert meta["step"] == 3
    assert main([*args, "--set", "nonsense=1"]) == 2
    assert "Unknown option 'nonsense'" in capsys.readouterr().err


def test_precision_can_change_between_runs_in_one_process():
    """Accelerate keeps one global state per process; a notebook may still train in bf16, then in fp32."""
    pipe = tiny_pipeline()
    half = pipe.adapt(target(), steps=1, mixed_precision="bf16", **FAST)
    full = pipe.adapt(target(), steps=1, **FAST)
    assert half.generator.dtype == full.generator.dtype == torch.float32
    assert not same(state(half.generator), state(full.generator))


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("transfer_gan", {**FAST, "ema_decay": 0.9}),
        ("bsa", {"progress": False, "perceptual_resolution": 32}),
        ("minegan", {**FAST, "stage2_steps": 2}),
    ],
)
def test_callbacks_draw_what_the_adapted_pipeline_draws(method, options):
    pipe = tiny_pipeline("biggan")
    z = torch.randn(4, pipe.generator.config.z_dim, generator=seeded(3))
    seen: list[torch.Tensor] = []
    tuned = pipe.adapt(target(8), method=method, steps=3, callbacks=[lambda step, logs, draw: seen.append(draw(z))],
                       **options)  # fmt: skip
    assert len(seen) == (5 if method == "minegan" else 3)
    final = tuned(latents=z, output_type="pt").images
    torch.testing.assert_close((seen[-1] + 1) / 2, final, atol=1e-5, rtol=0)
    assert not torch.allclose(seen[0], seen[-1])  # the draws follow training


def test_critic_warmup_trains_only_the_critic_first():
    """critic_warmup=N runs N discriminator steps against the frozen source before step 1: with steps=1 the
    generator sees one update either way, the critic N more; the source pipeline is untouched."""
    from gan_transfer.recipes import GanTrainer, GeneratorSide, TrainConfig

    pipe = tiny_pipeline("resnet")
    g0 = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    config = TrainConfig(steps=1, loss="hinge", ema_decay=None, critic_warmup=3, **FAST)
    side = GeneratorSide(copy.deepcopy(pipe.generator))
    d = copy.deepcopy(pipe.discriminator)
    trainer = GanTrainer(config, side, d, target() * 2 - 1, z_dim=pipe.generator.config.z_dim)
    calls = []
    original = trainer._d_step
    trainer._d_step = lambda: calls.append(trainer.step) or original()
    trainer.fit()
    assert calls == [0, 0, 0, 0, 0], "3 warm-up steps, then d_steps=2 in step 1, all before the first G step"
    assert all(torch.equal(v, pipe.generator.state_dict()[k]) for k, v in g0.items())
    with pytest.raises(ValueError, match="critic_warmup=-1"):
        TrainConfig(critic_warmup=-1)


# --- a held-out slice picks the best step ------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "options"), [("transfer_gan", {}), ("bsa", {"perceptual_resolution": 32})])
def test_holdout_hands_back_the_best_scoring_step(method, options):
    """With ``holdout``, every evaluation scores KID on the slice; the pipeline handed back draws exactly what the
    model drew at the best step (step 0 = the source itself, with a warning)."""
    z = torch.randn(4, 32, generator=seeded(7))
    drawn = {}

    def record(step, logs, draw):
        drawn[step] = draw(z).float()

    source = tiny_pipeline("biggan")
    opts = {**FAST, **options, "holdout": 0.25, "eval_every": 1, "eval_samples": 16, "steps": 4}
    if method == "bsa":
        opts = {k: v for k, v in opts.items() if k not in ("d_steps", "lr_d")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuned = source.adapt(target(), method=method, callbacks=[record], **opts)
    selection = tuned.training_result.extras["selection"]
    assert [s for s, _ in selection["scores"]] == [0, 1, 2, 3, 4]
    best = selection["best_step"]
    assert selection["best_kid"] == min(v for _, v in selection["scores"])
    expected = source(latents=z, output_type="pt").images if best == 0 else (drawn[best] + 1) / 2
    torch.testing.assert_close(tuned(latents=z, output_type="pt").images, expected.clamp(0, 1), atol=1e-6, rtol=0)
    said = [str(w.message) for w in caught if "No step beat the starting model" in str(w.message)]
    assert bool(said) == (best == 0) and selection["beat_source"] == (best != 0)
    assert tuned.training_result.history[0]["step"] == 1  # 12 of 16 images trained: the slice was held out
    assert get_recipe(method, **opts).config.holdout == 0.25


def test_bsa_held_out_step_0_is_the_source_as_its_pipeline_draws_it():
    """BSA's adapter truncates z, so its own draws at step 0 are not the source's. Held-out step 0 scores the source
    itself; on a target the source drew, no BSA step beats it, and the source comes back with no adapter."""
    source = tiny_pipeline("biggan")
    own = source(num_images=48, generator=seeded(3), output_type="pt").images
    opts = {"holdout": 0.25, "eval_every": 1, "eval_samples": 48, "steps": 2, "batch_size": 8, "progress": False,
            "perceptual_resolution": 32}  # fmt: skip
    with pytest.warns(UserWarning, match="No step beat the starting model"):
        tuned = source.adapt(own, method="bsa", **opts)
    chosen = tuned.training_result.extras["selection"]
    assert chosen["best_step"] == 0 and not chosen["beat_source"]
    assert not tuned.active_adapters
    z = torch.randn(4, 32, generator=seeded(7))
    assert torch.equal(tuned(latents=z, output_type="pt").images, source(latents=z, output_type="pt").images)


def test_holdout_is_checked_and_checkpointed(tmp_path):
    with pytest.raises(ValueError, match=r"holdout=0.5 of 3 images holds out 2 and trains on 1; .* at least 2"):
        tiny_pipeline().adapt(target(3), holdout=0.5, steps=1, **FAST)
    recipe = get_recipe("transfer_gan", holdout=0.25)
    labels = torch.tensor([0] * 8 + [1] * 2 + [2] * 6)  # every class keeps training images; the slice is stratified
    x, y, held = recipe._hold_out(target(), labels)
    assert sorted(y.unique().tolist()) == [0, 1, 2] and len(held) == 2 + 0 + 2 and len(x) == 12
    with pytest.raises(ValueError, match=r"Option holdout=0.9 is out of range; use a value in \[0, 0.5\]"):
        get_recipe("transfer_gan", holdout=0.9)
    tiny_pipeline().adapt(target(), holdout=0.25, eval_every=1, eval_samples=8, steps=2, checkpoint_every=1,
                          output_dir=str(tmp_path), **FAST)  # fmt: skip
    meta = json.loads((tmp_path / "checkpoint/state.json").read_text())
    assert [s for s, _ in meta["selection"]] == [0, 1, 2]
    assert any(k.startswith("best.") for k in load_file(str(tmp_path / "checkpoint/state.safetensors")))


def test_holdout_across_stages_is_judged_against_the_source():
    opts = {**FAST, "holdout": 0.25, "eval_every": 1, "eval_samples": 8, "steps": 2, "stage2": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        tuned = tiny_pipeline("biggan").adapt(target(), method="minegan", **opts)
    chosen = tuned.training_result.extras["selection"]
    assert len(chosen["stages"]) == 2 and chosen["source_kid"] == chosen["stages"][0]["scores"][0][1]
    assert chosen["beat_source"] == (chosen["best_kid"] < chosen["source_kid"])
    assert chosen["stages"][1]["scores"][0][1] == min(v for _, v in chosen["stages"][0]["scores"])  # starts at best


def test_a_stopped_holdout_run_resumes_to_the_same_choice(tmp_path):
    opts = {**FAST, "holdout": 0.25, "eval_every": 1, "eval_samples": 8, "steps": 4, "checkpoint_every": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        straight = tiny_pipeline().adapt(target(), output_dir=str(tmp_path / "a"), **opts)

        def stop(step, logs, draw):
            if step == 3:
                raise _Stop

        with pytest.raises(_Stop):
            tiny_pipeline().adapt(target(), output_dir=str(tmp_path / "b"), callbacks=[stop], **opts)
        resumed = tiny_pipeline().adapt(target(), output_dir=str(tmp_path / "b"), resume=True, **opts)
    a, b = (p.training_result.extras["selection"] for p in (straight, resumed))
    assert a["scores"] == b["scores"] and a["best_step"] == b["best_step"]
    assert same(state(straight.generator), state(resumed.generator))
    assert same(state(straight.discriminator), state(resumed.discriminator))
