"""Flat parameter vectors, and thin wrappers over the models layer's training loop and scoring, for the attack study."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from privids._rng import RandomLike, as_generator, child_seed
from privids.exceptions import ConfigError
from privids.models.mlp import FlowMLP, build_mlp
from privids.models.predict import predict_scores
from privids.models.train import fit_mlp

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
    """Train ``model`` in place with Adam (:func:`privids.models.train.fit_mlp`); return the last epoch's mean loss.

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
    losses = fit_mlp(model, np.asarray(X, dtype=np.float32), np.asarray(y), epochs=epochs, batch_size=batch_size, lr=lr,
                     optimizer="adam", rng=rng)
    model.eval()
    return float(losses[-1])


def train_binary_mlp(X: np.ndarray, y: np.ndarray, *, hidden: tuple[int, ...] = (64, 64), epochs: int = 5, lr: float = 1e-3, batch_size: int = 256, rng: RandomLike = None) -> FlowMLP:
    """Fresh :class:`FlowMLP` trained non-privately on ``(X, y)`` (shadow models, overfitting tests)."""
    gen = as_generator(rng)
    model = build_mlp(X.shape[1], hidden=hidden, seed=child_seed(gen) % (2**31))
    train_epochs(model, X, y, epochs=epochs, lr=lr, batch_size=batch_size, rng=gen)
    return model


def predict_proba(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """P(attack) for each row, as float64 (:func:`privids.models.predict.predict_scores`)."""
    return np.asarray(predict_scores(model, np.asarray(X, dtype=np.float32)), dtype=np.float64)
