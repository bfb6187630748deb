"""The poisoned federation loop: learns when clean, is hurt by attacks, and names the attacker."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import make_synthetic
from privids.attacks.backdoor import apply_trigger, default_trigger
from privids.attacks.local_training import get_flat_params, predict_proba
from privids.attacks.poisoned_federation import run_poisoned_federation
from privids.config import FederatedConfig
from privids.exceptions import ConfigError

FED = FederatedConfig(local_epochs=1, lr=0.01, batch_size=32)


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return make_synthetic(n=1500, seed=3)


def _f1(run, d) -> float:  # type: ignore[no-untyped-def]
    return float(f1_score(d.test.y, predict_proba(run.model, d.test.X) >= 0.5))


def _asr(run, d) -> float:  # type: ignore[no-untyped-def]
    trig = default_trigger(d)
    return float(np.mean(predict_proba(run.model, apply_trigger(d.test.X[d.test.y == 1], trig)) < 0.5))


def test_label_skewed_partition_and_empty_clients() -> None:
    # Arrange: strong label skew over 5 clients
    d = make_synthetic(n=1500, seed=3)
    # Act
    run = run_poisoned_federation(d, attack="sign_flip", defence="median", n_clients=5, n_attackers=1, rounds=2,
                                  fed=FED, partition="dirichlet:0.3", rng=1)
    # Assert: the attacker still stands out although honest updates now differ more
    assert run.top_suspect_hit_rate() == 1.0
    with pytest.raises(ConfigError, match="0 training rows"):
        run_poisoned_federation(make_synthetic(n=60), attack="none", defence="fedavg", n_clients=30, n_attackers=1,
                                rounds=1, fed=FED, partition="dirichlet:0.05", rng=0)


def test_clean_federation_learns_and_is_reproducible(data) -> None:  # type: ignore[no-untyped-def]
    a = run_poisoned_federation(data, attack="none", defence="fedavg", n_clients=5, n_attackers=1, rounds=4, fed=FED, rng=1)
    b = run_poisoned_federation(data, attack="none", defence="fedavg", n_clients=5, n_attackers=1, rounds=4, fed=FED, rng=1)
    assert a.attackers == ()
    assert _f1(a, data) > 0.85
    np.testing.assert_array_equal(get_flat_params(a.model), get_flat_params(b.model))
    assert len(a.rounds) == 4 and a.rounds[0].selected == (0, 1, 2, 3, 4)


def test_sign_flip_breaks_fedavg_but_not_krum_and_is_named(data) -> None:  # type: ignore[no-untyped-def]
    kw = dict(attack="sign_flip", n_clients=5, n_attackers=1, rounds=4, fed=FED, rng=1)
    bad = run_poisoned_federation(data, defence="fedavg", **kw)
    good = run_poisoned_federation(data, defence="krum", **kw)
    assert _f1(bad, data) < 0.7 < 0.85 < _f1(good, data)
    # The operator sees the attacker: top suspicion every round, never kept by Krum.
    assert good.top_suspect_hit_rate() == 1.0
    assert all(good.attackers[0] not in r.selected for r in good.rounds)
    assert good.mean_suspicion()[good.attackers[0]] > 3


def test_backdoor_succeeds_on_fedavg_and_fails_on_krum(data) -> None:  # type: ignore[no-untyped-def]
    trig = default_trigger(data)
    kw = dict(attack="backdoor", n_clients=5, n_attackers=1, rounds=4, fed=FED, trigger=trig, rng=1)
    fedavg = run_poisoned_federation(data, defence="fedavg", **kw)
    krum = run_poisoned_federation(data, defence="krum", **kw)
    clean = run_poisoned_federation(data, attack="none", defence="fedavg", n_clients=5, n_attackers=1, rounds=4, fed=FED, rng=1)
    assert _asr(fedavg, data) > _asr(clean, data) + 0.4
    assert _asr(krum, data) <= _asr(clean, data) + 0.05


def test_two_colluding_attackers_of_ten(data) -> None:  # type: ignore[no-untyped-def]
    run = run_poisoned_federation(data, attack="scale", defence="multikrum", n_clients=10, n_attackers=2, rounds=2, fed=FED, rng=2)
    assert len(run.attackers) == 2
    susp = run.mean_suspicion()
    assert set(np.argsort(susp)[-2:].tolist()) == set(run.attackers)
    assert all(not set(run.attackers) & set(r.selected) for r in run.rounds)


def test_attacker_count_is_validated(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"n_attackers must be in \[0, n_clients\); got 5 of 5"):
        run_poisoned_federation(data, attack="scale", defence="fedavg", n_clients=5, n_attackers=5, rounds=1, fed=FED, rng=0)
