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

from privids.exceptions import ModelError

__all__ = ["CLIP", "SENTINEL_FEATURES", "FlowTransform"]

CLIP = 1e4
SENTINEL_FEATURES = frozenset({"Init_Win_bytes_forward", "Init_Win_bytes_backward"})
_NO_LOG = frozenset({"Destination Port"})
_KIND = "privids.FlowTransform/1"


def _default_log(name: str) -> bool:
    return name not in _NO_LOG and "Flag" not in name


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


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
    def fit(cls, raw: np.ndarray, feature_names: Sequence[str], *, log_transform: bool = True) -> FlowTransform:
        """Learn the parameters from raw training features.

        Parameters
        ----------
        raw : ndarray, shape (n, F)
            Raw training values in ``feature_names`` order (inf/NaN allowed).
        feature_names : sequence of str
        log_transform : bool, default=True

        Returns
        -------
        FlowTransform
        """
        names = tuple(feature_names)
        if raw.ndim != 2 or raw.shape[1] != len(names):
            raise ModelError(f"fit needs an (n, {len(names)}) matrix; got shape {raw.shape}.")
        log = tuple(log_transform and _default_log(n) for n in names)
        med, low, high, mean, scale = [], [], [], [], []
        for j, name in enumerate(names):
            col = _sign_rule(raw[:, j].astype(np.float64), name)
            fin = col[np.isfinite(col)]
            m = float(np.median(fin)) if fin.size else 0.0
            lo = float(fin.min()) if fin.size else 0.0
            hi = float(fin.max()) if fin.size else 0.0
            x = _fill(col, m, lo, hi)
            if log[j]:
                x = _signed_log1p(x)
            mu, sd = (float(x.mean()), float(x.std())) if x.size else (0.0, 0.0)
            med.append(m), low.append(lo), high.append(hi), mean.append(mu)
            scale.append(sd if sd > 0 and np.isfinite(sd) else 1.0)
        return cls(names, log, tuple(med), tuple(low), tuple(high), tuple(mean), tuple(scale))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map raw features ``(n, F)`` in :attr:`feature_names` order to finite float32 inputs."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ModelError(
                f"transform expects {len(self.feature_names)} columns in the stored feature order; got shape "
                f"{X.shape}; fix: pass table.matrix(transform.feature_names)."
            )
        out = np.empty(X.shape, dtype=np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            for j, name in enumerate(self.feature_names):
                x = _fill(_sign_rule(X[:, j].astype(np.float64), name), self.median[j], self.low[j], self.high[j])
                if self.log[j]:
                    x = _signed_log1p(x)
                z = (x - self.mean[j]) / self.scale[j]
                out[:, j] = np.clip(np.nan_to_num(z, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP)
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


def _sign_rule(col: np.ndarray, name: str) -> np.ndarray:
    if name in SENTINEL_FEATURES:
        return np.where(col < 0, -1.0, col)
    return np.where(col < 0, 0.0, col)


def _fill(col: np.ndarray, median: float, low: float, high: float) -> np.ndarray:
    col = np.where(np.isnan(col), median, col)
    col = np.where(col == np.inf, high, col)
    return np.where(col == -np.inf, low, col)
