"""Membership metrics against brute-force threshold loops; DP bounds against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from privids.attacks.mia_metrics import (
    clopper_pearson,
    dp_advantage_bound,
    dp_tpr_bound,
    exceeds_dp_bound,
    membership_advantage,
    membership_auc,
    tpr_at_fpr,
)
from privids.exceptions import ConfigError


def _scores(seed: int = 0, n: int = 150, shift: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Rounded so there are ties, the case where ROC code usually goes wrong.
    return np.round(rng.normal(shift, 1, n), 1), np.round(rng.normal(0, 1, n + 37), 1)


def _brute_rates(m: np.ndarray, o: np.ndarray) -> list[tuple[float, float]]:
    thresholds = np.r_[np.inf, np.unique(np.r_[m, o])]
    return [(float(np.mean(o >= t)), float(np.mean(m >= t))) for t in thresholds]


def test_auc_matches_pairwise_count_with_ties() -> None:
    m, o = _scores()
    wins = sum((a > b) + 0.5 * (a == b) for a in m for b in o)
    assert membership_auc(m, o) == pytest.approx(wins / (len(m) * len(o)))


def test_advantage_matches_threshold_loop() -> None:
    m, o = _scores(1)
    assert membership_advantage(m, o) == pytest.approx(max(t - f for f, t in _brute_rates(m, o)))


@pytest.mark.parametrize("fpr", [0.001, 0.01, 0.1], ids=["0.1%", "1%", "10%"])
def test_tpr_at_fpr_matches_threshold_loop(fpr: float) -> None:
    m, o = _scores(2, n=400, shift=1.5)
    expected = max(t for f, t in _brute_rates(m, o) if f <= fpr)
    assert tpr_at_fpr(m, o, fpr=fpr) == pytest.approx(expected)


def test_perfect_and_chance_attacks() -> None:
    assert membership_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert membership_advantage(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert membership_auc(np.zeros(5), np.zeros(7)) == 0.5
    assert membership_advantage(np.zeros(5), np.zeros(7)) == 0.0


def test_dp_bounds_hand_values() -> None:
    e = math.e
    assert dp_tpr_bound(0.01, epsilon=1.0, delta=1e-5) == pytest.approx(e * 0.01 + 1e-5)
    assert dp_tpr_bound(0.5, epsilon=3.0) == 1.0
    assert dp_tpr_bound(0.01, epsilon=None) == 1.0
    assert dp_advantage_bound(epsilon=1.0, delta=1e-5) == pytest.approx((e - 1 + 2e-5) / (e + 1))
    assert dp_advantage_bound(epsilon=0.0) == 0.0
    assert dp_advantage_bound(epsilon=None) == 1.0


def test_clopper_pearson_matches_scipy_exact_interval() -> None:
    for k, n in [(0, 50), (3, 50), (50, 50), (17, 2000)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    with pytest.raises(ConfigError, match="trials > 0"):
        clopper_pearson(1, 0)


def test_exceeds_bound_detects_a_leaky_model_and_spares_chance() -> None:
    rng = np.random.default_rng(3)
    m, o = rng.normal(3, 1, 500), rng.normal(0, 1, 500)
    assert exceeds_dp_bound(m, o, epsilon=0.5, delta=1e-5)  # AUC ~0.98 cannot be 0.5-DP
    assert not exceeds_dp_bound(m, o, epsilon=None)
    c1, c2 = rng.normal(0, 1, 500), rng.normal(0, 1, 500)
    assert not exceeds_dp_bound(c1, c2, epsilon=0.5, delta=1e-5)
    # One lucky member at FPR 0 beats delta as a point estimate, but is no evidence.
    assert tpr_at_fpr(np.r_[10.0, c1[1:]], c2, fpr=0.001) > dp_tpr_bound(0.0, epsilon=0.5, delta=1e-5)
    assert not exceeds_dp_bound(np.r_[10.0, c1[1:]], c2, epsilon=0.5, delta=1e-5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: membership_auc(np.array([]), np.ones(2)), "need members and non-members"),
        (lambda: tpr_at_fpr(np.ones(2), np.ones(2), fpr=0.0), r"fpr must be in \(0, 1\)"),
    ],
    ids=["empty", "fpr"],
)
def test_validation(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call()
