"""The reference detector: a small MLP built only from DP-compatible layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["FlowMLP", "build_mlp"]


class FlowMLP(nn.Module):
    """Multi-layer perceptron over scaled flow features.

    The reference design is ``78 -> 64 -> 64 -> 1`` with ReLU. Only Linear and ReLU layers are
    used, so the model is valid for Opacus per-sample gradients (no BatchNorm, no in-place ops).

    Parameters
    ----------
    n_features : int
        Input width (the stored feature list's length).
    hidden : sequence of int, default=(64, 64)
        Hidden layer widths.
    n_outputs : int, default=1
        1 for the binary BENIGN/attack logit, or the number of classes for a multi-class head.

    Examples
    --------
    >>> m = FlowMLP(4, hidden=(8,), n_outputs=1)
    >>> m(torch.zeros(2, 4)).shape
    torch.Size([2, 1])
    """

    def __init__(self, n_features: int, *, hidden: Sequence[int] = (64, 64), n_outputs: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)
        self.n_features = n_features
        self.hidden = tuple(hidden)
        self.n_outputs = n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(batch, n_outputs)``."""
        return self.net(x)


def build_mlp(n_features: int, *, hidden: Sequence[int] = (64, 64), n_outputs: int = 1, seed: int = 0) -> FlowMLP:
    """Build a FlowMLP with weights initialised from ``seed`` (no global RNG touched).

    Parameters
    ----------
    n_features : int
    hidden : sequence of int, default=(64, 64)
    n_outputs : int, default=1
    seed : int, default=0
        Seed for the initial weights, so one seed gives one model.
    """
    # fork_rng keeps the caller's global torch RNG untouched while init uses our seed.
    with torch.random.fork_rng(devices=[]):
        torch.random.manual_seed(seed)
        return FlowMLP(n_features, hidden=hidden, n_outputs=n_outputs)
