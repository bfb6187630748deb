"""Feature importance by permutation and by tree gain, top-k tables and cross-method agreement."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import f1_score, roc_auc_score

from privids._rng import RandomLike, as_generator
from privids.exceptions import ConfigError, DataError

__all__ = [
    "DROPPED_CONSTANT",
    "FeatureImportance",
    "agreement",
    "gain_importance",
    "importance_by_name",
    "permutation_importance",
    "stripped_names",
    "top_k_table",
]

Scorer = Callable[[np.ndarray], np.ndarray]

#: Shown instead of a number for features removed before training because they never vary.
DROPPED_CONSTANT = "dropped (constant)"


def _metric_f1(y: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    return float(f1_score(y, (scores >= threshold).astype(np.int64), zero_division=0.0))


def _metric_roc_auc(y: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    del threshold  # ranking metric: the decision threshold plays no part
    return float(roc_auc_score(y, scores))


# A small explicit registry instead of an if/elif ladder over metric names.
_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, float], float]] = {
    "f1": _metric_f1,
    "roc_auc": _metric_roc_auc,
}


@dataclass(frozen=True)
class FeatureImportance:
    """Importance of each model input under one method, plus the features dropped before training.

    Attributes
    ----------
    method : str
        ``"permutation"``, ``"gain"``, ``"shap"``, ...
    feature_names : tuple of str
        Model input order (stripped names).
    values : ndarray of float64, shape (F,)
        Non-negative-is-important scores, all finite (a feature that never varies gets 0).
    std : ndarray of float64, shape (F,)
        Spread across repeats (0 where the method is deterministic).
    dropped : tuple of str
        Features removed before training (constant columns); reported, never ranked.
    details : dict
        Method parameters (metric, baseline value, repeats, rows used, ...).
    """

    method: str
    feature_names: tuple[str, ...]
    values: np.ndarray
    std: np.ndarray
    dropped: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def ranking(self) -> list[str]:
        """Feature names from most to least important (ties keep model input order)."""
        order = np.argsort(-self.values, kind="stable")
        return [self.feature_names[i] for i in order]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; dropped features are listed with the ``"dropped (constant)"`` marker."""
        rows: list[dict[str, Any]] = [
            {"feature": n, "importance": float(v), "std": float(s)}
            for n, v, s in zip(self.feature_names, self.values, self.std, strict=True)
        ]
        rows += [{"feature": n, "importance": DROPPED_CONSTANT, "std": None} for n in self.dropped]
        return {"method": self.method, "features": rows, "details": dict(self.details)}


def stripped_names(names: Sequence[str]) -> tuple[str, ...]:
    """Feature names without the leading/trailing spaces of raw CIC headers (`` Flow Duration``)."""
    return tuple(" ".join(str(n).split()) for n in names)


def _check_inputs(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str]) -> None:
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise DataError(
            f"permutation importance needs X of shape (n, F) and y of shape (n,); got X {X.shape} and y {y.shape}; "
            "pass one split's X and y."
        )
    if X.shape[1] != len(feature_names):
        raise DataError(
            f"feature_names must name every column of X; got {len(feature_names)} names for {X.shape[1]} columns; "
            "pass PreparedData.feature_names."
        )
    if X.shape[0] == 0:
        raise DataError("permutation importance needs at least one row; got an empty split; use a larger test split.")


