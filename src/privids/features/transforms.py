"""FlowTransform: the fitted, stored mapping from raw canonical features to finite model inputs.

Rules, applied per column in this order (all parameters are learned on the training split only
and stored with the model, so scoring never refits):

1. ``NaN`` (a ``NaN`` cell or an empty one) becomes the training median.
2. ``+inf`` becomes the largest finite training value, ``-inf`` the smallest ("cap").
3. ``Init_Win_bytes_forward/backward``: any negative value is the CICFlowMeter sentinel for "no
   TCP handshake observed" and becomes exactly ``-1``. Every other feature counts, sizes, times or
   rates and cannot be negative, so negative values (``Flow Duration`` -1, ``Flow IAT Min`` -12,
   ``Fwd Header Length`` -32) are clipped to 0.
4. Signed ``log1p`` (``sign(x) * log1p(|x|)``) for heavy-tailed columns (all but ``Destination
   Port`` and the TCP flag columns) when ``log_transform`` is on. The sentinel -1 becomes -0.693,
   distinct from every observed window size (>= 0), and never ``-inf``/``NaN``.
5. Standardise with the training mean and standard deviation (scale 1 for a constant column).
6. Clip to ``[-CLIP, CLIP]`` so that no input, however extreme, gives a non-finite float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privids.data.matrix import empty_rows
from privids.data.row_blocks import block_slices, map_blocks
from privids.exceptions import ModelError

__all__ = ["CLIP", "MEDIAN_SAMPLE", "SENTINEL_FEATURES", "FlowTransform"]

CLIP = 1e4
MEDIAN_SAMPLE = 200_000
SENTINEL_FEATURES = frozenset({"Init_Win_bytes_forward", "Init_Win_bytes_backward"})
_NO_LOG = frozenset({"Destination Port"})
_KIND = "privids.FlowTransform/1"
_SUB_ROWS = 1024


def _default_log(name: str) -> bool:
    return name not in _NO_LOG and "Flag" not in name


@dataclass(frozen=True)
class FlowTransform:
    """Impute, cap, sentinel/clip, signed log and standardise (see the module docstring).

    Attributes
    ----------
    feature_names : tuple of str
        Input columns, in order; also the model's input order.
    log : tuple of bool
        Signed log1p per column.
    median, low, high : tuple of float
        Training median (NaN fill), smallest and largest finite value (the -inf/+inf caps), after
        rule 3.
    mean, scale : tuple of float
        Standardisation after the log.
    """

    feature_names: tuple[str, ...]
    log: tuple[bool, ...]
    median: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(
        cls,
        raw: np.ndarray,
        feature_names: Sequence[str],
        *,
        log_transform: bool = True,
        rows: np.ndarray | None = None,
        columns: Sequence[int] | None = None,
    ) -> FlowTransform:
        """Learn the parameters from raw training features.

        Parameters
        ----------
        raw : ndarray, shape (n, F) or wider
            Raw training values (inf/NaN allowed), in ``feature_names`` order unless ``columns``
            says where each feature sits.
        feature_names : sequence of str
        log_transform : bool, default=True
        rows : ndarray of int, optional
            Training rows of ``raw`` (avoids copying a split out of a large table).
        columns : sequence of int, optional
            Column of ``raw`` holding each of ``feature_names``.

        Returns
        -------
        FlowTransform

        Notes
        -----
        The median (the NaN fill) is taken over at most :data:`MEDIAN_SAMPLE` training rows, every
        k-th row in order (exact for smaller training sets); every other statistic uses all rows.
        """
        names = tuple(feature_names)
        cols = _columns(raw, names, columns)
        n = raw.shape[0] if rows is None else len(rows)
        log = np.array([log_transform and _default_log(c) for c in names])
        sentinel = np.array([c in SENTINEL_FEATURES for c in names])
        if n == 0:
            zeros = (0.0,) * len(names)
            return cls(names, tuple(bool(v) for v in log), zeros, zeros, zeros, zeros, (1.0,) * len(names))

        step = max(1, -(-n // MEDIAN_SAMPLE))
        sample_rows = np.arange(0, n, step) if rows is None else rows[::step]
        # Column-major, so each column's median reads contiguous memory.
        sample = _sign_rule(_gather(raw, sample_rows, slice(None), cols, order="F"), sentinel)
        median = np.array([_finite_median(c) for c in sample.T])
        del sample
        plan = _LogPlan.of(log, sentinel)

        def first_pass(s: slice) -> tuple[np.ndarray, np.ndarray, tuple[int, np.ndarray, np.ndarray] | None]:
            B = _sign_rule(_gather(raw, rows, s, cols, order="F"), sentinel)
            # After rule 3 only NaN and +inf can be non-finite, and both reach the column maximum.
            hi = B.max(axis=0)
            if np.isfinite(hi).all():
                # Fill is a no-op on a finite block, so its moments need no caps: one pass, not two.
                return B.min(axis=0), hi, _moments(plan.apply(B))
            fin = np.isfinite(B)
            return np.where(fin, B, np.inf).min(axis=0), np.where(fin, B, -np.inf).max(axis=0), None

        # Moments are reduced over blocks of BLOCK_ROWS rows, column-major when columns are
        # selected (pairwise sums along each column), merged in block order: the parameters do not
        # depend on the thread count, and are the same bits as earlier releases computed.
        parts = map_blocks(first_pass, n)
        low = np.min([p[0] for p in parts], axis=0).astype(np.float64)
        high = np.max([p[1] for p in parts], axis=0).astype(np.float64)
        empty = ~np.isfinite(low)
        low[empty], high[empty] = 0.0, 0.0
        median[empty] = 0.0

        slices = list(block_slices(n))
        todo = [i for i, p in enumerate(parts) if p[2] is None]
        fill = _Fill.of(median, high)

        def second_pass(i: int) -> tuple[int, np.ndarray, np.ndarray]:
            B = _sign_rule(_gather(raw, rows, slices[i], cols, order="F"), sentinel)
            return _moments(plan.apply(fill.apply(B)))

        late = dict(zip(todo, map_blocks(lambda s: second_pass(todo[s.start]), len(todo), block=1), strict=True))
        count, mean, m2 = 0, np.zeros(len(names)), np.zeros(len(names))
        for i, p in enumerate(parts):
            k, mu, sq = p[2] if p[2] is not None else late[i]
            # Chan et al. pairwise update, in block order: stable and independent of the thread count.
            delta = mu - mean
            total = count + k
            mean = mean + delta * (k / total)
            m2 = m2 + sq + delta**2 * (count * k / total)
            count = total
        sd = np.sqrt(m2 / count)
        scale = np.where((sd > 0) & np.isfinite(sd), sd, 1.0)
        return cls(
            names,
            tuple(bool(v) for v in log),
            tuple(float(v) for v in median),
            tuple(float(v) for v in low),
            tuple(float(v) for v in high),
            tuple(float(v) for v in mean),
            tuple(float(v) for v in scale),
        )

    def transform(
        self, X: np.ndarray, *, rows: np.ndarray | None = None, columns: Sequence[int] | None = None
    ) -> np.ndarray:
        """Map raw features to finite float32 model inputs.

        Parameters
        ----------
        X : ndarray, shape (n, F)
            Raw values in :attr:`feature_names` order (or wider, with ``columns``).
        rows, columns : optional
            Row subset and the column of ``X`` holding each feature, as in :meth:`fit`.

        Returns
        -------
        ndarray of float32, shape (n or len(rows), F)
        """
        X = np.asarray(X)
        cols = _columns(X, self.feature_names, columns)
        n = X.shape[0] if rows is None else len(rows)
        out = empty_rows(n, len(self.feature_names))
        sentinel = np.array([c in SENTINEL_FEATURES for c in self.feature_names])
        plan = _LogPlan.of(np.array(self.log, dtype=bool), sentinel)
        fill = _Fill.of(np.array(self.median), np.array(self.high))
        scale = np.array(self.scale)
        inv = (1.0 / scale).astype(np.float32)
        shift = (-np.array(self.mean) / scale).astype(np.float32)

        def one(s: slice) -> None:
            B = _sign_rule(_gather(X, rows, s, cols), sentinel)
            if B.size and not np.isfinite(B.max()):
                fill.apply(B)
            plan.apply(B)
            with np.errstate(invalid="ignore", over="ignore"):
                np.multiply(B, inv, out=B)
                np.add(B, shift, out=B)
            # After rules 1-3 every value is finite, so clipping alone bounds the result
            # (minimum then maximum: the same values as np.clip, at half its cost).
            np.minimum(B, CLIP, out=B)
            np.maximum(B, -CLIP, out=out[s])

        # Elementwise work: blocks sized to stay in the core's cache (the result does not depend
        # on the block size).
        map_blocks(one, n, block=_cache_rows(len(self.feature_names)))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters (floats as Python floats; ``from_dict`` restores them exactly)."""
        return {
            "kind": _KIND,
            "feature_names": list(self.feature_names),
            "log": list(self.log),
            "median": list(self.median),
            "low": list(self.low),
            "high": list(self.high),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "rules": "nan->median; +-inf->train max/min; Init_Win<0 -> -1, other negatives -> 0; "
            "signed log1p; standardise; clip +-%g" % CLIP,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowTransform:
        """Rebuild a transform written by :meth:`to_dict`.

        Raises
        ------
        ModelError
            The dict is not a FlowTransform of this version or its lists disagree in length.
        """
        if d.get("kind") != _KIND:
            raise ModelError(f"not a stored FlowTransform: kind {d.get('kind')!r}, expected {_KIND!r}.")
        n = len(d["feature_names"])
        keys = ("log", "median", "low", "high", "mean", "scale")
        if any(len(d[k]) != n for k in keys):
            raise ModelError(f"stored FlowTransform is inconsistent: {n} features but parameter lists of other lengths.")
        return cls(
            tuple(d["feature_names"]),
            tuple(bool(v) for v in d["log"]),
            *(tuple(float(v) for v in d[k]) for k in keys[1:]),
        )


def _columns(X: np.ndarray, names: tuple[str, ...], columns: Sequence[int] | None) -> list[int]:
    if X.ndim != 2:
        raise ModelError(f"expected a 2-D feature matrix; got shape {X.shape}.")
    if columns is None:
        if X.shape[1] != len(names):
            raise ModelError(
                f"transform expects {len(names)} columns in the stored feature order; got shape {X.shape}; "
                "fix: pass table.matrix(transform.feature_names)."
            )
        return list(range(len(names)))
    if len(columns) != len(names):
        raise ModelError(f"columns must give one position per feature ({len(names)}); got {len(columns)}.")
    return [int(c) for c in columns]


def _cache_rows(n_cols: int) -> int:
    """Rows per block for elementwise passes: about 1 MB of float32."""
    return max(256, (1 << 18) // max(1, n_cols))


def _gather(
    X: np.ndarray, rows: np.ndarray | None, s: slice, cols: list[int], *, order: str = "C"
) -> np.ndarray:
    """Rows ``rows[s]`` (or ``s``) and columns ``cols`` of ``X`` as a fresh float32 block.

    A column selection comes out in ``order``; a block of every column is always C-ordered.
    """
    if len(cols) == X.shape[1] and cols == list(range(X.shape[1])):
        if rows is None:
            return np.array(X[s], dtype=np.float32, copy=True)
        # np.take copies whole rows, cheaper than fancy indexing for a 2-D gather.
        return np.take(X, rows[s], axis=0).astype(np.float32, copy=False)
    start, stop, _ = s.indices(X.shape[0] if rows is None else len(rows))
    out = np.empty((max(0, stop - start), len(cols)), dtype=np.float32, order=order)
    # NumPy copies a column selection one column at a time: on a tall block every column is a
    # strided sweep out of cache, so select columns on short row runs.
    for a in range(start, stop, _SUB_ROWS):
        sub = slice(a, min(a + _SUB_ROWS, stop))
        part = X[sub] if rows is None else np.take(X, rows[sub], axis=0)
        out[a - start : sub.stop - start] = part[:, cols]
    return out


def _finite_median(col: np.ndarray) -> float:
    fin = col[np.isfinite(col)]
    return float(np.median(fin.astype(np.float64))) if fin.size else 0.0


def _sign_rule(B: np.ndarray, sentinel: np.ndarray) -> np.ndarray:
    """Rule 3 in place on a float block: negatives -> -1 (sentinel columns) or 0."""
    sent = np.flatnonzero(sentinel)
    keep = B[:, sent] if sent.size else None
    # One pass over the block; NaN survives np.maximum and is filled by rule 1.
    np.maximum(B, 0, out=B)
    if keep is not None:
        B[:, sent] = np.where(keep < 0, -1.0, keep)
    return B


def _moments(B: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    mu = B.mean(axis=0, dtype=np.float64)
    d = B - mu.astype(np.float32)
    return B.shape[0], mu, np.einsum("ij,ij->j", d, d, dtype=np.float64)


@dataclass(frozen=True)
class _Fill:
    """Rules 1-2 after rule 3: NaN -> median, +inf -> high (rule 3 already removed -inf)."""

    median: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, median: np.ndarray, high: np.ndarray) -> _Fill:
        return cls(np.asarray(median).astype(np.float32), np.asarray(high).astype(np.float32))

    def apply(self, B: np.ndarray) -> np.ndarray:
        np.copyto(B, self.median, where=np.isnan(B))
        np.copyto(B, self.high, where=np.isposinf(B))
        return B


@dataclass(frozen=True)
class _LogPlan:
    """Rule 4 in place: after rule 3 only sentinel columns can be negative (exactly -1)."""

    log_idx: np.ndarray
    plain: np.ndarray
    sent_cols: np.ndarray

    @classmethod
    def of(cls, log: np.ndarray, sentinel: np.ndarray) -> _LogPlan:
        log_idx = np.flatnonzero(log)
        plain = np.flatnonzero(~np.asarray(log, dtype=bool))
        return cls(log_idx, plain, log_idx[sentinel[log_idx]])

    def apply(self, B: np.ndarray) -> np.ndarray:
        if self.log_idx.size == 0:
            return B
        saved = B[:, self.plain] if self.plain.size else None
        neg = B[:, self.sent_cols] < 0 if self.sent_cols.size else None
        if neg is not None:
            B[:, self.sent_cols] = np.abs(B[:, self.sent_cols])
        # log1p over the whole block in one pass, then put back the few columns that take no log:
        # cheaper than gathering and scattering the log columns.
        np.log1p(B, out=B)
        if saved is not None:
            B[:, self.plain] = saved
        if neg is not None and neg.any():
            sub = B[:, self.sent_cols]
            sub[neg] = -sub[neg]
            B[:, self.sent_cols] = sub
        return B
