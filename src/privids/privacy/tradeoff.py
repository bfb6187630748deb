"""The privacy/utility trade-off: one DP-SGD model per epsilon plus the non-private MLP, on the same splits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from privids._rng import RandomLike, as_generator, child_seed
from privids.config import PrivacyConfig, TrainConfig
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError, DataError
from privids.privacy.accounting import PrivacySpent
from privids.privacy.dp_sgd import train_mlp_dp

__all__ = ["TradeoffPoint", "TradeoffResult", "detection_metrics", "f1_threshold", "run_tradeoff"]

_log = logging.getLogger(__name__)


def f1_threshold(y_val: np.ndarray, scores_val: np.ndarray) -> float:
    """The score threshold that maximises F1 on the validation split (flag when ``score >= t``).

    Evaluation metrics live in a lower layer, so this module carries its own threshold search:
    every distinct validation score is a candidate; ties go to the higher threshold.

    Parameters
    ----------
    y_val : ndarray of int, shape (n,)
        0 BENIGN, 1 attack; must contain at least one attack.
    scores_val : ndarray of float, shape (n,)

    Returns
    -------
    float

    Examples
    --------
    >>> f1_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9]))
    0.6
    """
    y = np.asarray(y_val).astype(bool)
    s = np.asarray(scores_val, dtype=np.float64)
    if not y.any():
        raise DataError("the validation split has no attacks; got only BENIGN rows. A threshold cannot be tuned for F1.")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    # Only the last position of each run of equal scores is a reachable operating point.
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    f1 = 2 * tp / (tp + fp + y.sum())
    f1 = np.where(last, f1, -1.0)
    best = int(np.flatnonzero(f1 == f1.max())[0])
    return float(s_sorted[best])


def detection_metrics(y: np.ndarray, scores: np.ndarray, labels: np.ndarray, *, threshold: float) -> dict[str, Any]:
    """F1, precision, recall, FPR and per-attack-label recall at one threshold.

    Parameters
    ----------
    y : ndarray of int, shape (n,)
    scores : ndarray of float, shape (n,)
    labels : ndarray of str, shape (n,)
        Canonical attack labels (``"BENIGN"`` for benign rows).
    threshold : float

    Returns
    -------
    dict
        ``f1``, ``precision``, ``recall``, ``fpr`` (``nan`` when undefined), ``per_label_recall``
        and ``per_label_support`` over the attack labels present.

    Examples
    --------
    >>> m = detection_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.7, 0.6, 0.2]),
    ...                       np.array(["BENIGN", "BENIGN", "DDoS", "PortScan"]), threshold=0.5)
    >>> m["f1"], m["fpr"], m["per_label_recall"]
    (0.5, 0.5, {'DDoS': 1.0, 'PortScan': 0.0})
    """
    truth = np.asarray(y).astype(bool)
    flagged = np.asarray(scores) >= threshold
    tp = int((flagged & truth).sum())
    fp = int((flagged & ~truth).sum())
    fn = int((~flagged & truth).sum())
    tn = int((~flagged & ~truth).sum())
    lab = np.asarray(labels).astype(str)
    per_label: dict[str, float] = {}
    support: dict[str, int] = {}
    for name in sorted(set(lab[truth].tolist())):
        rows = lab == name
        support[name] = int(rows.sum())
        per_label[name] = float(flagged[rows].mean())
    return {
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "fpr": fp / (fp + tn) if fp + tn else float("nan"),
        "per_label_recall": per_label,
        "per_label_support": support,
    }


@dataclass(frozen=True)
class TradeoffPoint:
    """One trained model of the study.

    Attributes
    ----------
    target_epsilon : float or None
        The budget asked for; None for the non-private model.
    spent : PrivacySpent or None
        What the DP run spent (None when non-private).
    threshold : float
        Chosen on the validation split by F1.
    val_f1 : float
    test : dict
        :func:`detection_metrics` on the test split.
    """

    target_epsilon: float | None
    spent: PrivacySpent | None
    threshold: float
    val_f1: float
    test: dict[str, Any]

    @property
    def epsilon(self) -> float:
        """Epsilon spent (``inf`` for the non-private model)."""
        return self.spent.epsilon if self.spent is not None else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "target_epsilon": self.target_epsilon,
            "epsilon": None if self.spent is None else self.spent.epsilon,
            "spent": None if self.spent is None else self.spent.to_dict(),
            "threshold": self.threshold,
            "val_f1": self.val_f1,
            "test": self.test,
        }


@dataclass(frozen=True)
class TradeoffResult:
    """Every point of the trade-off study, non-private first, then by increasing epsilon.

    Attributes
    ----------
    points : tuple of TradeoffPoint
    n_train : int
    privacy : dict
        The PrivacyConfig the DP models were trained with (before each budget was set).
    synthetic : bool
        True when the data were the generated demo flows.
    attack_labels : tuple of str
        Attack labels in the test split, rarest first (where DP hurts first).
    """

    points: tuple[TradeoffPoint, ...]
    n_train: int
    privacy: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False
    attack_labels: tuple[str, ...] = ()

    @property
    def baseline(self) -> TradeoffPoint:
        """The non-private model."""
        return self.points[0]

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per model: epsilon, sigma, F1, recall, FPR, F1 gap and each label's recall."""
        base_f1 = self.baseline.test["f1"]
        out = []
        for p in self.points:
            row: dict[str, Any] = {
                "model": "non-private" if p.spent is None else f"DP eps={p.target_epsilon:g}",
                "epsilon": None if p.spent is None else round(p.spent.epsilon, 4),
                "sigma": None if p.spent is None else round(p.spent.noise_multiplier, 4),
                "f1": p.test["f1"],
                "f1_gap_points": 100 * (base_f1 - p.test["f1"]),
                "recall": p.test["recall"],
                "fpr": p.test["fpr"],
            }
            for name in self.attack_labels:
                row[f"recall[{name}]"] = p.test["per_label_recall"].get(name)
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (points, table rows, label supports)."""
        return {
            "n_train": self.n_train,
            "synthetic": self.synthetic,
            "privacy": self.privacy,
            "attack_labels": list(self.attack_labels),
            "label_support_test": self.baseline.test["per_label_support"],
            "points": [p.to_dict() for p in self.points],
            "table": self.rows(),
        }


def _evaluate(model: Any, data: PreparedData) -> tuple[float, float, dict[str, Any]]:
    from privids.models.predict import predict_scores

    s_val = predict_scores(model, data.val.X)
    s_test = predict_scores(model, data.test.X)
    t = f1_threshold(data.val.y, s_val)
    val = detection_metrics(data.val.y, s_val, data.val.labels, threshold=t)
    return t, float(val["f1"]), detection_metrics(data.test.y, s_test, data.test.labels, threshold=t)


def run_tradeoff(
    data: PreparedData,
    *,
    epsilons: tuple[float, ...] | list[float],
    train: TrainConfig,
    privacy: PrivacyConfig,
    rng: RandomLike,
) -> TradeoffResult:
    """Train the non-private MLP and one DP-SGD MLP per budget, and evaluate all on the same test split.

    Parameters
    ----------
    data : PreparedData
    epsilons : sequence of float
        Target budgets; each DP model is calibrated to spend exactly one of them.
    train : TrainConfig
        Non-private training settings and the architecture (binary head is always used).
    privacy : PrivacyConfig
        DP-SGD settings; ``target_epsilon`` is replaced by each budget in turn.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    TradeoffResult

    Raises
    ------
    ConfigError
        Empty or non-positive budgets.

    Notes
    -----
    Each threshold is chosen on the validation split only, so the test numbers of all models
    are comparable and honest. Budgets are separate releases: training all of them on the same
    records spends their sum if every model is published.
    """
    eps = sorted({float(e) for e in epsilons})
    if not eps or eps[0] <= 0:
        raise ConfigError(f"epsilons must be positive numbers; got {list(epsilons)!r}. Example: 0.5,1,2,4,8.")
    from privids.models.train import train_mlp

    gen = as_generator(rng)
    binary = replace(train, multiclass=False)
    base_model = train_mlp(data, binary, rng=child_seed(gen))
    t, vf1, test = _evaluate(base_model, data)
    points = [TradeoffPoint(None, None, t, vf1, test)]
    _log.info("non-private: test F1 %.4f", test["f1"])
    for e in eps:
        cfg = replace(privacy, target_epsilon=e, noise_multiplier=None)
        res = train_mlp_dp(data, binary, cfg, rng=child_seed(gen))
        t, vf1, test = _evaluate(res.model, data)
        points.append(TradeoffPoint(e, res.spent, t, vf1, test))
        _log.info("eps=%g: sigma %.3f, test F1 %.4f", e, res.spent.noise_multiplier, test["f1"])
    support = points[0].test["per_label_support"]
    labels = tuple(sorted(support, key=lambda k: (support[k], k)))
    from privids.config import config_to_dict

    return TradeoffResult(
        points=tuple(points),
        n_train=len(data.train),
        privacy=config_to_dict(privacy),
        synthetic=bool(data.synthetic),
        attack_labels=labels,
    )
