"""The layer rule: a module imports only from layers above it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "privids"

# Shared modules everyone may import, then the layers in dependency order.
_SHARED = {"exceptions", "config", "_rng", ""}
_LAYERS = ["data", "features", "models", "privacy", "federated", "attacks", "evaluation", "artifacts", "report"]
_BOTTOM = {"cli", "serve"}


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(layer: str) -> int:
    if layer in _SHARED:
        return -1
    if layer in _BOTTOM:
        return len(_LAYERS)
    return _LAYERS.index(layer)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("privids")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("privids"):
            found.append((node.lineno, node.module))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_respect_layers(path: Path) -> None:
    rel = path.relative_to(SRC)
    own = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem != "__init__" else ""
    own_rank = _rank(own)
    for lineno, module in _imports(path):
        target = _layer_of(module)
        if target == own or own in _BOTTOM:
            continue
        assert _rank(target) < own_rank or _rank(target) == -1, (
            f"{rel}:{lineno} imports {module}: layer '{own}' may only import layers above it "
            f"({_LAYERS[: max(own_rank, 0)]}); move the shared code up or the caller down."
        )