def permutation_importance(
    scorer: Scorer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    feature_names: Sequence[str],
    metric: str = "roc_auc",
    threshold: float = 0.5,
    n_repeats: int = 5,
    max_rows: int | None = 5000,
    dropped: Sequence[str] = (),
    rng: RandomLike = None,
) -> FeatureImportance:
    """Drop in F1 or ROC-AUC when one feature's column is shuffled, for any scorer.

    The scorer is treated as a black box (``X -> attack scores``), so this works for the MLP, the
    tree model and DP-trained models alike. Use it on the *test* split: importance on training
    data measures what the model memorised, not what generalises.

    Parameters
    ----------
    scorer : callable
        Maps a float32 array (n, F) to scores (n,), higher meaning "attack".
    X : ndarray, shape (n, F)
        Transformed features of the evaluation split.
    y : ndarray of int, shape (n,)
        Binary targets (0 BENIGN, 1 attack).
    feature_names : sequence of str
        Column names of ``X`` in order.
    metric : {"f1", "roc_auc"}, default="roc_auc"
    threshold : float, default=0.5
        Decision threshold on the scores, used by ``"f1"`` only (pass the model's stored one).
    n_repeats : int, default=5
        Shuffles per feature; the mean drop is reported with its standard deviation.
    max_rows : int or None, default=5000
        Evaluate on a seeded subsample of at most this many rows (None: all rows).
    dropped : sequence of str, default=()
        Constant features removed before training, reported as ``"dropped (constant)"``.
    rng : int, numpy.random.Generator or None, default=None
        Source of the subsample and the shuffles.

    Returns
    -------
    FeatureImportance
        ``values[j]`` is the mean of ``metric(unshuffled) - metric(column j shuffled)``.

    Raises
    ------
    ConfigError
        Unknown metric or non-positive ``n_repeats``.
    DataError
        Shapes that do not match, or ``"roc_auc"`` on a split holding a single class.

    Notes
    -----
    A feature that is constant in ``X`` gets exactly 0: shuffling it leaves ``X`` unchanged.
    Correlated features share credit, so each one alone may look unimportant.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], dtype=np.float32)
    >>> y = np.array([0, 0, 1, 1])
    >>> imp = permutation_importance(lambda a: a[:, 0], X, y, feature_names=("a", "b"), rng=0)
    >>> float(imp.values[1])
    0.0
    """
    if metric not in _METRICS:
        raise ConfigError(f"metric must be one of {sorted(_METRICS)}; got {metric!r}.")
    if n_repeats < 1:
        raise ConfigError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    _check_inputs(X, y, feature_names)
    gen = as_generator(rng)
    if max_rows is not None and X.shape[0] > max_rows:
        keep = np.sort(gen.choice(X.shape[0], size=max_rows, replace=False))
        X, y = X[keep], y[keep]
    if metric == "roc_auc" and np.unique(y).size < 2:
        raise DataError(
            f"ROC-AUC needs both BENIGN and attack rows; got only class {int(y[0])} in {y.size} rows; "
            "use metric='f1' or a split with both classes."
        )
    score_fn = _METRICS[metric]
    base = score_fn(y, np.asarray(scorer(X), dtype=np.float64).reshape(-1), threshold)
    drops = np.zeros((X.shape[1], n_repeats), dtype=np.float64)
    work = X.copy()
    for j in range(X.shape[1]):
        column = X[:, j]
        if np.all(column == column[0]):
            continue  # shuffling a constant column cannot change any score
        for r in range(n_repeats):
            work[:, j] = column[gen.permutation(column.shape[0])]
            permuted = np.asarray(scorer(work), dtype=np.float64).reshape(-1)
            drops[j, r] = base - score_fn(y, permuted, threshold)
        work[:, j] = column
    return FeatureImportance(
        method="permutation",
        feature_names=stripped_names(feature_names),
        values=drops.mean(axis=1),
        std=drops.std(axis=1),
        dropped=stripped_names(dropped),
        details={"metric": metric, "baseline": base, "n_repeats": n_repeats, "rows": int(X.shape[0])},
    )


