"""The gan-transfer command: generate, info and demo, in-process and once through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

from gan_transfer import GanPipeline
from gan_transfer.cli import main

from .conftest import ChannelAffineAdapter, tiny_pipeline


def test_generate_grid_and_folder(tmp_path, capsys):
    tiny_pipeline("biggan", num_classes=3).save_pretrained(tmp_path / "p")
    assert (
        main(
            [
                "generate",
                str(tmp_path / "p"),
                "--num-images",
                "6",
                "--output",
                str(tmp_path / "g.png"),
                "--quiet",
                "--class-labels",
                "1",
            ]
        )
        == 0
    )
    assert PIL.Image.open(tmp_path / "g.png").size == (3 * 32, 2 * 32)
    assert (
        main(["generate", str(tmp_path / "p"), "--num-images", "3", "--output", str(tmp_path / "out"), "--quiet"]) == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert "Wrote 3 images" in capsys.readouterr().out


def test_generate_with_adapter_and_errors(tmp_path, capsys):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "p")
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator))
    pipe.save_adapter(tmp_path / "a")
    args = ["generate", str(tmp_path / "p"), "--num-images", "2", "--quiet"]
    assert main([*args, "--output", str(tmp_path / "with.png"), "--adapter", str(tmp_path / "a")]) == 0
    assert main([*args, "--output", str(tmp_path / "without.png")]) == 0
    assert PIL.Image.open(tmp_path / "with.png").tobytes() != PIL.Image.open(tmp_path / "without.png").tobytes()
    assert main(["generate", str(tmp_path / "p"), "--class-labels", "1", "--quiet"]) == 2
    assert "unconditional" in capsys.readouterr().err


def test_info(tmp_path, capsys):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "p")
    pipe.add_adapter(ChannelAffineAdapter.for_generator(pipe.generator))
    pipe.save_adapter(tmp_path / "a")
    for path, kind in (
        (tmp_path / "p", "pipeline"),
        (tmp_path / "p" / "generator", "model"),
        (tmp_path / "a", "adapter"),
    ):
        assert main(["info", str(path)]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["type"] == kind
    assert main(["info", str(tmp_path / "p")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["generator"]["parameters"] == pipe.generator.num_parameters()


def test_demo_through_the_console_script(tmp_path):
    """The README's main job on the real bundled source, cut to a few steps."""
    script = Path(sys.executable).parent / "gan-transfer"  # installed beside the interpreter running the tests
    assert script.is_file(), "the console script is installed with the package"
    args = [str(script), "demo", "--output", str(tmp_path), "--steps", "2", "--quiet"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert PIL.Image.open(tmp_path / "samples.png").size == (8 * 64, 3 * 64)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["source"] == "gan-transfer/digiface-faces" and metrics["method"] == "minegan"
    assert GanPipeline.from_pretrained(tmp_path / "adapted").active_adapters == ["minegan"]
    card = (tmp_path / "adapted" / "README.md").read_text()
    assert "research only" in card and "Twemoji person faces" in card
    assert (tmp_path / "adapted" / "model_index.json").is_file()
    assert str(tmp_path / "adapted") in done.stdout


def test_real_demo_flow_with_a_tiny_bundled_source(tmp_path, monkeypatch):
    """The demo's adapt → samples → scores → save path, on a tiny stand-in for the bundled emoji GAN."""
    from gan_transfer import zoo
    from gan_transfer.cli import demo

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    source = tiny_pipeline("biggan")
    source.card_data = {"license": "apache-2.0", "credits": "Noto Emoji, Apache-2.0."}
    source.save_pretrained(tmp_path / "zoo" / "emoji-google")
    assert demo.source_available("emoji")
    result = demo.run_demo(tmp_path / "out", demo="emoji", method="bsa", steps=1, progress=False,
                           perceptual_resolution=32)  # fmt: skip
    assert PIL.Image.open(tmp_path / "out" / "samples.png").size == (8 * 32, 3 * 32)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(saved["scores"]) == {
        "source vs held-out",
        "adapted vs held-out",
        "training images vs held-out (floor)",
    }
    assert "FD (EfficientNet-Lite0)" in saved["scores"]["adapted vs held-out"] and result["steps"] == 1
    card = (tmp_path / "out" / "adapted" / "adapters" / "0" / "README.md").read_text()
    assert "Noto Emoji" in card and "Twemoji" in card and "CC-BY 4.0" in card
    reloaded = GanPipeline.from_pretrained(tmp_path / "out" / "adapted")
    assert reloaded.active_adapters == ["bsa"] and reloaded.generator is not None
    again = demo.run_demo(tmp_path / "out", demo="emoji", method="bsa", steps=1, progress=False,
                          perceptual_resolution=32)  # a rerun replaces the demo's own run  # fmt: skip
    assert again["steps"] == 1
    full = demo.run_demo(tmp_path / "full", demo="emoji", steps=1, progress=False, batch_size=8, d_steps=1)
    assert full["saved"].endswith("adapted") and (tmp_path / "full" / "adapted" / "model_index.json").is_file()


def test_user_errors_are_one_sentence_and_bugs_stay_tracebacks(tmp_path, capsys, monkeypatch):
    tiny_pipeline().save_pretrained(tmp_path / "p")
    assert main(["adapt", str(tmp_path / "p"), str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-transfer adapt: ") and err.count("\n") == 1
    assert main(["adapt", str(tmp_path / "p"), str(tmp_path), "--set", "no_such=1", "--quiet"]) == 2
    assert "Unknown option 'no_such'" in capsys.readouterr().err

    from gan_transfer.cli import commands

    def broken(args):
        raise TypeError("a bug inside gan_transfer")

    monkeypatch.setattr(commands, "cmd_info", broken)
    with pytest.raises(TypeError, match="a bug inside"):
        commands.main(["info", str(tmp_path / "p")])
