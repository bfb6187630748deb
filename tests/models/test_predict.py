"""Tests for privids.models.predict against a NumPy forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privids.exceptions import DataError
from privids.models.mlp import build_mlp
from privids.models.predict import predict_scores


def _numpy_forward(model, X: np.ndarray) -> np.ndarray:
    h = X.astype(np.float64)
    linears = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    for i, lin in enumerate(linears):
        h = h @ lin.weight.detach().double().numpy().T + lin.bias.detach().double().numpy()
        if i < len(linears) - 1:
            h = np.maximum(h, 0)
    return h


def test_binary_scores_are_sigmoid_of_logits():
    X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    model = build_mlp(6, hidden=(8, 8), seed=3)
    expected = 1 / (1 + np.exp(-_numpy_forward(model, X)[:, 0]))
    got = predict_scores(model, X, batch_size=7)
    assert got.shape == (50,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_multiclass_scores_are_softmax_rows():
    X = np.random.default_rng(1).normal(size=(30, 4)).astype(np.float32)
    model = build_mlp(4, hidden=(5,), n_outputs=3, seed=0)
    logits = _numpy_forward(model, X)
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = predict_scores(model, X)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0)


def test_batching_does_not_change_scores_and_mode_is_restored():
    X = np.random.default_rng(2).normal(size=(101, 3)).astype(np.float32)
    model = build_mlp(3, seed=0)
    model.train()
    a = predict_scores(model, X, batch_size=10)
    b = predict_scores(model, X)
    # BLAS may block a 10-row matmul differently from a 101-row one: equal up to float32 rounding.
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_confident_scores_keep_their_order():
    # float32 sigmoid would round both to exactly 1.0 and tie them.
    model = build_mlp(1, hidden=(), seed=0)
    with torch.no_grad():
        model.net[0].weight.fill_(1.0)
        model.net[0].bias.zero_()
    s = predict_scores(model, np.array([[20.0], [25.0]], dtype=np.float32))
    assert s[0] < s[1] < 1.0


def test_wrong_width_is_refused():
    with pytest.raises(DataError, match=r"shape \(n, 3\)"):
        predict_scores(build_mlp(3), np.zeros((2, 4), dtype=np.float32))
