"""Every bundled zoo model loads offline, draws images of the right shape and range, and names its licence and
where it came from (trained here: data, steps and scores; converted: the package file and its SHA-256)."""

from __future__ import annotations

import pytest
import torch

from gan_transfer import GanPipeline, zoo


@pytest.mark.parametrize("name", zoo.list_bundled())
def test_bundled_model(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = GanPipeline.from_pretrained(name)
    pipe.set_progress_bar_config(disable=True)
    g = pipe.generator
    out = pipe(num_images=4, generator=torch.Generator().manual_seed(0), output_type="pt")
    assert out.images.shape == (4, g.config.channels, g.config.resolution, g.config.resolution)
    assert out.images.min() >= 0 and out.images.max() <= 1 and out.images.std() > 0.01
    assert pipe.card_data.get("license") and pipe.card_data.get("credits")
    record = pipe.card_data["gan_transfer"]
    if "converted_from" in record:  # someone else trained it: the card says where from, and which file exactly
        assert len(record["sha256"]) == 64 and record["format"] and "converted" in pipe.card_data["tags"]
        return
    assert record["steps"] > 0 and "FD (EfficientNet-Lite0)" in record["metrics"]
    card = (zoo.bundled_folder(name) / "README.md").read_text()
    assert "## Training" in card and f"{record['steps']:,} generator steps" in card
    assert "KID (EfficientNet-Lite0)" in card
