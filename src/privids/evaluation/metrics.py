"""Pure detection metrics: binary report with per-attack-label detection rates, multi-class report.

Every undefined quantity is stated, never silently zero: an overall rate without its denominator
is ``None`` (JSON ``null``, shown as "n/a"), and a label or class without test rows is reported
as ``"n/a (support 0)"`` and left out of macro averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from privids.exceptions import DataError

__all__ = ["BENIGN", "NO_SUPPORT", "attack_scores", "binary_report", "multiclass_report"]

BENIGN = "BENIGN"
"""The canonical label (and family) name of normal traffic."""

NO_SUPPORT = "n/a (support 0)"
"""What a per-label or per-class rate says when the evaluated split has no rows of it."""


def _ratio(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def _binary_targets(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true)
    if y.dtype.kind not in "biu":
        raise DataError(
            f"y_true must be integer 0/1 targets; got dtype {y.dtype}; string labels go in labels=, "
            "and multi-class names in multiclass_report(class_names=...)."
        )
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise DataError(f"y_true must be a 1-D array of 0 (BENIGN) / 1 (attack); got values {np.unique(y)[:5]}.")
    return y.astype(np.int64)


def _per_label(
    labels: np.ndarray, y: np.ndarray, flagged: np.ndarray, known_labels: Sequence[str] | None
) -> dict[str, dict[str, Any]]:
    names = set(map(str, labels)) | set(known_labels or ())
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(names - {BENIGN}):
        mask = labels == name
        support = int(mask.sum())
        if support and bool((y[mask] == 0).any()):
            raise DataError(
                f"label {name!r} has rows with y_true=0; got an attack label on BENIGN targets; "
                "labels and y_true must come from the same split, in the same row order."
            )
        detected = int(flagged[mask].sum())
        out[name] = {
            "support": support,
            "detected": detected,
            "detection_rate": detected / support if support else NO_SUPPORT,
        }
    return out


def binary_report(
    y_true: Any,
    scores: Any,
    *,
    threshold: float,
    labels: Any = None,
    known_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Detection metrics at one decision threshold, plus threshold-free ROC-AUC and PR-AUC.

    A flow is flagged as an attack when ``score >= threshold``.

    Parameters
    ----------
    y_true : array of int, shape (n,)
        0 BENIGN, 1 attack.
    scores : array of float, shape (n,)
        Attack scores (P(attack) for privids models).
    threshold : float
        Chosen on the validation split (:func:`privids.evaluation.thresholds.choose_threshold`).
    labels : array of str, shape (n,), default=None
        Canonical attack labels of the same rows, for the per-label detection rates.
    known_labels : sequence of str, default=None
        Every label the model was trained on; those absent from ``labels`` are listed as
        ``"n/a (support 0)"`` rather than dropped, so a reader sees what was not tested.

    Returns
    -------
    dict
        ``n``, ``support`` (benign/attack), ``threshold``, ``accuracy``, ``precision``, ``recall``
        (detection rate), ``f1``, ``fpr`` (false-alarm rate), ``roc_auc``, ``pr_auc`` (average
        precision), ``confusion`` (tn/fp/fn/tp), ``confusion_matrix`` (rows true BENIGN/attack,
        columns predicted), ``per_label`` (only when ``labels`` is given) and ``notes``.

    Raises
    ------
    DataError
        Non-binary or string targets, 2-D scores, mismatched lengths, or labels inconsistent
        with the targets.

    Notes
    -----
    Undefined rates are ``None``: precision when nothing is flagged, recall without attacks,
    FPR without benign rows, ROC-AUC/PR-AUC when only one class is present. F1 is
    ``2 tp / (2 tp + fp + fn)``, which is defined whenever either side has a positive.

    Examples
    --------
    >>> r = binary_report([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], threshold=0.5)
    >>> r["confusion"], r["accuracy"], r["roc_auc"]
    ({'tn': 1, 'fp': 1, 'fn': 1, 'tp': 1}, 0.5, 0.75)
    """
    y = _binary_targets(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.shape[0] != y.shape[0]:
        raise DataError(
            f"scores must be 1-D attack scores with one per row; got shape {s.shape} for {y.shape[0]} rows; "
            "for class probabilities use attack_scores(proba, class_names=...) first."
        )
    if not np.isfinite(s).all():
        raise DataError(f"scores must be finite; got {int((~np.isfinite(s)).sum())} non-finite values.")
    flagged = s >= threshold
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn = int((~flagged & (y == 1)).sum())
    tn = int((~flagged & (y == 0)).sum())
    n = int(y.shape[0])
    both = tp + fn > 0 and tn + fp > 0
    notes: list[str] = []
    if not both:
        notes.append("only one class present: ROC-AUC and PR-AUC are undefined (None)")
    report: dict[str, Any] = {
        "n": n,
        "support": {"benign": tn + fp, "attack": tp + fn},
        "threshold": float(threshold),
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "fpr": _ratio(fp, fp + tn),
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "pr_auc": float(average_precision_score(y, s)) if both else None,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "notes": notes,
    }
    if labels is not None:
        lab = np.asarray(labels).astype(str)
        if lab.shape != y.shape:
            raise DataError(f"labels must have one entry per row; got {lab.shape[0]} labels for {n} rows.")
        if bool(((lab == BENIGN) & (y == 1)).any()):
            raise DataError(f"rows labelled {BENIGN!r} have y_true=1; got mismatched labels and targets.")
        report["per_label"] = _per_label(lab, y, flagged, known_labels)
    return report


def attack_scores(proba: Any, *, class_names: Sequence[str], benign: str = BENIGN) -> np.ndarray:
    """Binary attack scores from class probabilities: ``1 - P(benign)``.

    Parameters
    ----------
    proba : array of float, shape (n, K)
    class_names : sequence of str
        The model's label map (column order of ``proba``).
    benign : str, default="BENIGN"

    Raises
    ------
    DataError
        ``benign`` is not one of ``class_names`` or the widths differ.

    Examples
    --------
    >>> attack_scores([[0.9, 0.1], [0.2, 0.8]], class_names=["BENIGN", "DDoS"]).round(2).tolist()
    [0.1, 0.8]
    """
    p = np.asarray(proba, dtype=np.float64)
    names = list(class_names)
    if p.ndim != 2 or p.shape[1] != len(names):
        raise DataError(f"proba must have shape (n, {len(names)}) for class_names {names}; got {p.shape}.")
    if benign not in names:
        raise DataError(f"class_names must contain {benign!r} to derive attack scores; got {names}.")
    return 1.0 - p[:, names.index(benign)]


def multiclass_report(true_names: Any, pred: Any, *, class_names: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1, confusion matrix and macro-F1 for a multi-class detector.

    Parameters
    ----------
    true_names : array of str, shape (n,)
        True class names (attack families), each one of ``class_names``.
    pred : array of int, shape (n,), or array of float, shape (n, K)
        Predicted class indices into ``class_names``, or class probabilities (argmax is taken).
    class_names : sequence of str
        The label map stored with the model; it turns indices into names, so string labels and
        integer predictions are never compared directly.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``macro_rule``,
        ``excluded_from_macro`` (classes without support), ``per_class`` (support, predicted,
        precision, recall, f1) and ``confusion_matrix`` (rows true, columns predicted, in
        ``class_names`` order).

    Raises
    ------
    DataError
        True names outside ``class_names``, integer true labels, predictions out of range or
        mismatched lengths.

    Notes
    -----
    Macro-F1 rule: the unweighted mean of F1 over classes with at least one true row in the
    evaluated split. A class with no support has no defined recall or F1; it is reported as
    ``"n/a (support 0)"`` and excluded; rows wrongly predicted as that class still count
    against the recall of their true classes. A supported class that is never predicted has
    F1 = 0 and stays in the mean.

    Examples
    --------
    >>> r = multiclass_report(["BENIGN", "DDoS", "DDoS"], [0, 1, 0], class_names=["BENIGN", "DDoS", "PortScan"])
    >>> round(r["macro_f1"], 4), r["excluded_from_macro"]
    (0.6667, ['PortScan'])
    """
    names = [str(c) for c in class_names]
    k = len(names)
    t = np.asarray(true_names)
    if t.dtype.kind in "biuf":
        raise DataError(
            f"true_names must be class names (str); got dtype {t.dtype}; map indices through the model's "
            "label map instead of mixing integer and string labels."
        )
    t = t.astype(str)
    lookup = {c: i for i, c in enumerate(names)}
    unknown = sorted(set(t.tolist()) - set(names))
    if unknown:
        raise DataError(f"true classes {unknown} are not in the model's label map {names}; retrain with them.")
    ti = np.fromiter((lookup[c] for c in t), dtype=np.int64, count=t.shape[0])
    p = np.asarray(pred)
    if p.ndim == 2:
        if p.shape[1] != k:
            raise DataError(f"probabilities must have {k} columns (one per class); got shape {p.shape}.")
        p = p.argmax(axis=1)
    if p.shape != ti.shape or p.dtype.kind not in "biu":
        raise DataError(f"pred must be {ti.shape[0]} integer class indices; got shape {p.shape}, dtype {p.dtype}.")
    if p.size and (p.min() < 0 or p.max() >= k):
        raise DataError(f"predicted indices must lie in [0, {k}); got range [{p.min()}, {p.max()}].")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (ti, p), 1)
    per_class: dict[str, dict[str, Any]] = {}
    f1s: list[float] = []
    weights: list[int] = []
    for i, name in enumerate(names):
        tp = int(cm[i, i])
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        entry: dict[str, Any] = {
            "support": support,
            "predicted": predicted,
            "precision": tp / predicted if predicted else None,
        }
        if support:
            f1 = 2 * tp / (support + predicted)
            entry.update(recall=tp / support, f1=f1)
            f1s.append(f1)
            weights.append(support)
        else:
            entry.update(recall=NO_SUPPORT, f1=NO_SUPPORT)
        per_class[name] = entry
    n = int(ti.shape[0])
    return {
        "n": n,
        "accuracy": float(np.trace(cm)) / n if n else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "weighted_f1": float(np.average(f1s, weights=weights)) if f1s else None,
        "macro_rule": "mean F1 over classes with support > 0 in this split; support-0 classes excluded",
        "excluded_from_macro": [c for c in names if per_class[c]["support"] == 0],
        "per_class": per_class,
        "class_names": names,
        "confusion_matrix": cm.tolist(),
    }
