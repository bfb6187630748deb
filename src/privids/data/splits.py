"""Train/validation/test splits: stratified by label (with a declared rare-class policy) or by time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from privids._rng import RandomLike, as_generator
from privids.data.capture_time import WEEKDAYS
from privids.data.cleaning import label_codes
from privids.exceptions import DataError

__all__ = ["MIN_STRATIFY", "stratified_split", "time_split"]

MIN_STRATIFY = 2
"""A class needs this many rows to appear in both train and test."""


def _allocate(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    if n < MIN_STRATIFY:
        return n, 0, 0
    n_test = max(1, int(round(n * fractions[2])))
    n_val = max(1, int(round(n * fractions[1]))) if n >= 3 else 0
    while n - n_test - n_val < 1:
        if n_val > 1 or (n_val == 1 and n_test == 1):
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def stratified_split(
    labels: np.ndarray,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
    *,
    rng: RandomLike = 42,
    rare_policy: str = "train-only",
    sources: dict[str, list[str]] | None = None,
    classes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Split row indices so each label keeps its share in train, validation and test.

    Every class with at least :data:`MIN_STRATIFY` rows has a row in train and in test; with 3+
    rows also in validation. Smaller classes follow ``rare_policy``.

    Parameters
    ----------
    labels : ndarray
        One label per row.
    fractions : tuple of float
        Train, validation, test shares (per class, rounded; at least one test row).
    rng : int, Generator or None, default=42
    rare_policy : {"train-only", "error", "drop"}
        Classes below :data:`MIN_STRATIFY` rows: keep them in train only, stop with an error that
        names them, or leave them out.
    sources : dict, optional
        Label -> file names, to name the files in the error.
    classes : ndarray, optional
        When given, ``labels`` are integer codes into ``classes`` (no re-encoding of strings).

    Returns
    -------
    train, val, test : ndarray of int64
        Sorted row indices.
    info : dict
        ``rare`` (label -> rows), ``policy``, ``absent_from_val`` (labels with 2 rows).

    Raises
    ------
    DataError
        ``rare_policy="error"`` and some class is too small.
    """
    gen = as_generator(rng)
    if classes is None:
        codes, classes = label_codes(labels)
    else:
        codes = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(codes, minlength=len(classes))
    rare = {str(classes[k]): int(counts[k]) for k in np.flatnonzero((counts > 0) & (counts < MIN_STRATIFY))}
    if rare and rare_policy == "error":
        where = {k: (sources or {}).get(k, []) for k in rare}
        raise DataError(
            f"classes too small to stratify (need >= {MIN_STRATIFY} rows for train and test): {rare}, from files "
            f"{where}; fix: set data.rare_policy to 'train-only' (keep them in train) or 'drop'."
        )
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(counts)]
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for k in range(len(classes)):
        idx = order[bounds[k] : bounds[k + 1]]
        # Absent classes draw nothing, so the split depends only on the classes present.
        if counts[k] == 0 or (counts[k] < MIN_STRATIFY and rare_policy == "drop"):
            continue
        idx = gen.permutation(idx)
        a, b, _ = _allocate(int(counts[k]), fractions)
        parts[0].append(idx[:a])
        parts[1].append(idx[a : a + b])
        parts[2].append(idx[a + b :])
    train, val, test = (np.sort(np.concatenate(p)) if p else np.empty(0, np.int64) for p in parts)
    info = {
        "kind": "stratified",
        "seed": rng if isinstance(rng, int) else None,
        "fractions": list(fractions),
        "rare_policy": rare_policy,
        "rare": rare,
        "absent_from_val": [str(classes[k]) for k in np.flatnonzero(counts == MIN_STRATIFY)],
    }
    return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64), info


def time_split(
    meta: dict[str, np.ndarray], fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Split by capture time: the earliest flows train, the latest test (no look-ahead).

    Order: timestamp when known; otherwise the capture day (Monday first), then the file order
    and line. Rows with a timestamp and rows without one are ordered by day first, so a mix of
    schemas still follows the calendar.

    Returns
    -------
    train, val, test : ndarray of int64
    info : dict
        ``order`` (what was used) and the time range of each split.
    """
    n = len(meta["source_line"])
    day_rank = {d: i for i, d in enumerate(WEEKDAYS)}
    day_codes, day_names = pd.factorize(meta["day"])
    day = np.array([day_rank.get(d, len(WEEKDAYS)) for d in day_names], dtype=np.int64)[day_codes]
    ts = meta["timestamp"]
    has_ts = not np.isnat(ts).all()
    ts_key = np.where(np.isnat(ts), np.iinfo(np.int64).max, ts.astype(np.int64))
    # factorize numbers files in order of first appearance, i.e. load order.
    file_order = pd.factorize(meta["source_file"])[0].astype(np.int64)
    keys = [meta["source_line"], file_order, ts_key] if has_ts else [meta["source_line"], file_order, day]
    order = np.lexsort(keys)
    if has_ts and np.isnat(ts).any():
        order = np.lexsort([meta["source_line"], file_order, ts_key, day])
    a = int(round(n * fractions[0]))
    b = a + int(round(n * fractions[1]))
    train, val, test = np.sort(order[:a]), np.sort(order[a:b]), np.sort(order[b:])

    def span(idx: np.ndarray) -> dict[str, Any]:
        if idx.size == 0:
            return {}
        days = sorted({str(d) for d in meta["day"][idx]}, key=lambda d: day_rank.get(d, 99))
        t = ts[idx][~np.isnat(ts[idx])]
        return {"days": days, "first": str(t.min()) if t.size else None, "last": str(t.max()) if t.size else None}

    info = {
        "kind": "time",
        "order": "timestamp" if has_ts else "day, file, line",
        "fractions": list(fractions),
        "train": span(train),
        "val": span(val),
        "test": span(test),
    }
    return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64), info
