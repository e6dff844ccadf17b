"""Model cards: rendered from the model_cards templates by ModelCard.from_template, read back by ModelCard.load.

Source GAN, adapted pipeline and adapter cards on tiny real models: YAML front matter (library, base model and its
relation, tags, datasets, licence, model-index with honestly named scores), a sample grid beside the card, code that
loads the model in three lines (run here), and the licences and credits of data and weights in every derived card.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import PIL.Image
import pytest
import torch
from huggingface_hub import ModelCard

from gan_transfer import GanPipeline, I2IPipeline, zoo
from gan_transfer.data import list_image_files
from gan_transfer.hub import (
    CARD_TEMPLATES,
    SAMPLES_NAME,
    TEMPLATES_DIR,
    card_results,
    metric_label,
    read_card_data,
)
from gan_transfer.recipes.transfer_i2i import find_taps, make_adaptor

from .conftest import ChannelAffineAdapter, seeded, tiny_pipeline

ROOT = Path(__file__).parents[1]
EMOJI = list_image_files(Path(__file__).parent / "data" / "emoji" / "google_a")[:8]
SOURCE_CARD = {
    "license": "apache-2.0",
    "credits": "Trained on Noto Emoji images, © Google, Apache License 2.0.",
    "datasets": ["npm package emoji-datasource-google@16.0.0"],
    "tags": ["source-gan", "biggan"],
    "gan_transfer": {
        "data": "emoji-google", "train_images": 40, "test_images": 10, "steps": 3, "wall_clock_hours": 0.01,
        "recipe": {"family": "biggan", "width": 8, "loss": "hinge"},
        "metrics": {"FD (EfficientNet-Lite0)": 108.7, "KID (EfficientNet-Lite0)": 0.048,
                    "KID std (EfficientNet-Lite0)": 0.003},
    },
}  # fmt: skip


def card(folder: Path) -> ModelCard:
    """The folder's card as huggingface_hub reads it (never validated: that would call the Hub)."""
    return ModelCard.load(folder / "README.md")


def usage(folder: Path) -> str:
    return re.search(r"## How to use\n\n```python\n(.*?)```", (folder / "README.md").read_text(), re.S).group(1)


def draw(pipe, n: int = 4) -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    return pipe(num_images=n, generator=seeded(5), output_type="pt").images


def source_pipeline(tmp_path: Path) -> GanPipeline:
    pipe = tiny_pipeline("biggan")
    pipe.card_data = {**SOURCE_CARD}
    pipe.save_pretrained(tmp_path / "source")
    return GanPipeline.from_pretrained(tmp_path / "source")


def test_templates_ship_with_the_package_and_are_documented():
    assert sorted(p.stem for p in TEMPLATES_DIR.glob("*.md")) == sorted(CARD_TEMPLATES)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"gan_transfer" = ["model_cards/*.md"]' in pyproject and '"*/samples.png"' in pyproject
    doc = (ROOT / "model_cards" / "README.md").read_text()
    assert all(f"{name}.md" in doc for name in CARD_TEMPLATES)
    assert not list((ROOT / "model_cards").glob("*/*.md")) and len(list((ROOT / "model_cards").iterdir())) == 1


def test_source_card(tmp_path):
    pipe = source_pipeline(tmp_path)
    rng = torch.get_rng_state()
    pipe.save_pretrained(tmp_path / "p", repo_id=str(tmp_path / "p"))  # the code then loads this very folder
    assert torch.equal(torch.get_rng_state(), rng), "drawing the sample grid must leave the global RNG alone"
    c = card(tmp_path / "p")
    data = c.data.to_dict()
    assert data["library_name"] == "gan_transfer" and data["license"] == "apache-2.0"
    assert data["pipeline_tag"] == "unconditional-image-generation"
    assert "base_model" not in data and "base_model_relation" not in data
    assert data["datasets"] == SOURCE_CARD["datasets"] and {"source-gan", "gan", "gan_transfer"} <= set(data["tags"])
    results = {r.metric_name: r.metric_value for r in c.data.eval_results}
    assert results == {"FD (EfficientNet-Lite0)": 108.7, "KID (EfficientNet-Lite0)": 0.048}  # std: not a result
    assert {r.dataset_type for r in c.data.eval_results} == {"emoji-google"}
    assert "FID" not in c.content and "0.048 ± 0.003" in c.text and "3 generator steps" in c.text
    assert "![samples](samples.png)" in c.text
    grid = PIL.Image.open(tmp_path / "p" / SAMPLES_NAME)
    assert grid.size == (8 * 32, 32)
    expected = pipe(num_images=8, generator=seeded(0), output_type="pil").images
    assert [grid.crop((32 * i, 0, 32 * i + 32, 32)).tobytes() for i in range(8)] == [e.tobytes() for e in expected]
    code = usage(tmp_path / "p")
    assert len(code.strip().splitlines()) == 3
    scope: dict = {}
    exec(code, scope)  # the card's own three lines load the model and draw from it
    assert len(scope["images"]) == 8 and scope["images"][0].size == (32, 32)
    credits = "Trained on Noto Emoji images, © Google, Apache License 2.0."
    for readme in ("README.md", "generator/README.md", "discriminator/README.md"):
        assert read_card_data((tmp_path / "p" / readme).parent)["credits"] == credits


