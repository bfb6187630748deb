"""Accounting pinned against Google's dp-accounting (an independent implementation) and hand values."""

from __future__ import annotations

import math

import dp_accounting
import pytest
from dp_accounting import pld, rdp

from privids.exceptions import PrivacyError
from privids.privacy.accounting import (
    PrivacySpent,
    check_delta,
    default_delta,
    epsilon_for,
    noise_for_epsilon,
)

# Opacus' default RDP orders; dp-accounting is given the same grid so both bound the same curve.
_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))

_CASES = [
    # (q, sigma, steps, delta)
    (0.01, 1.1, 1000, 1e-5),
    (256 / 60000, 1.1, 60 * 235, 1e-5),
    (1 / 12, 1.1, 36, 1e-3 / 12),
    (1024 / 200_000, 1.19, 980, 1e-6),
    (0.1, 4.0, 50, 1e-5),
]


def _event(q: float, sigma: float, steps: int) -> dp_accounting.DpEvent:
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )


def _dp_accounting_rdp(q: float, sigma: float, steps: int, delta: float) -> float:
    acc = rdp.RdpAccountant(_ORDERS)
    acc.compose(_event(q, sigma, steps))
    return float(acc.get_epsilon(delta))


@pytest.mark.parametrize(("q", "sigma", "steps", "delta"), _CASES, ids=[f"q{c[0]:.4g}-s{c[1]}-T{c[2]}" for c in _CASES])
def test_rdp_epsilon_matches_dp_accounting(q: float, sigma: float, steps: int, delta: float) -> None:
    # Arrange
    expected = _dp_accounting_rdp(q, sigma, steps, delta)
    # Act
    got = epsilon_for(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, accountant="rdp")
    # Assert: the two libraries evaluate fractional-order RDP with different series; they agree to 1e-3
    assert got == pytest.approx(expected, rel=1e-3)


def test_rdp_pinned_value() -> None:
    # dp-accounting 0.6.0 gives 1.71177017 for these settings.
    assert epsilon_for(sample_rate=0.01, noise_multiplier=1.1, steps=1000, delta=1e-5) == pytest.approx(1.711770, abs=1e-5)


@pytest.mark.parametrize(("q", "sigma", "steps", "delta"), [_CASES[0], _CASES[2]], ids=["q0.01", "case14"])
def test_prv_epsilon_close_to_pld(q: float, sigma: float, steps: int, delta: float) -> None:
    # Arrange: both are numerical (near-tight) bounds of the same privacy curve.
    acc = pld.PLDAccountant(value_discretization_interval=1e-4)
    acc.compose(_event(q, sigma, steps))
    expected = float(acc.get_epsilon(delta))
    # Act
    got = epsilon_for(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, accountant="prv")
    # Assert: tighter than RDP, and within 2% of the PLD value
    assert got == pytest.approx(expected, rel=0.02)
    assert got < _dp_accounting_rdp(q, sigma, steps, delta)


def test_epsilon_grows_with_steps_and_shrinks_with_noise() -> None:
    base = dict(sample_rate=0.01, delta=1e-5)
    assert epsilon_for(noise_multiplier=1.1, steps=2000, **base) > epsilon_for(noise_multiplier=1.1, steps=1000, **base)
    assert epsilon_for(noise_multiplier=2.0, steps=1000, **base) < epsilon_for(noise_multiplier=1.1, steps=1000, **base)


def test_zero_noise_is_infinite_epsilon() -> None:
    assert epsilon_for(sample_rate=0.1, noise_multiplier=0.0, steps=10, delta=1e-5) == math.inf


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_noise_for_epsilon_reaches_target_from_below(accountant: str) -> None:
    # Arrange
    q, steps, delta, target = 1024 / 200_000, 980, 1e-6, 1.0
    # Act
    sigma = noise_for_epsilon(target_epsilon=target, sample_rate=q, steps=steps, delta=delta, accountant=accountant)
    eps = epsilon_for(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, accountant=accountant)
    # Assert: never above the target, at most the bisection tolerance (0.01) below it
    assert target - 0.011 <= eps <= target


def test_noise_for_epsilon_rdp_matches_measured_value() -> None:
    # stack-probe measured 1.1914 for these settings (Opacus get_noise_multiplier, RDP).
    sigma = noise_for_epsilon(target_epsilon=1.0, sample_rate=1024 / 200_000, steps=980, delta=1e-6, accountant="rdp")
    assert sigma == pytest.approx(1.1914, abs=1e-3)


def test_default_delta_is_a_tenth_of_one_over_n() -> None:
    assert default_delta(12) == pytest.approx(1 / 120)
    with pytest.raises(PrivacyError, match="must be positive"):
        default_delta(0)


@pytest.mark.parametrize(
    ("delta", "n", "match"),
    [(1e-3, 1000, r"below 1/n = 0\.001 for n = 1000"), (0.5, 10, "below 1/n"), (0.0, 10, r"in \(0, 1\)"), (1.5, 10, r"in \(0, 1\)")],
    ids=["equal-1/n", "above-1/n", "zero", "above-one"],
)
def test_check_delta_refuses(delta: float, n: int, match: str) -> None:
    with pytest.raises(PrivacyError, match=match):
        check_delta(delta, n)


def test_check_delta_accepts_below_one_over_n() -> None:
    check_delta(0.999e-3, 1000)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(sample_rate=0.0, noise_multiplier=1.0, steps=10, delta=1e-5), "sample_rate"),
        (dict(sample_rate=0.1, noise_multiplier=1.0, steps=0, delta=1e-5), "steps"),
        (dict(sample_rate=0.1, noise_multiplier=-1.0, steps=10, delta=1e-5), "noise_multiplier"),
        (dict(sample_rate=0.1, noise_multiplier=1.0, steps=10, delta=1e-5, accountant="gdp"), r"\['prv', 'rdp'\]"),
    ],
    ids=["q0", "steps0", "negative-noise", "unknown-accountant"],
)
def test_epsilon_for_validates(kwargs: dict, match: str) -> None:
    with pytest.raises(PrivacyError, match=match):
        epsilon_for(**kwargs)


def test_noise_for_unreachable_budget_is_a_privacy_error() -> None:
    with pytest.raises(PrivacyError, match="no noise multiplier"):
        noise_for_epsilon(target_epsilon=1e-9, sample_rate=1.0, steps=10**6, delta=1e-5, accountant="rdp")


def _spent() -> PrivacySpent:
    return PrivacySpent(
        epsilon=epsilon_for(sample_rate=1 / 12, noise_multiplier=1.1, steps=36, delta=1 / 120),
        delta=1 / 120,
        sample_rate=1 / 12,
        noise_multiplier=1.1,
        steps=36,
        accountant="rdp",
        max_grad_norm=1.0,
        n_records=12,
        expected_batch_size=1.0,
        epochs=3,
        empty_batches=13,
        mode="linear",
    )


def test_privacy_spent_round_trips_and_recomputes() -> None:
    spent = _spent()
    again = PrivacySpent.from_dict(spent.to_dict())
    assert again == spent
    assert again.recompute_epsilon() == pytest.approx(spent.epsilon, rel=1e-12)
    assert spent.to_dict()["steps"] == 36


def test_privacy_spent_refuses_unknown_keys() -> None:
    values = _spent().to_dict() | {"epsilon_guess": 1.0}
    with pytest.raises(PrivacyError, match="epsilon_guess"):
        PrivacySpent.from_dict(values)
