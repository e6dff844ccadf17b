"""Presets and ``method="auto"``: named option sets under the caller's options, and the rule that picks a method."""

from __future__ import annotations

import json

import pytest
import torch

from gan_transfer import GanPipeline
from gan_transfer.cli import main
from gan_transfer.recipes import RECIPE_REGISTRY, get_recipe
from gan_transfer.recipes.auto import HOLDOUT_FROM, NEAR_KID, choose_method
from gan_transfer.recipes.transfer_gan import FEW_SHOT_LIMIT

from .conftest import tiny_pipeline

FAST = {"batch_size": 8, "d_steps": 1, "progress": False, "steps": 2, "eval_samples": 8}


# --- presets ----------------------------------------------------------------------------------------------------
def test_a_preset_sets_its_values_and_the_callers_options_win():
    c = get_recipe("transfer_gan", preset="few-shot").config
    assert (c.lr_g, c.lr_d, c.steps, c.batch_size, c.preset) == (1e-5, 1e-5, 200, 16, "few-shot")
    c = get_recipe("transfer_gan", preset="few-shot", steps=7, lr_g="3e-4").config
    assert (c.steps, c.lr_g, c.lr_d) == (7, 3e-4, 1e-5)
    assert get_recipe("minegan", preset="on-manifold").config.stage2 is False
    off = get_recipe("minegan", preset="off-manifold").config
    assert (off.stage2, off.steps, off.stage2_steps) == (True, 200, 200)
    assert get_recipe("transfer_gan").config.preset is None  # no preset: the paper's defaults, unchanged
    assert get_recipe("transfer_gan").config.steps == 2000


def test_every_preset_builds_a_valid_config():
    """Each method's presets name only its own options, with values its checks accept."""
    for name in RECIPE_REGISTRY.names():
        config_class = RECIPE_REGISTRY.get(name).config_class
        for preset in config_class.PRESETS:
            assert get_recipe(name, preset=preset).config.preset == preset


def test_an_unknown_preset_is_named_with_the_methods_presets():
    with pytest.raises(ValueError, match=r"Unknown preset 'fast' for method 'minegan'; its presets: on-manifold, "
                                         r"off-manifold\."):  # fmt: skip
        get_recipe("minegan", preset="fast")
    with pytest.raises(ValueError, match=r"Unknown preset 'x' for method 'transfer_i2i'; its presets: none\."):
        get_recipe("transfer_i2i", preset="x")


# --- the rule ----------------------------------------------------------------------------------------------------
FACTS = {"labelled": False, "conditional": False, "has_discriminator": True}


@pytest.mark.parametrize(
    ("facts", "method", "preset"),
    [
        ({"labelled": True, "conditional": True}, "cgan_transfer", "few-shot"),
        ({"labelled": True}, "transfer_gan", "few-shot"),
        ({"multi_source": True}, "minegan", "on-manifold"),
        ({"kid": NEAR_KID / 2}, "minegan", "on-manifold"),
        ({"kid": NEAR_KID}, "minegan", "off-manifold"),
        ({"kid": 0.5, "has_discriminator": False}, "transfer_gan", "few-shot"),
        ({"kid": 0.5, "has_discriminator": False, "conditional": True}, "minegan", "off-manifold"),
    ],
)
def test_the_rule_picks_a_method_and_preset_by_the_facts(facts, method, preset):
    choice = choose_method(25, **{**FACTS, **facts})
    assert (choice.method, choice.options["preset"]) == (method, preset)
    assert choice.options["holdout"] == 0.2 and choice.reason
    get_recipe(choice.method, **choice.options)  # what it chose is a valid configuration


def test_the_rule_holds_out_only_with_enough_images_and_leaves_large_sets_to_the_paper():
    assert "holdout" not in choose_method(HOLDOUT_FROM - 1, **FACTS, kid=0.1).options
    assert choose_method(HOLDOUT_FROM, **FACTS, kid=0.1).options["holdout"] == 0.2
    large = choose_method(FEW_SHOT_LIMIT + 1, **FACTS)  # no distance needed
    assert large.method == "transfer_gan" and "preset" not in large.options
    with pytest.raises(ValueError, match="needs kid"):
        choose_method(25, **FACTS)


# --- through the pipeline and the CLI ----------------------------------------------------------------------------
def test_auto_measures_the_distance_and_trains_what_it_chose(tmp_path):
    """The source's own samples are as near as a target gets: auto mines (MineGAN, on-manifold), records why on
    the card, and keeps the caller's options over the preset's."""
    source = tiny_pipeline()
    with torch.no_grad():
        own = source(num_images=24, generator=torch.Generator().manual_seed(3), output_type="pt").images
    choice = source.choose_method(own)
    assert choice.kid < NEAR_KID and choice.method == "minegan"
    tuned = source.adapt(own, method="auto", **FAST)
    chosen = tuned.card_data["adaptation"]["auto"]
    assert chosen["method"] == "minegan" and chosen["options"] == {"preset": "on-manifold", "holdout": 0.2}
    assert tuned.card_data["adaptation"]["method"] == "minegan"
    assert tuned.card_data["adaptation"]["steps"] == 2  # the caller's, not the preset's 200
    assert "selection" in tuned.training_result.extras  # held out a fifth and kept the best step
    tuned.save_pretrained(tmp_path / "p")
    card = (tmp_path / "p" / "README.md").read_text()
    assert 'Method `minegan`, 19 training images — chosen by `method="auto"`: the target is near the source' in card
    reloaded = GanPipeline.from_pretrained(tmp_path / "p")
    assert reloaded.card_data["adaptation"]["auto"]["kid"] == pytest.approx(choice.kid)


def test_auto_names_its_choice_when_an_option_does_not_fit_it():
    source = tiny_pipeline()
    with torch.no_grad():
        own = source(num_images=6, generator=torch.Generator().manual_seed(3), output_type="pt").images
    with pytest.raises(ValueError, match=r"method='auto' chose 'minegan' \(the target is near .*\); Unknown option "
                                         r"'reinit_generator'"):  # fmt: skip
        source.adapt(own, method="auto", reinit_generator=True, **FAST)


def test_cli_adapt_auto_says_what_it_chose(tmp_path, capsys):
    source = tiny_pipeline()
    source.save_pretrained(tmp_path / "src")
    folder = tmp_path / "images"
    folder.mkdir()
    with torch.no_grad():
        for i, image in enumerate(source(num_images=6, generator=torch.Generator().manual_seed(3)).images):
            image.save(folder / f"{i}.png")
    code = main(["adapt", str(tmp_path / "src"), str(folder), "--method", "auto", "--steps", "2", "--batch-size", "4",
                 "--output", str(tmp_path / "out"), "--quiet", "--set", "eval_samples=8"])  # fmt: skip
    assert code == 0
    said = capsys.readouterr().out
    assert "method 'auto' chose minegan (preset on-manifold): the target is near the source (KID" in said
    card = json.loads((tmp_path / "out" / "pipeline" / "adapters" / "0" / "adapter_config.json").read_text())
    assert card["hyperparameters"]["auto"]["method"] == "minegan"


def test_auto_needs_two_images_to_measure_the_distance():
    one = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"Got 1 images from .*, but method 'auto' \(it compares them with the "
                                         r"source's samples\) needs at least 2; add more images\."):  # fmt: skip
        tiny_pipeline().adapt(one, method="auto", **FAST)
