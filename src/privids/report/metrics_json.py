"""``metrics.json``: every number in the report, as strict JSON (no NaN, no numpy types)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "write_metrics"]


def to_jsonable(obj: Any) -> Any:
    """Convert nested results into plain JSON values.

    numpy scalars and arrays become Python numbers and lists, tuples become lists, dataclasses
    become dicts, paths become strings, and NaN or infinite floats become ``None`` (strict JSON
    has no NaN, and a reader should see "no value", not a fake number). Bytes are dropped to
    ``None`` because figures belong in the report, not in the numbers file.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(0.5), "b": (1, np.int64(2)), "c": float("nan")})
    {'a': 0.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj) if isinstance(obj, set | frozenset) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return None
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``metrics`` as indented, key-sorted strict JSON and return the path.

    Parameters
    ----------
    metrics : mapping
        Nested results (anything :func:`to_jsonable` accepts).
    path : str or Path
        Target file; parent folders are created.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(to_jsonable(metrics), indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    return p
