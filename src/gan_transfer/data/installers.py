"""The only code that runs package installers (``apt-get``, ``npm``, ``pip``): how the real image sets arrive.

Each helper runs one command with no shell, captures its output, and turns a failure into one sentence naming the
command and what to check. Nothing else in the library starts a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class FetchError(RuntimeError):
    """A package installer failed: the message names the command and what it printed."""


def run(command: list[str], cwd: Path | None = None) -> None:
    """Run ``command``; a failure raises :class:`FetchError` with the command and the end of its error output."""
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        raise FetchError(
            f"Could not fetch: the command `{' '.join(command)}` failed ({detail.strip()[-300:]}). "
            "Check that its package registry can be reached."
        ) from None


def apt_install(package: str) -> None:
    """Install a Debian package (its files land under /usr/share)."""
    run(["apt-get", "install", "-y", package])


def pip_download(requirement: str, folder: Path) -> Path:
    """Download one wheel (no dependencies, nothing installed) into ``folder``; returns its path."""
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), requirement])
    name = requirement.split("==")[0].replace("-", "_")
    return next(p for p in Path(folder).glob("*.whl") if p.name.lower().startswith(name.lower()))


def npm_pack(spec: str, folder: Path) -> Path:
    """Fetch an npm package's tarball into ``folder`` (nothing installed); returns its path."""
    before = set(Path(folder).glob("*.tgz"))
    run(["npm", "pack", "--silent", spec], cwd=folder)
    (tarball,) = set(Path(folder).glob("*.tgz")) - before
    return tarball
