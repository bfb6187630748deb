"""Deterministic clean-up steps on a FlowTable; each returns what it did for the report."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from privids._rng import as_generator
from privids.data.report import line_set
from privids.data.row_blocks import map_blocks
from privids.data.table import FlowTable

__all__ = [
    "constant_columns",
    "drop_duplicates",
    "drop_nonfinite",
    "duplicate_rows",
    "finite_rows",
    "label_codes",
]

# An odd 64-bit multiplier for the polynomial row hash (any odd constant works; this one mixes well).
_MIX = np.uint64(0x9E3779B97F4A7C15)


def label_codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, classes)`` for an object array of labels, by hashing (no Python-level sort)."""
    codes, classes = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), np.asarray(classes, dtype=object)


def _all_rows(rows: np.ndarray | None, n: int) -> bool:
    return rows is None or (len(rows) == n and np.array_equal(rows, np.arange(n)))


def _row_hash(X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit hash per row; only proposes duplicates (the exact values decide)."""
    # Fixed odd weights: a linear hash mod 2**64, reproducible across runs and thread counts.
    weights = as_generator(20170703).integers(1, 2**62, size=X.shape[1], dtype=np.uint64) * 2 + 1
    n = X.shape[0] if rows is None else len(rows)
    out = np.empty(n, dtype=np.uint64)

    def one(s: slice) -> None:
        block = X[s] if rows is None else np.take(X, rows[s], axis=0)
        # +0.0 folds -0.0 into 0.0 so equal values hash equally (and gives a fresh array to view).
        bits = (block.astype(np.float32, copy=False) + np.float32(0.0)).view(np.uint32)
        # An integer matrix-vector product: the same sum mod 2**64 as multiplying and summing,
        # without the (block, F) uint64 temporary.
        out[s] = bits.astype(np.uint64) @ weights

    map_blocks(one, n, block=2048)
    return out


def _earliest_equal(h: np.ndarray) -> np.ndarray:
    """For each position, the earliest position holding the same value."""
    rep = np.empty(len(h), dtype=np.int64)
    if not len(h):
        return rep
    # Any sort order will do (the SIMD quicksort is several times faster than a stable sort):
    # the earliest position of each run of equal values is its minimum.
    order = np.argsort(h)
    hs = h[order]
    new_run = np.ones(len(h), dtype=bool)
    new_run[1:] = hs[1:] != hs[:-1]
    first = np.minimum.reduceat(order, np.flatnonzero(new_run))
    rep[order] = first[np.cumsum(new_run) - 1]
    return rep


def _same_rows(X: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    xa, xb = X[a], X[b]
    return ((xa == xb) | (np.isnan(xa) & np.isnan(xb))).all(axis=1)


def _shared_hashes(h: np.ndarray) -> np.ndarray:
    """Positions (ascending) whose hash occurs more than once: the only possible duplicates."""
    if len(h) < 2:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(h)
    hs = h[order]
    same = hs[1:] == hs[:-1]
    shared = np.zeros(len(h), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    return np.sort(order[shared])


def duplicate_rows(
    X: np.ndarray, codes: np.ndarray, classes: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Rows to keep after removing exact duplicate flows (same features and label), first kept.

    Rows with identical features but different labels are all kept and reported as conflicting
    duplicates: no rule can tell which label is right.

    Parameters
    ----------
    X : ndarray, shape (n, F)
    codes : ndarray of int, shape (n,)
        Label code per row (see :func:`label_codes`).
    classes : ndarray
        Label names of the codes (for the report).
    rows : ndarray of int, optional
        Candidate rows (in order); None means all.

    Returns
    -------
    keep : ndarray of int64
        The kept subset of ``rows``, in order.
    info : dict
        ``removed``, ``removed_per_label``, ``conflicting_groups``, ``conflicting_rows``.
    """
    rows = np.arange(X.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    c = np.asarray(codes, dtype=np.int64)[rows]
    h_feat = _row_hash(X, None if _all_rows(rows, X.shape[0]) else rows)
    # Only rows whose feature hash is shared can be duplicates or conflicts (about 15% of the real
    # data): the label-aware grouping and the exact comparison run on those alone.
    cand = _shared_hashes(h_feat)
    with np.errstate(over="ignore"):
        h_full = h_feat[cand] * _MIX + c[cand].astype(np.uint64)
    rep = cand[_earliest_equal(h_full)]
    dup = rep != cand
    first, other = rep[dup], cand[dup]
    exact = other[_same_rows(X, rows[other], rows[first]) & (c[other] == c[first])]
    keep = np.ones(len(rows), dtype=bool)
    keep[exact] = False
    removed = np.bincount(c[exact], minlength=len(classes))

    # Same features, different labels: a feature group whose smallest and largest label differ.
    left = cand[keep[cand]]
    order = np.argsort(h_feat[left])
    hs, cs = h_feat[left][order], c[left][order]
    starts = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]]) if hs.size else np.empty(0, dtype=np.int64)
    if starts.size:
        mixed = np.minimum.reduceat(cs, starts) != np.maximum.reduceat(cs, starts)
        sizes = np.diff(np.r_[starts, hs.size])
    else:
        mixed, sizes = np.empty(0, dtype=bool), np.empty(0, dtype=np.int64)
    info = {
        "removed": int(exact.size),
        "removed_per_label": {str(classes[k]): int(removed[k]) for k in np.flatnonzero(removed)},
        "conflicting_groups": int(mixed.sum()),
        "conflicting_rows": int(sizes[mixed].sum()),
    }
    return rows[keep], info


