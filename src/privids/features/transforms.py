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

from privids.data.row_blocks import block_slices, map_blocks, take_rows
from privids.exceptions import ModelError

__all__ = ["CLIP", "MEDIAN_SAMPLE", "SENTINEL_FEATURES", "FlowTransform"]

CLIP = 1e4
MEDIAN_SAMPLE = 200_000
SENTINEL_FEATURES = frozenset({"Init_Win_bytes_forward", "Init_Win_bytes_backward"})
_NO_LOG = frozenset({"Destination Port"})
_KIND = "privids.FlowTransform/1"


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
        sample = _sign_rule(take_rows(raw, sample_rows, slice(None), cols).astype(np.float32, copy=False), sentinel)
        median = np.array([_finite_median(sample[:, j]) for j in range(len(names))])

        log_idx = np.flatnonzero(log)
        sent_log = np.flatnonzero(sentinel[log_idx])

        def first_pass(s: slice) -> tuple[np.ndarray, np.ndarray, tuple[int, np.ndarray, np.ndarray] | None]:
            B = _sign_rule(take_rows(raw, rows, s, cols).astype(np.float32, copy=False), sentinel)
            if np.isfinite(B).all():
                # Fill is a no-op on a finite block, so its moments need no caps: one pass, not two.
                lo, hi = B.min(axis=0), B.max(axis=0)
                return lo, hi, _moments(_log_block(B, log_idx, sent_log))
            fin = np.isfinite(B)
            return np.where(fin, B, np.inf).min(axis=0), np.where(fin, B, -np.inf).max(axis=0), None

        parts = map_blocks(first_pass, n)
        low = np.min([p[0] for p in parts], axis=0).astype(np.float64)
        high = np.max([p[1] for p in parts], axis=0).astype(np.float64)
        empty = ~np.isfinite(low)
        low[empty], high[empty] = 0.0, 0.0
        median[empty] = 0.0

        slices = list(block_slices(n))
        todo = [i for i, p in enumerate(parts) if p[2] is None]

        def second_pass(i: int) -> tuple[int, np.ndarray, np.ndarray]:
            B = _apply_pre(take_rows(raw, rows, slices[i], cols), sentinel, median, low, high, log)
            return _moments(B)

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
        out = np.empty((n, len(self.feature_names)), dtype=np.float32)
        sentinel = np.array([c in SENTINEL_FEATURES for c in self.feature_names])
        median, low, high = np.array(self.median), np.array(self.low), np.array(self.high)
        mean, scale, log = np.array(self.mean), np.array(self.scale), np.array(self.log, dtype=bool)

        inv = (1.0 / scale).astype(np.float32)
        shift = (-mean / scale).astype(np.float32)

        def one(s: slice) -> None:
            B = _apply_pre(take_rows(X, rows, s, cols), sentinel, median, low, high, log)
            with np.errstate(invalid="ignore", over="ignore"):
                np.multiply(B, inv, out=B)
                np.add(B, shift, out=B)
            # After rules 1-3 every value is finite, so clipping alone bounds the result.
            np.clip(B, -CLIP, CLIP, out=out[s])

        map_blocks(one, n)
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


def _log_block(B: np.ndarray, log_idx: np.ndarray, sent_log: np.ndarray) -> np.ndarray:
    """Rule 4 in place: after rule 3 only sentinel columns can be negative (exactly -1)."""
    if log_idx.size == 0:
        return B
    n_cols = B.shape[1]
    plain = np.setdiff1d(np.arange(n_cols), log_idx)
    saved = B[:, plain] if plain.size else None
    sent_cols = log_idx[sent_log]
    neg = B[:, sent_cols] < 0 if sent_cols.size else None
    if neg is not None:
        B[:, sent_cols] = np.abs(B[:, sent_cols])
    # log1p over the whole block in one pass, then put back the few columns that take no log:
    # cheaper than gathering and scattering the log columns.
    np.log1p(B, out=B)
    if saved is not None:
        B[:, plain] = saved
    if neg is not None and neg.any():
        sub = B[:, sent_cols]
        sub[neg] = -sub[neg]
        B[:, sent_cols] = sub
    return B


def _apply_pre(
    block: np.ndarray, sentinel: np.ndarray, median: np.ndarray, low: np.ndarray, high: np.ndarray, log: np.ndarray
) -> np.ndarray:
    """Rules 1-4 on a raw block (float32 out)."""
    B = _sign_rule(block.astype(np.float32, copy=False), sentinel)
    if not np.isfinite(B).all():
        shape = B.shape
        B = np.where(np.isnan(B), np.broadcast_to(median, shape), B)
        B = np.where(B == np.inf, np.broadcast_to(high, shape), B)
        B = np.where(B == -np.inf, np.broadcast_to(low, shape), B).astype(np.float32)
    idx = np.flatnonzero(log)
    return _log_block(B, idx, np.flatnonzero(sentinel[idx]))
