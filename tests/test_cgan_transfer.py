"""cGANTransfer: old classes untouched, frozen kernels, small adapters, collapse, and the L1 pull on the scores."""

from __future__ import annotations

import pytest
import torch

from gan_transfer.adapters import ClassPropagationAdapter
from gan_transfer.recipes import get_recipe

from .conftest import FAMILIES, seeded, tiny_pipeline

FAST = {"steps": 3, "batch_size": 8, "progress": False}


def target(n: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=seeded(0))


@pytest.mark.parametrize("family", FAMILIES)
def test_old_classes_and_kernels_stay_bit_identical(family):
    pipe = tiny_pipeline(family, num_classes=3)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    old = pipe(num_images=6, class_labels=[0, 1, 2, 2, 1, 0], generator=seeded(), output_type="pt").images
    tuned = pipe.adapt(target(), method="cgan_transfer", class_labels=[0, 1] * 6, **FAST)
    assert all(torch.equal(before[k], v) for k, v in pipe.generator.state_dict().items())
    mixed = tuned(num_images=6, class_labels=[0, 1, 2, 3, 4, 0], generator=seeded(), output_type="pt").images
    assert torch.equal(mixed[[0, 1, 2, 5]], old[[0, 1, 2, 5]]), "an old class changed"
    assert not torch.allclose(mixed[3], mixed[4]), "the two new classes differ"
    drawn = tuned(num_images=40, generator=seeded(), output_type="pt").class_labels
    assert drawn.max().item() == 4, "random labels cover the new classes too"
    with pytest.raises(ValueError, match=r"0\.\.4"):
        tuned(num_images=1, class_labels=5)


@pytest.mark.parametrize("family", FAMILIES)
def test_collapse_gives_the_training_time_images_and_is_small(family, tmp_path):
    pipe = tiny_pipeline(family, num_classes=3)
    training = ClassPropagationAdapter.for_training(pipe.generator, 2)
    with torch.no_grad():
        for p in training.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=seeded(1)))
    pipe.add_adapter(training, "training")
    expected = pipe(num_images=4, class_labels=[3, 4, 3, 1], generator=seeded(), output_type="pt").images
    pipe.add_adapter(training.collapse(), "collapsed")
    torch.testing.assert_close(pipe(num_images=4, class_labels=[3, 4, 3, 1], generator=seeded(),
                                    output_type="pt").images, expected, rtol=0, atol=1e-6)  # fmt: skip
    pipe.save_adapter(tmp_path / "a", "collapsed")
    fresh = tiny_pipeline(family, num_classes=3)
    fresh.load_adapter(tmp_path / "a")
    torch.testing.assert_close(fresh(num_images=4, class_labels=[3, 4, 3, 1], generator=seeded(),
                                     output_type="pt").images, expected, rtol=0, atol=1e-6)  # fmt: skip
    # linear growth, ≤ 0.5 % of the generator per new class at real widths
    g_cls = FAMILIES[family][0]
    for width in (32, 64):
        g = g_cls(resolution=32, width=width, num_classes=8)
        per_class = sum(t.numel() for t in ClassPropagationAdapter.for_training(g, 1).collapse().state_dict().values())
        two = sum(t.numel() for t in ClassPropagationAdapter.for_training(g, 2).collapse().state_dict().values())
        assert two == 2 * per_class and per_class <= 0.005 * g.num_parameters()


def test_l1_pulls_scores_toward_zero():
    def scores_after(weight: float) -> float:
        pipe = tiny_pipeline("biggan", num_classes=3)
        tuned = pipe.adapt(target(), method="cgan_transfer", class_labels=[0] * 12, steps=15, batch_size=8,
                           progress=False, score_weight=weight, lr_g=1e-2)  # fmt: skip
        propagation = tuned.training_result.extras["propagation"]
        return torch.stack([s.abs().mean() for s in propagation.scores.values()]).mean().item()

    assert scores_after(5.0) < scores_after(0.0)


def test_errors():
    with pytest.raises(ValueError, match="unconditional"):
        tiny_pipeline("resnet").adapt(target(), method="cgan_transfer", class_labels=[0] * 12, **FAST)
    with pytest.raises(ValueError, match="needs class_labels"):
        tiny_pipeline("resnet", num_classes=3).adapt(target(), method="cgan_transfer", **FAST)
    with pytest.raises(ValueError, match="3-class generator"):
        tiny_pipeline("resnet", num_classes=4).add_adapter(
            ClassPropagationAdapter.for_training(tiny_pipeline("resnet", num_classes=3).generator, 1)
        )
    assert get_recipe("cgan_transfer").config.loss == "hinge"


def test_optional_second_stage_fine_tunes_the_generator():
    pipe = tiny_pipeline("resnet", num_classes=3)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    tuned = pipe.adapt(target(), method="cgan_transfer", class_labels=[0, 1] * 6, stage2_steps=2, **FAST)
    assert tuned.generator is not pipe.generator
    assert all(torch.equal(before[k], v) for k, v in pipe.generator.state_dict().items()), "the source is untouched"
    changed = [k for k, v in tuned.generator.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and len(tuned.training_result.history) == 5
    assert tuned(num_images=2, class_labels=[3, 4], generator=seeded(), output_type="pt").images.shape == (2, 3, 32, 32)


def test_independent_learning_baseline_moves_only_the_residuals():
    pipe = tiny_pipeline("biggan", num_classes=3)
    start = ClassPropagationAdapter.for_training(pipe.generator, 1)
    tuned = pipe.adapt(target(), method="cgan_transfer", class_labels=[0] * 12, propagate=False, lr_g=1e-2, **FAST)
    trained = tuned.training_result.extras["propagation"]
    for key in start.scores:
        assert torch.equal(trained.scores[key], start.scores[key])
        assert torch.equal(trained.pseudo[key], start.pseudo[key])
        assert trained.residuals[key].abs().sum() > 0
    assert tuned.card_data["adaptation"]["propagate"] is False


def test_fine_tune_baseline_trains_generator_and_new_classes_together():
    pipe = tiny_pipeline("biggan", num_classes=3)
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    old = pipe(num_images=2, class_labels=[0, 1], generator=seeded(), output_type="pt").images
    tuned = pipe.adapt(target(), method="cgan_transfer", class_labels=[0] * 12, propagate=False,
                       fine_tune_generator=True, **FAST)  # fmt: skip
    assert all(torch.equal(before[k], v) for k, v in pipe.generator.state_dict().items()), "the source is untouched"
    assert any(not torch.equal(v, before[k]) for k, v in tuned.generator.state_dict().items())
    after = tuned(num_images=2, class_labels=[0, 1], generator=seeded(), output_type="pt").images
    assert not torch.allclose(after, old), "old classes change when the generator is fine-tuned"
    trained = tuned.training_result.extras["propagation"]
    assert all(r.abs().sum() > 0 for r in trained.residuals.values())
    assert tuned(num_images=1, class_labels=3, output_type="pt").images.shape == (1, 3, 32, 32)
