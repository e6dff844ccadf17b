"""The gan-transfer command: generate, info and demo, in-process and once through the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import PIL.Image

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
    script = Path(sys.executable).parent / "gan-transfer"  # installed beside the interpreter running the tests
    assert script.is_file(), "the console script is installed with the package"
    done = subprocess.run([str(script), "demo", "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "bit-identical to the original: True" in done.stdout
    assert PIL.Image.open(tmp_path / "samples.png").size == (4 * 32, 4 * 32)
    assert (tmp_path / "pipeline" / "model_index.json").is_file()