def gain_importance(
    gains: Sequence[float] | np.ndarray,
    *,
    feature_names: Sequence[str],
    dropped: Sequence[str] = (),
    normalise: bool = True,
) -> FeatureImportance:
    """Total split gain per feature of a tree ensemble (LightGBM ``importance_type="gain"``).

    Parameters
    ----------
    gains : array-like of float, shape (F,)
        E.g. ``booster.feature_importance(importance_type="gain")``.
    feature_names : sequence of str
    dropped : sequence of str, default=()
        Constant features removed before training.
    normalise : bool, default=True
        Divide by the total so the values are shares summing to 1 (0 everywhere for a stump-only model).

    Returns
    -------
    FeatureImportance

    Raises
    ------
    DataError
        A gain vector whose length does not match ``feature_names``.

    Examples
    --------
    >>> gain_importance([3.0, 1.0, 0.0], feature_names=("a", "b", "c")).values.tolist()
    [0.75, 0.25, 0.0]
    """
    values = np.nan_to_num(np.asarray(gains, dtype=np.float64).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
    if values.shape[0] != len(feature_names):
        raise DataError(
            f"gain vector must have one entry per feature; got {values.shape[0]} gains for {len(feature_names)} "
            "features; pass the booster trained on these features."
        )
    total = values.sum()
    if normalise and total > 0:
        values = values / total
    return FeatureImportance(
        method="gain",
        feature_names=stripped_names(feature_names),
        values=values,
        std=np.zeros_like(values),
        dropped=stripped_names(dropped),
        details={"normalised": normalise, "total_gain": float(total)},
    )


def top_k_table(results: Sequence[FeatureImportance], *, k: int = 5) -> list[dict[str, Any]]:
    """One row per rank: the top-``k`` feature of each method, side by side.

    Parameters
    ----------
    results : sequence of FeatureImportance
        One per method, over the same features.
    k : int, default=5

    Returns
    -------
    list of dict
        ``[{"rank": 1, "permutation": "Flow Duration", "permutation_value": 0.12, ...}, ...]``.

    Raises
    ------
    ConfigError
        Non-positive ``k``.

    Examples
    --------
    >>> g = gain_importance([1.0, 3.0], feature_names=("a", "b"))
    >>> top_k_table([g], k=1)
    [{'rank': 1, 'gain': 'b', 'gain_value': 0.75}]
    """
    if k < 1:
        raise ConfigError(f"top k must be a positive integer; got {k!r}.")
    rows: list[dict[str, Any]] = []
    n = min(k, max((len(r.feature_names) for r in results), default=0))
    for rank in range(n):
        row: dict[str, Any] = {"rank": rank + 1}
        for res in results:
            order = np.argsort(-res.values, kind="stable")
            if rank < order.size:
                row[res.method] = res.feature_names[order[rank]]
                row[f"{res.method}_value"] = float(res.values[order[rank]])
        rows.append(row)
    return rows


def _aligned(a: FeatureImportance, b: FeatureImportance) -> tuple[list[str], np.ndarray, np.ndarray]:
    common = [n for n in a.feature_names if n in set(b.feature_names)]
    ia = {n: i for i, n in enumerate(a.feature_names)}
    ib = {n: i for i, n in enumerate(b.feature_names)}
    return common, a.values[[ia[n] for n in common]], b.values[[ib[n] for n in common]]


def agreement(results: Sequence[FeatureImportance], *, k: int = 5) -> list[dict[str, Any]]:
    """Pairwise agreement of importance methods: top-``k`` overlap and Spearman rank correlation.

    Parameters
    ----------
    results : sequence of FeatureImportance
    k : int, default=5

    Returns
    -------
    list of dict
        ``{"a", "b", "overlap", "shared", "spearman"}`` per pair; ``overlap`` is
        ``|top_k(a) & top_k(b)| / k``; ``spearman`` is None when a method gives every feature the
        same value (the correlation is undefined there, and NaN is never reported).

    Examples
    --------
    >>> a = gain_importance([3.0, 2.0, 1.0], feature_names=("x", "y", "z"))
    >>> b = gain_importance([1.0, 2.0, 3.0], feature_names=("x", "y", "z"))
    >>> row = agreement([a, b], k=1)[0]
    >>> row["overlap"], row["spearman"]
    (0.0, -1.0)
    """
    if k < 1:
        raise ConfigError(f"top k must be a positive integer; got {k!r}.")
    rows: list[dict[str, Any]] = []
    for i, a in enumerate(results):
        for b in results[i + 1 :]:
            names, va, vb = _aligned(a, b)
            kk = min(k, len(names))
            top_a = {names[j] for j in np.argsort(-va, kind="stable")[:kk]}
            top_b = {names[j] for j in np.argsort(-vb, kind="stable")[:kk]}
            rho: float | None = None
            if len(names) > 1 and np.ptp(va) > 0 and np.ptp(vb) > 0:
                rho = float(spearmanr(va, vb).statistic)
            rows.append(
                {
                    "a": a.method,
                    "b": b.method,
                    "overlap": len(top_a & top_b) / kk if kk else 0.0,
                    "shared": sorted(top_a & top_b),
                    "spearman": rho,
                }
            )
    return rows


def importance_by_name(result: FeatureImportance) -> Mapping[str, float | str]:
    """Name -> importance, with dropped features mapped to ``"dropped (constant)"``."""
    out: dict[str, float | str] = {n: float(v) for n, v in zip(result.feature_names, result.values, strict=True)}
    out.update({n: DROPPED_CONSTANT for n in result.dropped})
    return out