def test_adapted_pipeline_and_adapter_cards_carry_the_source_licence_and_credits(tmp_path):
    source = source_pipeline(tmp_path)
    tuned = source.adapt(EMOJI, method="minegan", stage2=False, steps=1, batch_size=8, d_steps=1, progress=False)
    tuned.card_data["credits"] += "\n\nAdapted on 8 test emoji (CC0)."
    metrics = {"fd": 55.0, "extractor": "efficientnet-lite0"}  # a bare report key and its network
    tuned.card_data["adaptation"] = {**tuned.card_data["adaptation"], "metrics": metrics}
    tuned.get_adapter("minegan").config.metrics = {"fid": 1.5, "reference": "10 held-out images"}  # not Inception
    tuned.save_pretrained(tmp_path / "tuned")
    tuned.save_adapter(tmp_path / "adapter", repo_id=str(tmp_path / "adapter"))

    c = card(tmp_path / "tuned").data.to_dict()
    assert "base_model" not in c and "base_model_relation" not in c  # the base is a folder, not a Hub id
    assert c["base_model_local"] == [str(tmp_path / "source")]
    assert read_card_data(tmp_path / "tuned")["base_model"] == str(tmp_path / "source")
    assert c["adaptation"]["method"] == "minegan" and c["license"] == "apache-2.0"
    assert c["datasets"] == SOURCE_CARD["datasets"] and "minegan" in c["tags"]
    assert [m["name"] for r in c["model-index"][0]["results"] for m in r["metrics"]] == ["FD (EfficientNet-Lite0)"]
    text = (tmp_path / "tuned" / "README.md").read_text()
    assert "## Adapters held" in text and "| minegan | `miner` |" in text and "The base model's own scores" in text

    a = card(tmp_path / "adapter")
    assert a.data.to_dict()["base_model_local"] == [str(tmp_path / "source")] and a.data.license == "apache-2.0"
    assert "base_model_relation" not in a.data.to_dict()
    assert [r.metric_name for r in a.data.eval_results] == ["FD (features not recorded)"]
    assert "FID" not in a.content
    assert (tmp_path / "adapter" / SAMPLES_NAME).is_file()
    want = "Trained on Noto Emoji images, © Google, Apache License 2.0.\n\nAdapted on 8 test emoji (CC0)."
    for folder in ("tuned", "tuned/generator", "tuned/discriminator", "tuned/adapters/0", "adapter"):
        data = read_card_data(tmp_path / folder)
        assert data["license"] == "apache-2.0" and data["credits"] == want, folder

    code = usage(tmp_path / "adapter")
    assert len(code.strip().splitlines()) == 4  # three lines load it, the fourth draws
    scope: dict = {}
    exec(code, scope)
    pipe = scope["pipe"]
    assert torch.equal(draw(pipe), draw(tuned))  # the adapter card's code gives the adapted model's images


def test_hub_base_model_gets_its_relation_and_a_tag(tmp_path):
    pipe = tiny_pipeline()
    pipe.name_or_path = "gan-transfer/tiny-source"  # as a zoo or Hub pipeline is named
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator), "affine")
    pipe.save_pretrained(tmp_path / "p", samples=False)
    pipe.save_adapter(tmp_path / "a", samples=False)
    p, a = card(tmp_path / "p").data, card(tmp_path / "a").data
    assert (p.base_model, p.base_model_relation) == ("gan-transfer/tiny-source", "finetune")
    assert (a.base_model, a.base_model_relation) == ("gan-transfer/tiny-source", "adapter")
    assert "base_model:adapter:gan-transfer/tiny-source" in a.tags
    assert "base_model:finetune:gan-transfer/tiny-source" in p.tags
    assert not (tmp_path / "p" / SAMPLES_NAME).exists() and "## Samples" not in card(tmp_path / "p").text
    with pipe.disable_adapters():  # an unchanged source again: the source template, no relation
        pipe.save_pretrained(tmp_path / "s", samples=False)
    s = card(tmp_path / "s").data
    assert not {"base_model", "base_model_relation"} & set(s.to_dict()) and "# tiny-source" in card(tmp_path / "s").text


