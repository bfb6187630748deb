"""Every package's ``__all__`` lists exactly the public names it exposes, sorted."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import privids


def _packages() -> list[str]:
    names = ["privids"]
    for info in pkgutil.walk_packages(privids.__path__, prefix="privids."):
        if info.ispkg:
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _packages())
def test_all_matches_public_names(name: str) -> None:
    mod = importlib.import_module(name)
    declared = getattr(mod, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    assert list(declared) == sorted(declared), f"{name}.__all__ is not sorted"
    missing = [n for n in declared if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and getattr(v, "__module__", name).startswith("privids")
        and n not in {"annotations"}
    }
    undeclared = sorted(public - set(declared))
    assert not undeclared, f"{name} exposes public names not in __all__: {undeclared}"
