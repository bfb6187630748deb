"""Per-file quirk detection on a parsed frame: padding rows, cell counts and non-finite rows.

Every answer is exact, but found with as little work as the data allows: polars keeps a null count
per column for free, and one ``min``/``max``/``sum`` reduction per column tells which columns can
hold a negative, infinite or NaN cell at all. Only those columns are counted cell by cell, and
only they take part in the per-row finiteness test (a real CIC-IDS2017 day file has two such
columns out of 77).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

__all__ = ["CellCounts", "cell_counts", "finite_rows", "padding_rows"]

CellCounts = dict[str, tuple[int, int, int, int]]
"""Canonical feature -> ``(inf, nan, empty, negative)`` cell counts."""


def padding_rows(df: pl.DataFrame) -> np.ndarray | None:
    """Mask of the rows whose every read field is empty (comma-only lines); None when there are none.

    A padding row is null in every column, so only the rows that are null in the column with the
    fewest nulls can be padding; when that column has none, no row is.
    """
    if df.height == 0 or df.width == 0:
        return None
    nulls = df.null_count().row(0)
    fewest = int(np.argmin(nulls))
    if nulls[fewest] == 0:
        return None
    candidates = np.flatnonzero(df[df.columns[fewest]].is_null().to_numpy())
    sub = df[candidates]
    empty = sub.select(pl.all_horizontal([pl.col(c).is_null() for c in sub.columns]).alias("p"))["p"].to_numpy()
    if not empty.any():
        return None
    pad = np.zeros(df.height, dtype=bool)
    pad[candidates[empty]] = True
    return pad


def _exact(df: pl.DataFrame, cols: Mapping[str, str], kinds: Mapping[str, set[str]] | None = None) -> CellCounts:
    """Cell-by-cell counts over ``df`` (``kinds`` limits which counts each column needs)."""
    exprs = []
    for canon, name in cols.items():
        want = {"inf", "nan", "neg"} if kinds is None else kinds[canon]
        c = pl.col(name)
        if "inf" in want:
            exprs.append(c.is_infinite().sum().alias(f"inf|{canon}"))
        if "nan" in want:
            exprs.append(c.is_nan().sum().alias(f"nan|{canon}"))
        if "neg" in want:
            exprs.append((c < 0).sum().alias(f"neg|{canon}"))
    got = df.select(exprs).row(0, named=True) if exprs else {}
    nulls = df.select([pl.col(n).null_count().alias(c) for c, n in cols.items()]).row(0, named=True)
    return {
        canon: (
            int(got.get(f"inf|{canon}") or 0),
            int(got.get(f"nan|{canon}") or 0),
            int(nulls[canon] or 0),
            int(got.get(f"neg|{canon}") or 0),
        )
        for canon in cols
    }


def cell_counts(df: pl.DataFrame, cols: Mapping[str, str], excluded: np.ndarray | None) -> CellCounts:
    """Infinity, NaN, empty and negative cells per feature over the rows not ``excluded``.

    Parameters
    ----------
    df : polars.DataFrame
        The parsed file (Float32 feature columns, nulls for empty cells).
    cols : mapping of str to str
        Canonical feature -> column of ``df``.
    excluded : ndarray of bool or None
        Rows that are not flows of this file (padding, or empty labels in train mode).

    Returns
    -------
    dict
        Canonical feature -> ``(inf, nan, empty, negative)``.
    """
    stats = df.select(
        [e for canon, name in cols.items()
         for e in (pl.col(name).min().alias(f"min|{canon}"), pl.col(name).max().alias(f"max|{canon}"),
                   pl.col(name).sum().alias(f"sum|{canon}"))]
    ).row(0, named=True)  # fmt: skip
    kinds: dict[str, set[str]] = {}
    for canon in cols:
        lo, hi, total = stats[f"min|{canon}"], stats[f"max|{canon}"], stats[f"sum|{canon}"]
        need = set()
        # min/max skip NaN and nulls; a NaN always reaches the sum. Undecided columns are counted.
        if lo is None or math.isnan(lo) or lo < 0:
            need |= {"neg", "inf"}
        if hi is None or not math.isfinite(hi):
            need.add("inf")
        if total is None or math.isnan(total):
            need.add("nan")
        kinds[canon] = need
    counts = _exact(df, cols, kinds)
    if excluded is not None and excluded.any():
        # Excluded rows are few: count them exactly and take them out.
        gone = _exact(df.filter(pl.Series(excluded)), cols)
        counts = {c: tuple(a - b for a, b in zip(counts[c], gone[c], strict=True)) for c in cols}  # type: ignore[misc]
    return counts


def finite_rows(df: pl.DataFrame, cols: Mapping[str, str], counts: CellCounts) -> np.ndarray | None:
    """Mask of rows whose every feature is finite, testing only columns with a non-finite cell.

    ``counts`` are those of :func:`cell_counts` (over the flow rows); excluded rows may be marked
    either way. None means every flow row is finite.
    """
    bad = [cols[c] for c, (inf, nan, empty, _) in counts.items() if inf or nan or empty]
    if not bad:
        return None
    return df.select(pl.all_horizontal([pl.col(c).is_finite().fill_null(False) for c in bad]).alias("f"))["f"].to_numpy()
