"""How much memory this machine has free: checked before allocating what a user's numbers ask for. Imports nothing
of the library."""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (``MemAvailable``), or None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.1f} GiB"
