"""Ledger math against hand-computed composition totals."""

from __future__ import annotations

import math

import pytest

from privids.exceptions import BudgetExceededError, PrivacyError
from privids.privacy.ledger import PrivacyLedger, Release, compose


def test_compose_sums_per_dataset_and_takes_max_across() -> None:
    # Arrange: A gets 1.0 + 0.5 + 0.25, B gets 2.0 (hand-computed totals A=1.75, B=2.0).
    rs = [Release("A", 1.0, 1e-6), Release("B", 2.0, 3e-6), Release("A", 0.5, 1e-6), Release("A", 0.25, 2e-6)]
    # Act
    par, seq = compose(rs, disjoint=True), compose(rs)
    # Assert
    assert par.per_dataset == {"A": (1.75, 4e-6), "B": (2.0, 3e-6)}
    assert (par.epsilon, par.delta) == (2.0, 4e-6)
    assert seq.epsilon == 3.75 and math.isclose(seq.delta, 7e-6)
    assert par.rule == "parallel-over-datasets" and seq.rule == "sequential"


def test_compose_empty_is_zero() -> None:
    c = compose([])
    assert (c.epsilon, c.delta, c.per_dataset) == (0.0, 0.0, {})


def test_fsum_accepts_exact_fit() -> None:
    # 0.1 + 0.2 != 0.3 in floats; a release that fills the budget exactly must still pass.
    led = PrivacyLedger(0.3, 1e-5).add(Release("A", 0.1, 1e-6)).add(Release("A", 0.2, 1e-6))
    assert math.isclose(led.totals().epsilon, 0.3)
    assert led.remaining("A") == pytest.approx(0.0, abs=1e-12)


def test_budget_refuses_release_on_same_dataset_but_allows_disjoint() -> None:
    led = PrivacyLedger(3.0, 1e-5, (Release("A", 2.0, 1e-6),), disjoint=True)
    with pytest.raises(BudgetExceededError, match=r"epsilon=1\.5 on dataset 'A'.*3\.5.*remaining: 1"):
        led.check(Release("A", 1.5, 1e-6))
    # Parallel composition: 2.5 on disjoint B gives max(2.0, 2.5) = 2.5 <= 3.
    after = led.add(Release("B", 2.5, 1e-6))
    assert after.totals().epsilon == 2.5
    assert after.remaining("A") == 1.0 and after.remaining("B") == 0.5 and after.remaining("C") == 3.0
    # The original ledger is unchanged (frozen, add returns a copy).
    assert len(led.releases) == 1


def test_sequential_ledger_counts_every_release() -> None:
    led = PrivacyLedger(3.0, 1e-5, (Release("A", 2.0, 1e-6),))
    assert not led.disjoint and led.remaining("B") == 1.0
    with pytest.raises(BudgetExceededError, match="sequentially composed epsilon to 4.5"):
        led.add(Release("B", 2.5, 1e-6))


def test_delta_budget_is_enforced() -> None:
    led = PrivacyLedger(10.0, 1e-5, (Release("A", 1.0, 6e-6),), disjoint=True)
    with pytest.raises(BudgetExceededError, match="composed delta to 1.2e-05.*--delta.*--budget-delta"):
        led.add(Release("A", 1.0, 6e-6))
    assert led.add(Release("B", 1.0, 6e-6)).totals().delta == 6e-6


def test_non_private_release_cannot_enter_a_budgeted_ledger() -> None:
    with pytest.raises(BudgetExceededError, match="over the lifetime budget"):
        PrivacyLedger(8.0, 1e-5, (Release("A", math.inf, 0.0, accountant="none"),))


def test_round_trip_through_dict() -> None:
    led = PrivacyLedger(4.0, 1e-5, (Release("A", 1.0, 1e-6, "rdp", "2026-01-01T00:00:00Z", "initial"),
                                     Release("B", 0.5, 2e-6, "prv", "2026-01-02T00:00:00Z", "update v2")))
    d = led.to_dict()
    assert d["total"]["epsilon"] == 1.5 and d["disjoint"] is False and d["total"]["per_dataset"]["B"] == {"epsilon": 0.5, "delta": 2e-6}
    assert PrivacyLedger.from_dict(d) == led
    inf = Release("A", math.inf, 0.0, accountant="none")
    assert inf.to_dict()["epsilon"] == "inf" and Release.from_dict(inf.to_dict()) == inf


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dataset": "", "epsilon": 1.0, "delta": 1e-6}, "non-empty fingerprint"),
        ({"dataset": "A", "epsilon": -1.0, "delta": 1e-6}, "non-negative"),
        ({"dataset": "A", "epsilon": math.nan, "delta": 1e-6}, "non-negative"),
        ({"dataset": "A", "epsilon": 1.0, "delta": 1.0}, r"delta must be in \[0, 1\)"),
    ],
    ids=["empty-dataset", "negative-eps", "nan-eps", "delta-one"],
)
def test_release_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(PrivacyError, match=match):
        Release(**kwargs)


@pytest.mark.parametrize(
    ("eps", "delta", "match"),
    [(0.0, 1e-5, "must be positive"), (math.inf, 1e-5, "must be finite"), (1.0, 2.0, "delta must be in")],
    ids=["zero", "inf", "bad-delta"],
)
def test_budget_validation(eps: float, delta: float, match: str) -> None:
    with pytest.raises(PrivacyError, match=match):
        PrivacyLedger(eps, delta)


def test_damaged_dict_is_a_privacy_error() -> None:
    with pytest.raises(PrivacyError, match="damaged"):
        PrivacyLedger.from_dict({"releases": []})
    with pytest.raises(PrivacyError, match="damaged"):
        Release.from_dict({"epsilon": 1.0})


def test_default_composition_is_sequential_across_fingerprints() -> None:
    # A file of the training folder has its own fingerprint but shares records: 0.99 + 0.99, not max.
    led = PrivacyLedger(3.0, 1e-5, (Release("folder", 0.99, 1e-6),)).add(Release("one-file", 0.99, 1e-6))
    assert led.totals().epsilon == pytest.approx(1.98) and led.totals().rule == "sequential"
    assert compose(led.releases, disjoint=True).epsilon == pytest.approx(0.99)
    assert PrivacyLedger.from_dict({"budget": {"epsilon": 3.0, "delta": 1e-5},
                                    "releases": [r.to_dict() for r in led.releases]}).disjoint is False


def test_levels_are_stored_and_never_mixed() -> None:
    client = Release("orgs", 1.0, 1e-6, level="client")
    assert client.to_dict()["level"] == "client" and Release.from_dict(client.to_dict()) == client
    assert Release.from_dict({"dataset": "A", "epsilon": 1.0, "delta": 1e-6}).level == "record"
    led = PrivacyLedger(8.0, 1e-5, (client,))
    with pytest.raises(PrivacyError, match="different units"):
        led.add(Release("A", 1.0, 1e-6))
    with pytest.raises(PrivacyError, match="release level must be one of"):
        Release("A", 1.0, 1e-6, level="org")
