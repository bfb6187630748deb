"""Robust aggregation math and the suspicion score, against brute-force loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from privids.attacks.robust import (
    bulyan,
    clip_to_norm,
    coordinate_median,
    krum_scores,
    multikrum,
    pairwise_sq_distances,
    suspicion_scores,
    trimmed_mean,
    weighted_mean,
)
from privids.exceptions import ConfigError


def _honest_plus_outlier(n: int = 7, d: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 0.1, size=(n, d))
    u[3] = 50.0  # one obvious attacker
    return u


def test_krum_scores_match_brute_force_loop() -> None:
    # Arrange
    u = np.random.default_rng(1).normal(size=(6, 4))
    f = 1
    # Act
    scores = krum_scores(u, n_malicious=f)
    # Assert: for each i, sum of the n - f - 2 smallest squared distances to the others
    expected = []
    for i in range(6):
        d = sorted(float(np.sum((u[i] - u[j]) ** 2)) for j in range(6) if j != i)
        expected.append(sum(d[: 6 - f - 2]))
    np.testing.assert_allclose(scores, expected)


def test_krum_discards_obvious_outlier() -> None:
    u = _honest_plus_outlier()
    agg, selected = multikrum(u, n_malicious=1, n_select=1)
    assert selected[0] != 3
    assert np.abs(agg).max() < 1.0


def test_multikrum_keeps_every_honest_update() -> None:
    u = _honest_plus_outlier()
    agg, selected = multikrum(u, n_malicious=1, n_select=6)
    assert sorted(selected.tolist()) == [0, 1, 2, 4, 5, 6]
    np.testing.assert_allclose(agg, np.delete(u, 3, axis=0).mean(axis=0))


def test_pairwise_distances_symmetric_zero_diagonal() -> None:
    u = np.random.default_rng(2).normal(size=(5, 3))
    d = pairwise_sq_distances(u)
    np.testing.assert_allclose(d, d.T)
    np.testing.assert_allclose(np.diag(d), 0.0)
    assert d[1, 4] == pytest.approx(np.sum((u[1] - u[4]) ** 2))


def test_trimmed_mean_matches_per_coordinate_loop() -> None:
    u = np.random.default_rng(3).normal(size=(10, 4))
    out = trimmed_mean(u, beta=0.2)
    for j in range(4):
        col = sorted(u[:, j])
        assert out[j] == pytest.approx(np.mean(col[2:8]))


def test_weighted_mean_and_median_hand_values() -> None:
    u = np.array([[0.0, 3.0], [2.0, 1.0], [10.0, 2.0]])
    np.testing.assert_allclose(weighted_mean(u, np.array([1.0, 1.0, 2.0])), [5.5, 2.0])
    np.testing.assert_allclose(coordinate_median(u), [2.0, 2.0])


def test_bulyan_matches_hand_computation() -> None:
    # Arrange: 7 clients, f = 1 -> theta = 5 kept by Multi-Krum, beta = 3 averaged per coordinate
    u = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [100.0], [5.0]])
    # Act
    agg, selected = bulyan(u, n_malicious=1)
    # Assert: Multi-Krum keeps the 5 most central of {0..5}: scores favour 1..4 and then 0/5 (tie by
    # index -> 0); median of {0,1,2,3,4} is 2; the 3 closest are 1, 2, 3.
    kept = sorted(selected.tolist())
    assert 5 not in kept and len(kept) == 5
    assert agg[0] == pytest.approx(2.0)


def test_bulyan_refuses_too_few_clients() -> None:
    with pytest.raises(ConfigError, match=r"4 \* n_malicious \+ 3 = 7; got 5"):
        bulyan(np.zeros((5, 2)), n_malicious=1)


def test_clip_to_norm_bounds_and_keeps_direction() -> None:
    u = np.random.default_rng(4).normal(size=(8, 6)) * np.arange(1, 9)[:, None]
    c = clip_to_norm(u, max_norm=2.0)
    norms = np.linalg.norm(c, axis=1)
    assert np.all(norms <= 2.0 + 1e-9)
    for a, b in zip(u, c, strict=True):
        assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: trimmed_mean(np.zeros((4, 2)), beta=0.5), "beta must be in"),
        (lambda: clip_to_norm(np.zeros((2, 2)), max_norm=0.0), "max_norm must be positive"),
        (lambda: multikrum(np.zeros((3, 2)), n_malicious=0, n_select=4), "n_select must be in"),
        (lambda: weighted_mean(np.zeros((2, 2)), np.zeros(2)), "positive sum"),
        (lambda: krum_scores(np.zeros(3), n_malicious=0), "non-empty"),
        (lambda: suspicion_scores(np.zeros((3, 2)), k=3), "k must be in"),
    ],
    ids=["beta", "max_norm", "n_select", "weights", "shape", "k"],
)
def test_validation_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call()


def test_suspicion_matches_brute_force_and_flags_outlier() -> None:
    # Arrange
    u = _honest_plus_outlier(n=7)
    # Act
    s = suspicion_scores(u, k=2)
    # Assert: oracle = mean distance to 2 nearest others, divided by the median over clients
    raw = []
    for i in range(7):
        d = sorted(np.linalg.norm(u[i] - u[j]) for j in range(7) if j != i)
        raw.append(np.mean(d[:2]))
    np.testing.assert_allclose(s, np.array(raw) / np.median(raw))
    assert int(np.argmax(s)) == 3 and s[3] > 10
    assert np.all(np.delete(s, 3) < 2)


def test_suspicion_sees_through_two_colluders_sending_the_same_update() -> None:
    rng = np.random.default_rng(5)
    u = rng.normal(0.0, 0.1, size=(10, 20))
    u[2] = u[7] = 3.0  # identical: distance 0 to each other
    s = suspicion_scores(u)
    assert set(np.argsort(s)[-2:].tolist()) == {2, 7}
    assert min(s[2], s[7]) > 5


def test_krum_tolerates_f_attackers_for_every_placement() -> None:
    # Any 2 of 9 clients sending the same large update: Krum never picks them.
    base = np.random.default_rng(6).normal(0.0, 0.1, size=(9, 3))
    for bad in itertools.combinations(range(9), 2):
        u = base.copy()
        u[list(bad)] = 20.0
        _, sel = multikrum(u, n_malicious=2, n_select=1)
        assert int(sel[0]) not in bad
