"""Tests for privids.evaluation.thresholds against an exhaustive search over thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from privids.evaluation.thresholds import choose_threshold, operating_points
from privids.exceptions import ConfigError, DataError


def _rates(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float, float]:
    flagged = s >= t
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    fn = int((~flagged & (y == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn)
    return f1, fp / max(int((y == 0).sum()), 1), tp / max(int(y.sum()), 1)


def _candidates(s: np.ndarray) -> list[float]:
    u = np.unique(s)
    return [*u.tolist(), float(np.nextafter(u[-1], np.inf))]


@pytest.fixture(params=[0, 1, 2], ids=["seed0", "seed1", "seed2"])
def val(request):
    rng = np.random.default_rng(request.param)
    y = (rng.random(300) < 0.3).astype(np.int64)
    # Rounded scores create ties, as a saturated model does.
    s = np.round(np.clip(rng.normal(0.3 + 0.35 * y, 0.2), 0, 1), 2)
    return y, s


def test_f1_threshold_is_optimal_on_validation(val):
    y, s = val
    t = choose_threshold(y, s, method="f1")
    best = max(_rates(y, s, c)[0] for c in _candidates(s))
    assert _rates(y, s, t)[0] == pytest.approx(best)


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.2], ids=["0", "1pct", "5pct", "20pct"])
def test_fpr_threshold_meets_target_with_most_recall(val, target):
    y, s = val
    t = choose_threshold(y, s, method="fpr", target_fpr=target)
    _, fpr, recall = _rates(y, s, t)
    feasible = [_rates(y, s, c)[2] for c in _candidates(s) if _rates(y, s, c)[1] <= target]
    assert fpr <= target
    assert recall == pytest.approx(max(feasible))


def test_threshold_sits_midway_between_scores():
    assert choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]) == pytest.approx(0.5)
    # All flagged is optimal: the threshold is the lowest score itself.
    assert choose_threshold([1, 1, 1, 0], [0.5, 0.6, 0.7, 0.8]) == pytest.approx(0.5)


def test_unreachable_fpr_flags_nothing():
    t = choose_threshold([0, 1, 1], [0.9, 0.9, 0.2], method="fpr", target_fpr=0.0)
    assert t > 0.9


def test_operating_points_counts():
    op = operating_points([0, 1, 1, 0], [0.5, 0.9, 0.5, 0.1])
    assert op["threshold"].tolist() == [0.9, 0.5, 0.1]
    assert op["tp"].tolist() == [1, 2, 2]
    assert op["fp"].tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"y_val": [0, 1], "scores_val": [0.1, 0.9], "method": "youden"}, ConfigError, r"one of \['f1', 'fpr'\]"),
        ({"y_val": [0, 1], "scores_val": [0.1, 0.9], "method": "fpr", "target_fpr": 1.0}, ConfigError, "target_fpr"),
        ({"y_val": [0, 0], "scores_val": [0.1, 0.9]}, DataError, "needs attacks"),
        ({"y_val": [1, 1], "scores_val": [0.1, 0.9], "method": "fpr"}, DataError, "needs BENIGN"),
        ({"y_val": [], "scores_val": []}, DataError, "y_val"),
        ({"y_val": ["BENIGN", "DDoS"], "scores_val": [0.1, 0.9]}, DataError, "integer 0/1"),
        ({"y_val": [0, 1], "scores_val": [0.1]}, DataError, "one score per row"),
    ],
    ids=["method", "target", "no-attacks", "no-benign", "empty", "strings", "length"],
)
def test_choose_threshold_refuses_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        choose_threshold(**kwargs)
