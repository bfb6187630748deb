"""Exact Linear-layer clipping against a one-example-at-a-time loop and against Opacus (noise off)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from privids.exceptions import ModelError
from privids.models.mlp import build_mlp
from privids.privacy.linear_clip import LinearTape, clip_factors, clipped_backward, linear_per_sample_sq_norms

C = 1.0


def _batch(seed: int = 0, n: int = 16, f: int = 6, scale: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, f, generator=g) * scale
    y = (torch.rand(n, generator=g) < 0.4).float()
    return X, y


def _bce(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), t, reduction="none")


def _per_example_grads(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> list[list[torch.Tensor]]:
    # Oracle: one backward pass per example.
    out = []
    for i in range(X.shape[0]):
        model.zero_grad()
        _bce(model(X[i : i + 1]), y[i : i + 1]).sum().backward()
        out.append([p.grad.detach().clone() for p in model.parameters()])
    return out


def _brute_clipped_sum(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], np.ndarray, np.ndarray]:
    grads = _per_example_grads(model, X, y)
    norms = np.array([float(torch.sqrt(sum((g**2).sum() for g in gs))) for gs in grads])
    clipped = [[g * min(1.0, C / (n + 1e-6)) for g in gs] for gs, n in zip(grads, norms, strict=True)]
    clipped_norms = np.array([float(torch.sqrt(sum((g**2).sum() for g in gs))) for gs in clipped])
    total = [sum(gs[k] for gs in clipped) for k in range(len(clipped[0]))]
    return total, norms, clipped_norms


def test_sq_norm_identity_matches_outer_product() -> None:
    a = torch.randn(5, 3)
    g = torch.randn(5, 4)
    expected = torch.stack([(torch.outer(g[i], a[i]) ** 2).sum() + (g[i] ** 2).sum() for i in range(5)])
    assert torch.allclose(linear_per_sample_sq_norms(a, g, bias=True), expected, rtol=1e-5)


def test_clipped_backward_matches_per_example_loop() -> None:
    # Arrange
    model = build_mlp(6, hidden=(8, 5), seed=3)
    X, y = _batch()
    expected, norms, clipped_norms = _brute_clipped_sum(model, X, y)
    tape = LinearTape(model)
    # Act
    step = clipped_backward(model, tape, X, y, _bce, max_grad_norm=C)
    # Assert: norms, clipping actually binding for some examples, every clipped norm <= C, same sum
    assert np.allclose(step.norms.numpy(), norms, rtol=1e-4)
    assert (norms > C).sum() >= 3 and (norms < C).sum() >= 1
    assert (clipped_norms <= C + 1e-5).all()
    for p, e in zip(model.parameters(), expected, strict=True):
        assert torch.allclose(p.grad, e, atol=1e-5)
    tape.remove()


def test_clipped_backward_empty_batch_gives_zero_signal() -> None:
    model = build_mlp(6, hidden=(4,), seed=0)
    tape = LinearTape(model)
    step = clipped_backward(model, tape, torch.zeros(0, 6), torch.zeros(0), _bce, max_grad_norm=C)
    assert step.batch_size == 0
    assert all(float(p.grad.abs().sum()) == 0.0 for p in model.parameters())


def test_clip_factors_are_one_below_the_norm() -> None:
    f = clip_factors(torch.tensor([0.25, 4.0, 100.0]), 1.0)  # squared norms 0.5, 2, 10
    assert torch.allclose(f, torch.tensor([1.0, 0.5, 0.1]), atol=1e-5)


def test_linear_tape_refuses_other_parametrised_layers() -> None:
    with pytest.raises(ModelError, match="LayerNorm"):
        LinearTape(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4)))


@pytest.mark.filterwarnings("ignore:Full backward hook")
@pytest.mark.parametrize("mode", ["hooks", "ghost"])
def test_linear_clipping_equals_opacus_with_noise_off(mode: str) -> None:
    # Arrange: one fixed batch, no Poisson sampling, sigma = 0, loss summed so p.grad is the clipped sum.
    from opacus import PrivacyEngine

    X, y = _batch(seed=1)
    ours = build_mlp(6, hidden=(8, 5), seed=7)
    theirs = build_mlp(6, hidden=(8, 5), seed=7)
    tape = LinearTape(ours)
    clipped_backward(ours, tape, X, y, _bce, max_grad_norm=C)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=len(X))
    opt = torch.optim.SGD(theirs.parameters(), lr=1.0)
    with pytest.warns(UserWarning):
        engine = PrivacyEngine(accountant="rdp")
    made = engine.make_private(
        module=theirs,
        optimizer=opt,
        criterion=nn.BCEWithLogitsLoss(reduction="sum"),
        data_loader=loader,
        noise_multiplier=0.0,
        max_grad_norm=C,
        poisson_sampling=False,
        grad_sample_mode=mode,
        loss_reduction="sum",
    )
    module, dp_opt = made[0], made[1]
    criterion = made[2] if mode == "ghost" else nn.BCEWithLogitsLoss(reduction="sum")
    # Act
    dp_opt.zero_grad()
    criterion(module(X).reshape(-1), y).backward()
    dp_opt.pre_step()
    # Assert
    for mine, other in zip(ours.parameters(), module._module.parameters(), strict=True):
        assert torch.allclose(mine.grad, other.grad, atol=1e-5), mode
