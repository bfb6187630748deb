"""Exact per-sample gradient clipping for models whose only parameters are ``nn.Linear`` layers.

For a Linear layer with input ``a_i`` and output gradient ``g_i`` of example ``i``, the
per-sample weight gradient is the outer product ``g_i a_i^T``; its squared norm is
``|g_i|^2 |a_i|^2`` and the bias adds ``|g_i|^2`` (the "ghost norm" identity). The clipped
sum over the batch is then ``(c * g)^T a`` with ``c_i = min(1, C / |grad_i|)``, so one
backward pass to the layer outputs gives the exact clipped gradient without materialising
per-sample gradients or running a second backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from privids.exceptions import ModelError

__all__ = [
    "ClippedStep",
    "LinearTape",
    "clip_factors",
    "clipped_backward",
    "clipped_linear_grads",
    "linear_per_sample_sq_norms",
]


def linear_per_sample_sq_norms(a: torch.Tensor, g: torch.Tensor, *, bias: bool) -> torch.Tensor:
    """Squared per-sample gradient norms of one Linear layer from its inputs and output grads.

    Parameters
    ----------
    a : Tensor, shape (B, d_in)
    g : Tensor, shape (B, d_out)
        Gradient of the summed loss with respect to the layer output.
    bias : bool
        Whether the layer has a bias (adds ``|g_i|^2``).

    Returns
    -------
    Tensor, shape (B,)

    Examples
    --------
    >>> a = torch.tensor([[3.0, 4.0]]); g = torch.tensor([[1.0, 0.0, 0.0]])
    >>> linear_per_sample_sq_norms(a, g, bias=True)
    tensor([26.])
    """
    g2 = g.pow(2).sum(dim=1)
    return g2 * (a.pow(2).sum(dim=1) + (1.0 if bias else 0.0))


def clip_factors(sq_norms: torch.Tensor, max_grad_norm: float) -> torch.Tensor:
    """Per-sample scale ``min(1, C / (|grad| + 1e-6))``, the factor Opacus' flat clipping applies."""
    return (max_grad_norm / (sq_norms.sqrt() + 1e-6)).clamp(max=1.0)


def clipped_linear_grads(a: torch.Tensor, g: torch.Tensor, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over the batch of clipped per-sample gradients of one Linear layer (weight, bias)."""
    gs = g * factors.unsqueeze(1)
    return gs.t() @ a, gs.sum(dim=0)


@dataclass
class _Record:
    layer: nn.Linear
    inputs: torch.Tensor
    outputs: torch.Tensor


class LinearTape:
    """Forward hooks recording each Linear layer's input and output for one step.

    Parameters
    ----------
    model : torch.nn.Module
        Every parameter must belong to an ``nn.Linear`` and each layer must run once per forward.

    Raises
    ------
    ModelError
        If another module type owns parameters.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        for m in model.modules():
            if list(m.parameters(recurse=False)) and not isinstance(m, nn.Linear):
                raise ModelError(
                    f"grad_sample_mode='linear' supports models whose parameters are all nn.Linear; got {type(m).__name__}. "
                    "Use grad_sample_mode='ghost' or 'hooks' for this model."
                )
        self.records: list[_Record] = []
        self._handles = [layer.register_forward_hook(self._hook) for layer in self.layers]

    def _hook(self, layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.records.append(_Record(layer, inputs[0].detach(), output))  # type: ignore[arg-type]

    def remove(self) -> None:
        """Detach the hooks (the model is then an ordinary module again)."""
        for h in self._handles:
            h.remove()
        self._handles = []


@dataclass(frozen=True)
class ClippedStep:
    """Result of one clipped backward pass.

    Attributes
    ----------
    loss_sum : float
        Summed (not averaged) loss over the batch.
    batch_size : int
    norms : Tensor, shape (B,)
        Per-sample gradient norms before clipping.
    """

    loss_sum: float
    batch_size: int
    norms: torch.Tensor


def clipped_backward(
    model: nn.Module,
    tape: LinearTape,
    X: torch.Tensor,
    y: torch.Tensor,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    max_grad_norm: float,
) -> ClippedStep:
    """Set each Linear parameter's ``.grad`` to the sum of clipped per-sample gradients.

    Parameters
    ----------
    model, tape
        The model and the :class:`LinearTape` attached to it.
    X, y : Tensor
        One (possibly empty) batch.
    per_sample_loss : callable
        ``(logits, y) -> Tensor of shape (B,)``.
    max_grad_norm : float
        Clipping norm C.
    """
    if X.shape[0] == 0:
        for layer in tape.layers:
            for p in layer.parameters():
                p.grad = torch.zeros_like(p)
        return ClippedStep(0.0, 0, torch.zeros(0))
    tape.records.clear()
    loss = per_sample_loss(model(X), y)
    records = list(tape.records)
    tape.records.clear()
    if len(records) != len(tape.layers):
        raise ModelError(
            f"grad_sample_mode='linear' needs each Linear layer to run exactly once per forward; got {len(records)} calls "
            f"for {len(tape.layers)} layers. Use grad_sample_mode='ghost' for weight sharing."
        )
    # Gradients with respect to layer outputs only: autograd skips the weight-gradient matmuls,
    # which are recomputed below already clipped.
    grads = torch.autograd.grad(loss.sum(), [r.outputs for r in records])
    sq = torch.zeros(X.shape[0], dtype=X.dtype)
    for r, g in zip(records, grads, strict=True):
        sq = sq + linear_per_sample_sq_norms(r.inputs, g, bias=r.layer.bias is not None)
    factors = clip_factors(sq, max_grad_norm)
    for r, g in zip(records, grads, strict=True):
        gw, gb = clipped_linear_grads(r.inputs, g, factors)
        r.layer.weight.grad = gw
        if r.layer.bias is not None:
            r.layer.bias.grad = gb
    return ClippedStep(float(loss.detach().sum()), int(X.shape[0]), sq.sqrt())
