"""Shared by the method benchmarks: score a run while it trains, and print tables.

A :class:`ScoreTracker` is a step callback. Every ``every`` generator steps it draws images from the model as it
stands (the callback's ``draw``: EMA, adapter or miner applied), extracts EfficientNet-Lite0 features and scores them
against held-out reference features. Its own time is kept apart, so ``seconds`` is training time only. Given a
``path`` it keeps its rows there as it goes, so a run stopped by a session's end can :meth:`resume` them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from gan_transfer.atomic import atomic_write
from gan_transfer.metrics import compute_features, frechet_distance, kid, kmmd

DrawFn = Callable[..., torch.Tensor]


@dataclasses.dataclass
class ScoreTracker:
    reference: torch.Tensor  # (N, D) features of held-out real images
    z: torch.Tensor  # fixed latents for every evaluation
    labels: torch.Tensor | None = None  # fixed class ids (in the recipe's own numbering), or None
    reference_labels: torch.Tensor | None = None  # given: also FD/KID per class (fd_0, kid_0, …) and their mean
    every: int = 100
    kid_subset: int = 100
    rows: list[dict[str, float]] = dataclasses.field(default_factory=list)
    path: Path | None = None  # where the rows are kept as they come (JSON), for resuming

    def __post_init__(self) -> None:
        self.calls = 0
        self.eval_seconds = 0.0
        self.seconds_before = 0.0  # training seconds of the earlier part of a resumed run
        self.started = time.perf_counter()

    def resume(self, step: int) -> None:
        """Go on from a run stopped after ``step`` (its last checkpoint): keep the kept rows up to it, count from it."""
        if self.path is not None and self.path.is_file():
            self.rows = [r for r in json.loads(self.path.read_text()) if r["step"] <= step]
        self.calls = step
        self.seconds_before = self.rows[-1]["seconds"] if self.rows else 0.0

    def __call__(self, step: int, logs: dict[str, float], draw: DrawFn) -> None:
        self.calls += 1  # counted here: multi-stage recipes restart their step numbers
        if self.calls % self.every:
            return
        t0 = time.perf_counter()
        seconds = self.seconds_before + t0 - self.started - self.eval_seconds
        self.rows.append({"step": self.calls, "seconds": seconds, **self.score(draw)})
        self.eval_seconds += time.perf_counter() - t0
        if self.path is not None:
            with atomic_write(self.path) as tmp:
                tmp.write_text(json.dumps(self.rows, indent=1))

    def score(self, draw: DrawFn) -> dict[str, float]:
        chunks = self.z.split(64)
        labels = [None] * len(chunks) if self.labels is None else self.labels.split(64)
        images = torch.cat([draw(z, y).float().cpu() for z, y in zip(chunks, labels, strict=True)])
        features = compute_features(images, batch_size=32)  # the process's one EfficientNet-Lite0
        if self.reference_labels is None:
            return score_features(features, self.reference, self.kid_subset)
        out: dict[str, float] = {}
        for c in sorted(set(self.reference_labels.tolist())):
            real = self.reference[self.reference_labels == c]
            one = score_features(features[self.labels == c], real, self.kid_subset, with_kmmd=False)
            out.update({f"fd_{c}": one["fd"], f"kid_{c}": one["kid"]})
        classes = len(out) // 2
        out["fd"] = sum(v for k, v in out.items() if k.startswith("fd_")) / classes
        out["kid"] = sum(v for k, v in out.items() if k.startswith("kid_")) / classes
        return out

    def best(self, key: str = "fd") -> dict[str, float]:
        return min(self.rows, key=lambda r: r[key])

    def seconds_to_within(self, fraction: float = 0.1, key: str = "fd") -> float:
        """Training seconds until the score first came within ``fraction`` of its final value."""
        final = self.rows[-1][key]
        return next(r["seconds"] for r in self.rows if r[key] <= final * (1 + fraction))


def score_features(
    features: torch.Tensor, reference: torch.Tensor, kid_subset: int, with_kmmd: bool = True
) -> dict[str, float]:
    """FD, KID (100 subsets) and, unless ``with_kmmd=False``, KMMD of ``features`` against ``reference``."""
    n = min(kid_subset, len(features), len(reference))
    scores = {"fd": frechet_distance(features, reference), "kid": kid(features, reference, 100, n)[0]}
    if with_kmmd:
        scores["kmmd"] = kmmd(features, reference)[0]
    return scores


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats get four significant digits."""

    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
