"""Decision thresholds chosen on the validation split only (best F1, or a target false-alarm rate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from privids.exceptions import ConfigError, DataError

__all__ = ["THRESHOLD_METHODS", "choose_threshold", "operating_points"]


def operating_points(y_val: Any, scores_val: Any) -> dict[str, np.ndarray]:
    """Every distinct operating point of ``score >= t`` on a labelled split.

    Parameters
    ----------
    y_val : array of int, shape (n,)
        0 BENIGN, 1 attack.
    scores_val : array of float, shape (n,)

    Returns
    -------
    dict of str to ndarray
        ``threshold`` (distinct scores, descending), ``tp`` and ``fp`` (counts flagged at that
        threshold), plus scalars ``positives`` and ``negatives``.

    Examples
    --------
    >>> op = operating_points([0, 1, 1], [0.2, 0.7, 0.7])
    >>> op["threshold"].tolist(), op["tp"].tolist(), op["fp"].tolist()
    ([0.7, 0.2], [2, 2], [0, 1])
    """
    y = np.asarray(y_val)
    s = np.asarray(scores_val, dtype=np.float64)
    if y.dtype.kind not in "biu" or y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise DataError(f"y_val must be 1-D integer 0/1 targets; got dtype {y.dtype}, shape {y.shape}.")
    if s.shape != y.shape:
        raise DataError(f"scores_val must be 1-D with one score per row; got shape {s.shape} for {y.shape[0]} rows.")
    if not np.isfinite(s).all():
        raise DataError(f"scores_val must be finite; got {int((~np.isfinite(s)).sum())} non-finite values.")
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order].astype(np.int64)
    # Last position of each run of equal scores: flagging "score >= t" takes whole runs.
    ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.shape[0] - 1] if s.size else np.zeros(0, int)
    tp = np.cumsum(y_sorted)[ends]
    return {
        "threshold": s_sorted[ends],
        "tp": tp,
        "fp": ends + 1 - tp,
        "positives": np.int64(y_sorted.sum()),
        "negatives": np.int64(y_sorted.shape[0] - y_sorted.sum()),
    }


def _best_f1(op: dict[str, np.ndarray], target_fpr: float) -> int:
    if op["positives"] == 0:
        raise DataError("method='f1' needs attacks in the validation split; got none; use a stratified split.")
    f1 = 2 * op["tp"] / (op["tp"] + op["fp"] + op["positives"])
    # argmax takes the first maximum, i.e. the highest threshold (fewest alarms) among ties.
    return int(np.argmax(f1))


def _target_fpr(op: dict[str, np.ndarray], target_fpr: float) -> int:
    if op["negatives"] == 0:
        raise DataError("method='fpr' needs BENIGN flows in the validation split; got none; use a stratified split.")
    feasible = np.flatnonzero(op["fp"] <= target_fpr * op["negatives"])
    # FPR only grows as the threshold falls, so the last feasible point has the most recall.
    return int(feasible[-1]) if feasible.size else -1


THRESHOLD_METHODS: dict[str, Callable[[dict[str, np.ndarray], float], int]] = {
    "f1": _best_f1,
    "fpr": _target_fpr,
}


def choose_threshold(y_val: Any, scores_val: Any, *, method: str = "f1", target_fpr: float = 0.01) -> float:
    """Pick the decision threshold on the validation split; apply it unchanged to test.

    Parameters
    ----------
    y_val : array of int, shape (n,)
        Validation targets (0 BENIGN, 1 attack). Never pass test rows here.
    scores_val : array of float, shape (n,)
        Attack scores of the same rows.
    method : {"f1", "fpr"}, default="f1"
        ``"f1"``: maximise validation F1 (ties go to the higher threshold). ``"fpr"``: the
        lowest threshold whose validation false-alarm rate is at most ``target_fpr``.
    target_fpr : float, default=0.01
        Only for ``method="fpr"``.

    Returns
    -------
    float
        Flag a flow when ``score >= threshold``. The value sits midway between the chosen
        validation score and the next lower one, so the validation decisions are exactly those
        of the chosen operating point while unseen scores get a margin on both sides.

    Raises
    ------
    ConfigError
        Unknown method or ``target_fpr`` outside [0, 1).
    DataError
        No attacks (f1) or no benign flows (fpr) in the validation split, or malformed inputs.

    Notes
    -----
    When no threshold meets ``target_fpr`` (a benign flow has the top score), the result is just
    above the largest score: nothing is flagged on validation.

    Examples
    --------
    >>> choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9])
    0.5
    >>> choose_threshold([0, 0, 0, 1], [0.1, 0.2, 0.5, 0.9], method="fpr", target_fpr=0.0)
    0.7
    """
    if method not in THRESHOLD_METHODS:
        raise ConfigError(f"threshold method must be one of {sorted(THRESHOLD_METHODS)}; got {method!r}.")
    if not 0 <= target_fpr < 1:
        raise ConfigError(f"target_fpr must be in [0, 1); got {target_fpr!r}.")
    op = operating_points(y_val, scores_val)
    t = op["threshold"]
    if t.size == 0:
        raise DataError("choose_threshold needs at least one validation row; got an empty split.")
    j = THRESHOLD_METHODS[method](op, target_fpr)
    if j < 0:
        return float(np.nextafter(t[0], np.inf))
    if j + 1 == t.size:
        return float(t[j])
    mid = float((t[j] + t[j + 1]) / 2)
    # Neighbouring floats can make the midpoint round onto the lower score, which would flag it.
    return mid if mid > t[j + 1] else float(t[j])
