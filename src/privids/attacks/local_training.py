"""Local training, scoring and flat parameter vectors for the clients and shadow models of the attack study."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from privids._rng import RandomLike, as_generator, child_seed, torch_generator
from privids.exceptions import ConfigError
from privids.models.mlp import FlowMLP, build_mlp

__all__ = ["get_flat_params", "predict_proba", "set_flat_params", "train_binary_mlp", "train_epochs"]


def get_flat_params(model: nn.Module) -> np.ndarray:
    """All parameters concatenated in ``model.parameters()`` order, as float64."""
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().double().numpy().copy()


def set_flat_params(model: nn.Module, flat: np.ndarray) -> nn.Module:
    """Load a flat vector produced by :func:`get_flat_params` back into ``model`` (in place)."""
    n = sum(p.numel() for p in model.parameters())
    if flat.shape != (n,):
        raise ConfigError(f"flat parameter vector must have shape ({n},); got {flat.shape}.")
    ref = next(model.parameters())
    torch.nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=ref.dtype), model.parameters())
    return model


def train_epochs(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int, rng: RandomLike) -> float:
    """Train ``model`` in place with Adam on binary cross-entropy; return the last epoch's mean loss.

    Parameters
    ----------
    model : nn.Module
        Outputs one logit per row.
    X : ndarray of float32, shape (n, F)
    y : ndarray of {0, 1}, shape (n,)
    epochs : int
    lr : float
    batch_size : int
    rng : int, Generator or None
        Shuffling order.
    """
    if len(y) == 0:
        raise ConfigError("cannot train on 0 examples; give this client data or leave it out of the round.")
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch_generator(rng)
    model.train()
    last = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx]).squeeze(-1), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        last = total / len(order)
    model.eval()
    return last


def train_binary_mlp(X: np.ndarray, y: np.ndarray, *, hidden: tuple[int, ...] = (64, 64), epochs: int = 5, lr: float = 1e-3, batch_size: int = 256, rng: RandomLike = None) -> FlowMLP:
    """Fresh :class:`FlowMLP` trained non-privately on ``(X, y)`` (shadow models, overfitting tests)."""
    gen = as_generator(rng)
    model = build_mlp(X.shape[1], hidden=hidden, seed=child_seed(gen) % (2**31))
    train_epochs(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, rng=gen)
    return model


def predict_proba(model: nn.Module, X: np.ndarray, *, batch_size: int = 8192) -> np.ndarray:
    """P(attack) for each row, as float64."""
    model.eval()
    out = []
    with torch.no_grad():
        Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
        for start in range(0, len(Xt), batch_size):
            out.append(torch.sigmoid(model(Xt[start : start + batch_size]).squeeze(-1)).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)