def drop_duplicates(table: FlowTable) -> tuple[FlowTable, dict[str, Any]]:
    """:func:`duplicate_rows` applied to a table (returns the reduced table and the info)."""
    assert table.labels is not None
    codes, classes = label_codes(table.labels)
    keep, info = duplicate_rows(table.X, codes, classes)
    return (table if info["removed"] == 0 else table.take(keep)), info


def drop_nonfinite(table: FlowTable) -> tuple[FlowTable, dict[str, Any]]:
    """Drop rows with any inf/NaN feature (for tables loaded without the drop policy)."""
    bad = ~np.isfinite(table.X).all(axis=1)
    info = {"removed": int(bad.sum()), "lines": line_set(table.meta["source_line"][bad]) if bad.any() else line_set([])}
    return (table if not bad.any() else table.take(~bad)), info


def finite_rows(X: np.ndarray) -> np.ndarray:
    """Boolean mask of rows whose every feature is finite (block-wise)."""
    out = np.empty(X.shape[0], dtype=bool)

    def one(s: slice) -> None:
        out[s] = np.isfinite(X[s]).all(axis=1)

    map_blocks(one, X.shape[0])
    return out


def constant_columns(X: np.ndarray, names: tuple[str, ...], rows: np.ndarray | None = None) -> list[str]:
    """Names of columns whose finite values (over ``rows``) are all equal, or that have none."""
    rows = None if _all_rows(rows, X.shape[0]) else rows

    def extremes(s: slice) -> tuple[np.ndarray, np.ndarray]:
        B = X[s] if rows is None else np.take(X, rows[s], axis=0)
        low, high = B.min(axis=0), B.max(axis=0)
        # NaN and +-inf all reach a block's extremes; only such blocks need the masked pass.
        if np.isfinite(low).all() and np.isfinite(high).all():
            return low, high
        fin = np.isfinite(B)
        return np.where(fin, B, np.inf).min(axis=0), np.where(fin, B, -np.inf).max(axis=0)

    parts = map_blocks(extremes, X.shape[0] if rows is None else len(rows))
    if not parts:
        return list(names)
    low = np.min([p[0] for p in parts], axis=0)
    high = np.max([p[1] for p in parts], axis=0)
    return [n for n, lo, hi in zip(names, low, high, strict=True) if not np.isfinite(lo) or lo == hi]
