"""The package's import graph: no circle, and arrows point one way (cli → pipelines → recipes → adapters/metrics →
models/data → hub → registry). Every import counts, including those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import gan_transfer

ROOT = Path(gan_transfer.__file__).parent
PACKAGE = "gan_transfer"

# The layer of each top-level unit: an import may only point to a lower layer or stay inside its own unit.
RANK = {
    "_version": 0, "registry": 0, "atomic": 0, "options": 0, "memory": 0,
    "hub": 1, "latents": 1,
    "models": 2, "data": 2, "rendering": 2, "zoo": 2,
    "adapters": 3, "metrics": 3,
    "convert": 3,
    "recipes": 4,
    "pipelines": 5,
    "cli": 6,
    "": 7,  # gan_transfer/__init__.py
}  # fmt: skip
# Units that may import only these (beyond themselves), whatever their rank.
ONLY = {
    "hub": {"registry", "atomic", "_version", "memory"},
    "metrics": {"registry", "atomic", "_version"},
    "zoo": {"registry"},
    "registry": set(),
    "atomic": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str) -> set[str]:
    """The library modules ``name`` imports, anywhere in its file."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    here = name if _is_package(name) else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _unit(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_walk_sees_the_known_arrows():
    assert "gan_transfer.registry" in GRAPH["gan_transfer.hub"]
    assert "gan_transfer.recipes" in GRAPH["gan_transfer.pipelines.gan_pipeline"]  # imported inside adapt()
    assert "gan_transfer.zoo" in GRAPH["gan_transfer.pipelines.gan_pipeline"]  # `from .. import zoo`


def test_no_circle():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import circle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_arrows_point_down():
    assert set(RANK) >= {_unit(m) for m in MODULES}, "a new top-level unit needs a layer in RANK"
    wrong = []
    for name, targets in GRAPH.items():
        a = _unit(name)
        for target in targets:
            b = _unit(target)
            if a == b:
                continue
            if RANK[b] >= RANK[a] or (a in ONLY and b not in ONLY[a]):
                wrong.append(f"{name} → {target}")
    assert not wrong, "imports against the layering: " + "; ".join(sorted(wrong))
