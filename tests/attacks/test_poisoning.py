"""Malicious behaviours on labels and updates, and the attack registry."""

from __future__ import annotations

import numpy as np
import pytest

from privids.attacks.backdoor import BackdoorTrigger
from privids.attacks.poisoning import (
    AttackContext,
    ClientAttack,
    available_attacks,
    flip_labels,
    get_attack,
    register_attack,
    scale_update,
    sign_flip_update,
)
from privids.exceptions import ConfigError


def test_flip_labels_swaps_classes_and_keeps_dtype() -> None:
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    out = flip_labels(y)
    assert out.tolist() == [1, 0, 0, 1] and out.dtype == np.int64


def test_update_attacks_hand_values() -> None:
    u = np.array([1.0, -2.0])
    np.testing.assert_allclose(sign_flip_update(u, factor=3.0), [-3.0, 6.0])
    np.testing.assert_allclose(scale_update(u, factor=5.0), [5.0, -10.0])


def test_backdoor_boost_is_model_replacement() -> None:
    # n / n_attackers: with FedAvg (server lr 1) the attackers' mean replaces the global model.
    ctx = AttackContext(n_clients=10, n_attackers=2, scale_factor=99.0)
    np.testing.assert_allclose(get_attack("backdoor").poison_update(np.ones(2), ctx), [5.0, 5.0])


def test_backdoor_needs_a_trigger() -> None:
    ctx = AttackContext(n_clients=5, n_attackers=1, scale_factor=1.0, trigger=None)
    with pytest.raises(ConfigError, match="needs a trigger"):
        get_attack("backdoor").poison_data(np.zeros((2, 2)), np.array([0, 1]), ctx, 0)


def test_backdoor_data_adds_triggered_benign_copies() -> None:
    trig = BackdoorTrigger(indices=(1,), values=(70.0,), names=("b",))
    ctx = AttackContext(n_clients=5, n_attackers=1, scale_factor=1.0, trigger=trig)
    X = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = np.array([0, 1, 1, 0])
    Xp, yp = get_attack("backdoor").poison_data(X, y, ctx, 0)
    assert len(yp) == 4 + 2 * 2
    triggered = Xp[:, 1] == 70.0
    assert triggered.sum() == 4 and np.all(yp[triggered] == 0)


def test_registry_lists_study_attacks_and_refuses_overwrite() -> None:
    assert available_attacks() == ("backdoor", "label_flip", "none", "scale", "sign_flip")
    with pytest.raises(ConfigError, match="already registered"):
        register_attack(ClientAttack("scale", lambda X, y, c, r: (X, y), lambda u, c: u))
    with pytest.raises(ConfigError, match=r"unknown attack 'gauss'; allowed: \['backdoor'"):
        get_attack("gauss")
