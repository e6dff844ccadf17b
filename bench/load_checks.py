"""What the reliability checks cost and what they save (issue 16), side by side from one run.

    python bench/load_checks.py

1. Loading: each bundled model's ``from_pretrained`` time, and the share of it spent checking the config against
   the weight file's header (the model built on the meta device, shapes compared) before anything is allocated.
2. Images: peak memory (VmHWM) of reading an absurd image (a 128-byte 50,000×1 PNG, a 2 KB 2,000,000×1 PNG, a PNG header
   declaring 30,000×30,000) in a fresh process, against the same process importing the library and reading nothing.
"""

from __future__ import annotations

import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import PIL.Image
import torch

from gan_transfer import GanPipeline
from gan_transfer.hub import check_shapes, read_json, unstamp, weight_shapes
from gan_transfer.models import MODEL_REGISTRY
from gan_transfer.zoo import ZOO_DIR, list_bundled


def _probe_seconds(folder: Path) -> float:
    """The header check alone, for every component of a pipeline folder."""
    started = time.perf_counter()
    for config in sorted(folder.glob("*/config.json")):
        class_name, fields = unstamp(read_json(config), config)
        with torch.device("meta"):
            probe = MODEL_REGISTRY.get(class_name)._from_config_dict(class_name, fields, str(config))
        check_shapes(probe, weight_shapes(config.parent / "model.safetensors"), str(config.parent))
    return time.perf_counter() - started


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def _peak_mib(code: str) -> tuple[float, str]:
    """Peak resident memory (MiB) of a fresh Python process running ``code``, and what it printed."""
    peak = ("import sys\n"
            "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code + "\n" + peak], capture_output=True, text=True, check=True)
    return int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout.strip()  # VmHWM: this process's own peak


def main() -> None:
    print("| bundled model | from_pretrained s (median of 3) | header check s | share |")
    print("|---|---|---|---|")
    for name in list_bundled():
        GanPipeline.from_pretrained(name)  # warm the import and file caches
        times = []
        for _ in range(3):
            started = time.perf_counter()
            GanPipeline.from_pretrained(name)
            times.append(time.perf_counter() - started)
        load = sorted(times)[1]
        probe = _probe_seconds(ZOO_DIR / name.split("/", 1)[1])
        print(f"| {name} | {load:.3f} | {probe:.3f} | {probe / load:.0%} |")

    with tempfile.TemporaryDirectory() as tmp:
        files = {"50,000×1 PNG": Path(tmp) / "strip.png", "2,000,000×1 PNG": Path(tmp) / "long.png",
                 "header of 30,000×30,000": Path(tmp) / "bomb.png"}  # fmt: skip
        PIL.Image.new("L", (50_000, 1)).save(files["50,000×1 PNG"])
        PIL.Image.new("L", (2_000_000, 1)).save(files["2,000,000×1 PNG"])
        files["header of 30,000×30,000"].write_bytes(_png_header(30_000, 30_000))
        baseline, _ = _peak_mib("from gan_transfer.data import load_images")
        print("\n| image | file bytes | peak MiB reading it | peak MiB importing only | refused with |")
        print("|---|---|---|---|---|")
        for label, path in files.items():
            code = (f"from gan_transfer.data import load_images\ntry:\n    load_images({str(path)!r}, 32)\n"
                    "except ValueError as err:\n    print(str(err).split(';')[0].split(\"' \")[-1])")
            peak, said = _peak_mib(code)
            print(f"| {label} | {path.stat().st_size} | {peak:.0f} | {baseline:.0f} | {said} |")
    print(f"\n{torch.get_num_threads()} threads; peak memory: each process's VmHWM "
          f"(this one: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