def test_i2i_card_names_its_adaptor(tmp_path):
    gan = tiny_pipeline("resnet", num_classes=3)
    g, d = gan.generator, gan.discriminator
    adaptor = make_adaptor(find_taps(g, d, 4), "resblock")
    i2i = I2IPipeline(g, d, d, card_data={**SOURCE_CARD, "base_model": "gan-transfer/emoji-google-cond",
                                           "adaptation": {"method": "transfer_i2i", "steps": 2}})  # fmt: skip
    i2i.add_adapter(adaptor, "transfer_i2i")
    i2i.save_pretrained(tmp_path / "i2i")
    c = card(tmp_path / "i2i")
    assert c.data.pipeline_tag == "image-to-image" and c.data.base_model_relation == "finetune"
    assert c.data.eval_results is None  # the source's scores are the base's, not the translator's
    assert "Adaptor: `transfer_i2i` (" in c.text and "| transfer_i2i | `i2i_adaptor` |" in c.text
    assert PIL.Image.open(tmp_path / "i2i" / SAMPLES_NAME).size == (8 * 32, 2 * 32)  # inputs, translations
    assert card(tmp_path / "i2i" / "adapters" / "0").data.pipeline_tag == "image-to-image"
    x = torch.rand(2, 3, 32, 32, generator=seeded())
    back = I2IPipeline.from_pretrained(tmp_path / "i2i")
    assert torch.equal(back(x, generator=seeded(), output_type="pt").images, i2i(x, generator=seeded(),
                                                                                   output_type="pt").images)


@pytest.mark.parametrize(
    ("key", "extractor", "label"),
    [
        ("FD (EfficientNet-Lite0)", None, "FD (EfficientNet-Lite0)"),
        ("FID (EfficientNet-Lite0)", None, "FD (EfficientNet-Lite0)"),  # only Inception features make an FID
        ("FID (Inception-v3)", None, "FID (Inception-v3)"),
        ("fd", "efficientnet-lite0", "FD (EfficientNet-Lite0)"),
        ("fid", None, "FD (features not recorded)"),
        ("kid", "vgg16", "KID (VGG16)"),
        ("fd", "inception-v3-fid", "FID (Inception-v3)"),
    ],
)
def test_scores_are_named_for_their_network(key, extractor, label):
    assert metric_label(key, extractor) == label


def test_metrics_report_dicts_become_results():
    report = {"extractor": "efficientnet-lite0", "num_samples": 100, "num_reference": 50,
              "metrics": {"fd": 12.5, "kid": 0.02, "kid_std": 0.001},
              "labels": {"fd": "FD (EfficientNet-Lite0)", "kid": "KID (EfficientNet-Lite0)",
                         "kid_std": "KID std (EfficientNet-Lite0)"}}  # fmt: skip
    rows = card_results(report, "50 held-out images")
    assert [(r["name"], r["display"]) for r in rows] == [("FD (EfficientNet-Lite0)", "12.5"),
                                                         ("KID (EfficientNet-Lite0)", "0.02 ± 0.001")]  # fmt: skip
    assert card_results({"fd": float("nan"), "note": "x"}, "r") == []


def test_rendering_what_was_read_gives_the_same_card(tmp_path):
    pipe = source_pipeline(tmp_path)
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator), "affine")
    pipe.save_pretrained(tmp_path / "one", samples=False)
    GanPipeline.from_pretrained(tmp_path / "one").save_pretrained(tmp_path / "two", samples=False)
    for readme in ("README.md", "generator/README.md", "adapters/0/README.md"):
        one, two = (tmp_path / "one" / readme).read_text(), (tmp_path / "two" / readme).read_text()
        assert one == two and one.startswith("---\n"), readme


def test_cards_from_before_the_templates_still_give_their_credits(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\ntags:\n- gan\n---\n\n# Old\n\nText.\n\n"
                                        "## Licences and credits\n\nOld credits.\n")  # fmt: skip
    assert read_card_data(tmp_path) == {"license": "mit", "credits": "Old credits."}


def test_zoo_cards_are_rendered_from_the_templates():
    """scripts/render_zoo_cards.py wrote every bundled card; rendering again changes nothing."""
    stale = runpy.run_path(str(ROOT / "scripts" / "render_zoo_cards.py"))["stale_cards"]()
    assert stale == []
    for name in zoo.list_bundled():
        folder = zoo.bundled_folder(name)
        assert (folder / SAMPLES_NAME).is_file() and "![samples](samples.png)" in (folder / "README.md").read_text()
        for readme in folder.rglob("README.md"):
            c = ModelCard.load(readme)
            assert c.data.library_name == "gan_transfer" and c.data.license and "FID" not in c.content, readme
