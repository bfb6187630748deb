"""Membership inference: leaky models leak, the table carries the DP bounds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_synthetic
from privids.attacks.local_training import train_binary_mlp
from privids.attacks.membership import (
    attack_features,
    loss_attack_scores,
    per_sample_loss,
    run_membership,
    shadow_attack_scores,
)
from privids.attacks.mia_metrics import membership_auc
from privids.data.dataset import SplitView
from privids.exceptions import ConfigError


def _noise_split(n: int, rng: np.random.Generator, d: int = 6) -> SplitView:
    # Pure noise: labels carry no signal, so only memorisation separates members.
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.int64)
    fam = np.where(y == 1, "DDoS", "BENIGN").astype(object)
    return SplitView(X=X, y=y, labels=fam, families=fam)


@pytest.fixture(scope="module")
def memorised():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    base = make_synthetic(n=60, n_features=6)
    data = replace(base, train=_noise_split(24, rng), val=_noise_split(80, rng), test=_noise_split(200, rng))
    model = train_binary_mlp(data.train.X, data.train.y, hidden=(64, 64), epochs=300, lr=1e-2, batch_size=24, rng=1)
    return data, model


def test_per_sample_loss_matches_torch_bce() -> None:
    torch.manual_seed(0)  # test-only: fixes the Linear init
    m = nn.Linear(3, 1)
    X = np.random.default_rng(1).normal(size=(9, 3)).astype(np.float32) * 20  # saturating logits
    y = np.array([0, 1] * 4 + [1])
    with torch.no_grad():
        ref = nn.functional.binary_cross_entropy_with_logits(
            m(torch.as_tensor(X)).squeeze(-1).double(), torch.as_tensor(y, dtype=torch.float64), reduction="none")
    np.testing.assert_allclose(per_sample_loss(m, X, y), ref.numpy(), rtol=1e-6)


def test_model_trained_on_one_point_leaks_it() -> None:
    # Arrange: one flow, learned to the bone; 300 fresh flows from the same distribution
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(1, 5)).astype(np.float32), np.array([1])
    model = train_binary_mlp(x, y, hidden=(16,), epochs=200, lr=1e-2, batch_size=1, rng=3)
    others = rng.normal(size=(300, 5)).astype(np.float32)
    # Act
    member = loss_attack_scores(model, x, y)
    non = loss_attack_scores(model, others, rng.integers(0, 2, 300))
    # Assert: its loss is lower than (nearly) every other flow's; ReLU extrapolation can give a
    # far-away flow of the same label an even larger margin, so not strictly all of them.
    assert membership_auc(member, non) > 0.95


def test_overfit_model_leaks_through_loss_and_shadow_attacks(memorised) -> None:  # type: ignore[no-untyped-def]
    data, model = memorised
    table = run_membership({"overfit": model}, data, n=24, rng=0, n_shadows=2,
                           shadow_trainer=lambda X, y, g: train_binary_mlp(X, y, epochs=300, lr=1e-2, batch_size=40, rng=g))
    loss, shadow = table.row("overfit", "loss"), table.row("overfit", "shadow")
    assert loss.auc > 0.9 and loss.advantage > 0.6
    assert shadow.auc > 0.8
    assert loss.n_members == loss.n_nonmembers == 24
    # No DP: the bound is 1 and "within bound" is not applicable (None), never a reassuring True.
    assert loss.epsilon is None and loss.bound_advantage == 1.0 and loss.within_bound is None


def test_claimed_small_epsilon_is_contradicted_by_a_leaky_model(memorised) -> None:  # type: ignore[no-untyped-def]
    data, model = memorised
    row = run_membership({"liar": (model, 0.1, 1e-5)}, data, n=24, attacks=("loss",), rng=0).row("liar", "loss")
    assert row.bound_advantage == pytest.approx((np.exp(0.1) - 1 + 2e-5) / (np.exp(0.1) + 1))
    assert row.bound_tpr_at_1pct == pytest.approx(np.exp(0.1) * 0.01 + 1e-5)
    assert row.advantage > row.bound_advantage and not row.within_bound
    assert row.min_resolvable_fpr == pytest.approx(1 / 24)


def test_untrained_model_is_near_chance_and_default_delta() -> None:
    data = make_synthetic(n=1000, seed=5)
    model = train_binary_mlp(data.train.X, data.train.y, epochs=1, lr=1e-3, batch_size=256, rng=0)
    table = run_membership({"dp": (model, 1.0), "dp-none-delta": (model, 1.0, None)}, data, n=150, attacks=("loss",), rng=0)
    row = table.row("dp", "loss")
    assert table.row("dp-none-delta", "loss").delta == row.delta
    assert 0.4 < row.auc < 0.6 and row.within_bound
    assert row.delta == pytest.approx(1 / (10 * len(data.train)))
    assert table.to_dict()["rows"][0]["model"] == "dp"


def test_attack_features_shape_and_margin_sign(memorised) -> None:  # type: ignore[no-untyped-def]
    data, model = memorised
    f = attack_features(model, data.train.X, data.train.y)
    assert f.shape == (24, 3)
    np.testing.assert_allclose(f[:, 1], per_sample_loss(model, data.train.X, data.train.y), rtol=1e-9)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d, m: run_membership({"m": m}, d, attacks=("lira",)), r"unknown membership attack\(s\) \['lira'\]"),
        (lambda d, m: run_membership({"m": m}, d, n=0), "n must be positive"),
        (lambda d, m: run_membership({"m": (m, -1.0)}, d), "epsilon must be a non-negative"),
        (lambda d, m: run_membership({"m": "model"}, d), r"module or \(model, epsilon"),
        (lambda d, m: shadow_attack_scores(m, d.test.X, d.test.y, pool_X=d.val.X[:2], pool_y=d.val.y[:2]), "at least 4 pool flows"),
        (lambda d, m: run_membership({"m": m}, d).row("x", "loss"), "no row for model 'x'"),
    ],
    ids=["attack", "n", "epsilon", "spec", "pool", "row"],
)
def test_validation(memorised, call, match: str) -> None:  # type: ignore[no-untyped-def]
    data, model = memorised
    with pytest.raises(ConfigError, match=match):
        call(data, model)
