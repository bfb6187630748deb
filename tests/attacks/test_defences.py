"""Flower's strategies as run by privids agree with privids' own math; DP noise is calibrated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from privids.attacks import robust
from privids.attacks.defences import (
    DefenceSpec,
    aggregate_updates,
    aggregator_sensitivity,
    available_defences,
    dp_noise_std,
    register_defence,
    trimmed_beta,
)
from privids.exceptions import ConfigError, PrivacyError


@pytest.fixture
def updates() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(11, 30))


@pytest.fixture
def weights() -> np.ndarray:
    return np.random.default_rng(1).integers(10, 100, size=11).astype(float)


@pytest.mark.parametrize(
    ("name", "oracle"),
    [
        ("fedavg", lambda u, w: robust.weighted_mean(u, w)),
        ("krum", lambda u, w: robust.multikrum(u, n_malicious=2, n_select=1, weights=w)[0]),
        ("multikrum", lambda u, w: robust.multikrum(u, n_malicious=2, n_select=9, weights=w)[0]),
        ("median", lambda u, w: robust.coordinate_median(u)),
        ("trimmed", lambda u, w: robust.trimmed_mean(u, beta=trimmed_beta(11, 2))),
        ("bulyan", lambda u, w: robust.bulyan(u, n_malicious=2)[0]),
    ],
    ids=["fedavg", "krum", "multikrum", "median", "trimmed", "bulyan"],
)
def test_flower_strategy_matches_own_math(name: str, oracle, updates: np.ndarray, weights: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    # Act
    agg = aggregate_updates(name, updates, weights=weights, spec=DefenceSpec(n_malicious=2))
    # Assert
    np.testing.assert_allclose(agg.update, oracle(updates, weights), rtol=1e-9, atol=1e-12)
    assert agg.noise_std == 0.0


def test_flower_krum_removes_obvious_outlier() -> None:
    # Arrange: 4 honest updates near 0 and one that is 1000x larger
    u = np.random.default_rng(2).normal(0.0, 0.01, size=(5, 8))
    u[1] = 10.0
    # Act
    agg = aggregate_updates("krum", u, spec=DefenceSpec(n_malicious=1))
    # Assert: the output is one honest update, never the outlier
    assert 1 not in agg.selected
    assert any(np.allclose(agg.update, u[i]) for i in (0, 2, 3, 4))


def test_trimmed_beta_cuts_exactly_f_per_side() -> None:
    for n, f in [(5, 1), (10, 2), (9, 3)]:
        assert int(trimmed_beta(n, f) * n) == f
    with pytest.raises(ConfigError, match="cannot cut"):
        trimmed_beta(4, 2)


def test_normbound_clips_to_median_norm() -> None:
    u = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [100.0, 0.0], [-1.0, 0.0]])
    agg = aggregate_updates("normbound", u)
    # Every norm is 1 except the outlier, which is cut to the median norm 1.
    np.testing.assert_allclose(agg.update, np.array([1.0 + 1.0 - 1.0, 1.0 - 1.0]) / 5)


def test_bulyan_with_too_few_clients_is_an_error_not_a_skipped_round() -> None:
    with pytest.raises(ConfigError, match=r"Bulyan needs n_clients >= 4 \* n_malicious \+ 3 = 7; got 5"):
        aggregate_updates("bulyan", np.zeros((5, 3)), spec=DefenceSpec(n_malicious=1))


def test_unknown_defence_lists_allowed_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown defence 'nope'; allowed: \[.*'krum'.*'dp-krum'"):
        aggregate_updates("nope", np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="unknown defence 'dp-normbound'"):
        aggregate_updates("dp-normbound", np.zeros((3, 2)))


def test_register_defence_refuses_silent_overwrite() -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_defence("krum", lambda u, w, s, r: None)  # type: ignore[arg-type,return-value]
    assert "dp-krum" in available_defences()


def test_dp_noise_std_hand_values() -> None:
    kw = dict(n_malicious=1, clipping_norm=0.5, noise_multiplier=2.0)
    assert dp_noise_std("fedavg", n_clients=5, **kw) == pytest.approx(2.0 * 0.5 / 5)
    assert dp_noise_std("krum", n_clients=5, **kw) == pytest.approx(2.0 * 0.5 * 2.0)
    # Krum needs 2n times the noise Flower's wrapper would add for n = 5.
    assert dp_noise_std("krum", n_clients=5, **kw) / dp_noise_std("fedavg", n_clients=5, **kw) == pytest.approx(10.0)


def test_dp_with_krum_is_refused_with_an_explanation() -> None:
    with pytest.raises(PrivacyError, match=r"'krum' can move by 2\*C .* got dp_policy='refuse'.*Fix"):
        dp_noise_std("krum", n_clients=5, n_malicious=1, clipping_norm=1.0, noise_multiplier=1.0, policy="refuse")
    with pytest.raises(PrivacyError):
        aggregate_updates("dp-krum", np.zeros((5, 3)), spec=DefenceSpec(dp_policy="refuse"))
    # The mean is fine under either policy.
    assert dp_noise_std("fedavg", n_clients=5, n_malicious=1, clipping_norm=1.0, noise_multiplier=1.0, policy="refuse") == 0.2


def test_dp_spec_rejects_unknown_policy() -> None:
    with pytest.raises(ConfigError, match="dp_policy must be one of"):
        DefenceSpec(dp_policy="maybe")


@pytest.mark.parametrize("name", ["fedavg", "krum", "median"], ids=["fedavg", "krum", "median"])
def test_dp_noise_has_the_calibrated_std(name: str) -> None:
    # Arrange: identical updates, so everything after aggregation is the noise
    u = np.tile(np.full(20_000, 0.005), (5, 1))  # norm 0.71 < C: clipping leaves it alone
    spec = DefenceSpec(n_malicious=1, clipping_norm=1.0, noise_multiplier=1.3)
    # Act
    agg = aggregate_updates("dpfedavg" if name == "fedavg" else f"dp-{name}", u, spec=spec, rng=7)
    noise = agg.update - 0.005
    # Assert: sample std within 3% of the calibrated value, mean near 0
    expected = 1.3 * aggregator_sensitivity(name, n_clients=5, n_malicious=1)
    assert agg.noise_std == pytest.approx(expected)
    assert np.std(noise) == pytest.approx(expected, rel=0.03)
    assert abs(np.mean(noise)) < 4 * expected / np.sqrt(len(noise))
    assert stats.normaltest(noise).pvalue > 1e-3


def test_dp_noise_is_reproducible_from_rng() -> None:
    u = np.random.default_rng(3).normal(size=(5, 10))
    a = aggregate_updates("dp-krum", u, rng=11).update
    b = aggregate_updates("dp-krum", u, rng=11).update
    c = aggregate_updates("dp-krum", u, rng=12).update
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("name", ["fedavg", "krum", "multikrum", "median", "trimmed"], ids=str)
def test_sensitivity_bounds_hold_under_random_neighbours(name: str) -> None:
    # Brute force: change one client's clipped update and record how far the aggregate moves.
    rng = np.random.default_rng(8)
    n, f, C = 7, 1, 1.0
    bound = aggregator_sensitivity(name, n_clients=n, n_malicious=f) * C
    spec = DefenceSpec(n_malicious=f)
    worst = 0.0
    for _ in range(60):
        u = robust.clip_to_norm(rng.normal(size=(n, 6)) * rng.uniform(0.1, 3), max_norm=C)
        v = u.copy()
        if name == "fedavg":
            # Flower's DP-FedAvg convention: a client leaves and the denominator n stays fixed.
            i = int(rng.integers(n))
            v[i] = 0.0
            a, b = aggregate_updates("fedavg", u).update, aggregate_updates("fedavg", v).update
            worst = max(worst, float(np.linalg.norm(a - b)))
            continue
        v[rng.integers(n)] = robust.clip_to_norm(rng.normal(size=(1, 6)) * 5, max_norm=C)[0]
        a = aggregate_updates(name, u, spec=spec).update
        b = aggregate_updates(name, v, spec=spec).update
        worst = max(worst, float(np.linalg.norm(a - b)))
    assert worst <= bound + 1e-9
    if name != "fedavg":
        # The mean's bound (C/n, Flower's convention) would be broken by every selection rule.
        assert worst > 2 * C / n


def test_sensitivity_unknown_aggregator() -> None:
    with pytest.raises(ConfigError, match="no DP sensitivity bound"):
        aggregator_sensitivity("normbound", n_clients=5)
