"""Tests for privids.models.train: the generic non-private loop and train_mlp."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import make_synthetic

from privids.config import TrainConfig
from privids.exceptions import ConfigError, DataError
from privids.models.mlp import build_mlp
from privids.models.predict import predict_scores
from privids.models.train import fit_mlp, init_mlp, mlp_targets, train_mlp


def _weights(model: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_full_batch_sgd_epoch_equals_one_manual_gradient_step():
    # Arrange: with one batch holding every row, an epoch is exactly one gradient step.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = build_mlp(5, hidden=(6,), seed=1)
    oracle = copy.deepcopy(model)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        oracle(torch.from_numpy(X)).squeeze(1), torch.from_numpy(y).float()
    )
    grads = torch.autograd.grad(loss, list(oracle.parameters()))
    expected = [(p - 0.1 * g).detach().numpy() for p, g in zip(oracle.parameters(), grads, strict=True)]
    # Act
    losses = fit_mlp(model, X, y, epochs=1, batch_size=40, lr=0.1, optimizer="sgd", rng=0)
    # Assert
    assert losses == [pytest.approx(float(loss.detach()))]
    for got, want in zip(_weights(model), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_epoch_loss_is_the_row_weighted_mean_of_batch_losses():
    # With lr=0 nothing moves, so every batch loss is the loss of fixed weights on its rows.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(23, 3)).astype(np.float32)
    y = rng.integers(0, 2, 23)
    model = build_mlp(3, hidden=(4,), seed=0)
    with torch.no_grad():
        full = torch.nn.functional.binary_cross_entropy_with_logits(
            model(torch.from_numpy(X)).squeeze(1), torch.from_numpy(y).float()
        )
    losses = fit_mlp(model, X, y, epochs=2, batch_size=5, lr=1e-12, optimizer="sgd", rng=3)
    assert losses == [pytest.approx(float(full), rel=1e-5)] * 2


def test_same_seed_same_model_and_global_rng_untouched():
    data = make_synthetic(n=300, seed=2)
    state = torch.random.get_rng_state()
    a = train_mlp(data, TrainConfig(epochs=2), rng=7)
    b = train_mlp(data, TrainConfig(epochs=2), rng=7)
    c = train_mlp(data, TrainConfig(epochs=2), rng=8)
    assert torch.equal(torch.random.get_rng_state(), state)
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(_weights(a), _weights(c), strict=True))


def test_reference_sgd_and_adam_both_learn_the_synthetic_signal():
    data = make_synthetic(n=1200, seed=4)
    # 840 rows are few steps per epoch at batch 256, so the tiny run uses batch 32.
    for cfg in (
        TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9, batch_size=32, epochs=5),
        TrainConfig(optimizer="adam", lr=1e-3, batch_size=32, epochs=5),
    ):
        model = train_mlp(data, cfg, rng=0)
        pred = predict_scores(model, data.test.X) >= 0.5
        assert (pred == data.test.y).mean() > 0.9, cfg.optimizer
        assert not model.training


def test_multiclass_head_over_families():
    data = make_synthetic(n=1500, seed=5)
    cfg = TrainConfig(multiclass=True, epochs=15, lr=5e-3)
    model = train_mlp(data, cfg, rng=0)
    assert model.n_outputs == len(data.family_names)
    proba = predict_scores(model, data.test.X)
    truth = mlp_targets(data, data.test, multiclass=True)
    # Families overlap (offsets of 1.5 sigma), so even the Bayes rule is below 0.9 here.
    assert (proba.argmax(1) == truth).mean() > 0.8


def test_losses_decrease_on_separable_data():
    data = make_synthetic(n=600, seed=6)
    model = init_mlp(data, TrainConfig(), rng=0)
    losses = fit_mlp(model, data.train.X, data.train.y, epochs=6, batch_size=32, lr=3e-3, rng=0)
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"optimizer": "rmsprop"}, ConfigError, r"one of \['adam', 'sgd'\]"),
        ({"epochs": 0}, ConfigError, "epochs must be positive"),
        ({"batch_size": 0}, ConfigError, "batch_size must be positive"),
        ({"y": np.array([0, 2, 1, 0])}, DataError, "multiclass=True"),
        ({"y": np.array([0, 1, 1])}, DataError, "one target per row"),
        ({"y": np.array([0, 1, 7, 0]), "multiclass": True}, DataError, r"\[0, 1\)"),
    ],
    ids=["optimizer", "epochs", "batch", "non-binary", "length", "class-range"],
)
def test_fit_mlp_refuses_bad_arguments(kwargs, err, match):
    args = {"y": np.array([0, 1, 1, 0]), "epochs": 1, "batch_size": 2, "lr": 0.1, "rng": 0} | kwargs
    y = args.pop("y")
    with pytest.raises(err, match=match):
        fit_mlp(build_mlp(3, hidden=(2,)), np.zeros((4, 3), dtype=np.float32), y, **args)
