"""Batched, gradient-free scoring of flows with a trained FlowMLP."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from privids.exceptions import DataError

__all__ = ["predict_scores"]


def predict_scores(model: nn.Module, X: np.ndarray | torch.Tensor, *, batch_size: int = 65536) -> np.ndarray:
    """Attack probabilities (binary head) or class probabilities (multi-class head).

    Parameters
    ----------
    model : torch.nn.Module
        A FlowMLP; its ``n_outputs`` decides the head (1 = binary logit).
    X : ndarray or Tensor of float32, shape (n, F)
        Transformed features (``artifact.transform.transform(raw)``).
    batch_size : int, default=65536
        Rows per forward pass; bounds memory on millions of flows.

    Returns
    -------
    ndarray of float64
        Shape ``(n,)`` with P(attack) for a binary head, or ``(n, K)`` rows summing to 1.

    Notes
    -----
    The probabilities are computed in float64 from the logits: in float32 a confident model's
    attack scores saturate at exactly 1.0, and ties destroy the ranking that ROC-AUC and the
    threshold search rely on. The model's train/eval mode is restored afterwards.

    Examples
    --------
    >>> from privids.models.mlp import build_mlp
    >>> predict_scores(build_mlp(3, hidden=(4,)), np.zeros((2, 3), dtype=np.float32)).shape
    (2,)
    """
    Xt = X if isinstance(X, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    n_features = getattr(model, "n_features", None)
    if Xt.ndim != 2 or (n_features is not None and Xt.shape[1] != n_features):
        raise DataError(
            f"predict_scores needs X of shape (n, {n_features}); got {tuple(Xt.shape)}; "
            "apply the artifact's transform to the stored feature list first."
        )
    was_training = model.training
    model.eval()
    chunks: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for start in range(0, int(Xt.shape[0]), batch_size):
                chunks.append(model(Xt[start : start + batch_size].to(torch.float32)).to(torch.float64))
    finally:
        model.train(was_training)
    n_out = int(getattr(model, "n_outputs", 1))
    logits = torch.cat(chunks) if chunks else torch.zeros((0, n_out), dtype=torch.float64)
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0]).numpy()
    return torch.softmax(logits, dim=1).numpy()
