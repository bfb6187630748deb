"""Non-private MLP training: one generic loop over tensor-indexed batches, reused by FL clients."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from privids._rng import RandomLike, as_generator, child_seed, torch_generator
from privids.config import TrainConfig
from privids.data.dataset import PreparedData, SplitView
from privids.exceptions import ConfigError, DataError
from privids.models.mlp import FlowMLP, build_mlp

__all__ = ["OPTIMIZERS", "fit_mlp", "init_mlp", "mlp_targets", "train_mlp", "train_mlp_history"]

OptimizerFactory = Callable[[Iterable[nn.Parameter], float, float], torch.optim.Optimizer]

# A mapping instead of an if/elif ladder: the allowed names in error messages come from here.
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "sgd": lambda params, lr, momentum: torch.optim.SGD(params, lr=lr, momentum=momentum),
    "adam": lambda params, lr, momentum: torch.optim.Adam(params, lr=lr),
}


def _as_tensor(X: np.ndarray | torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        return X.to(dtype)
    # from_numpy shares memory when the dtype already matches, so 1.5 M rows are not copied.
    return torch.from_numpy(np.ascontiguousarray(X)).to(dtype)


def fit_mlp(
    model: nn.Module,
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str = "adam",
    momentum: float = 0.0,
    rng: RandomLike,
    multiclass: bool = False,
) -> list[float]:
    """Train ``model`` in place with mini-batch gradient descent and return per-epoch mean losses.

    Batches come from indexing the whole tensors with a fresh random permutation per epoch:
    for a 78-64-64-1 network a per-sample ``Dataset``/``DataLoader`` costs more than the model.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~privids.models.mlp.FlowMLP` (or any module mapping ``(n, F)`` to logits).
    X : ndarray or Tensor of float32, shape (n, F)
        Transformed features.
    y : ndarray or Tensor of int, shape (n,)
        Binary targets (0/1) or, when ``multiclass``, class indices in ``[0, n_outputs)``.
    epochs : int
        Full passes over the data.
    batch_size : int
        Rows per step; the last batch of an epoch may be smaller.
    lr : float
        Learning rate.
    optimizer : {"sgd", "adam"}, default="adam"
    momentum : float, default=0.0
        SGD momentum (ignored by Adam).
    rng : int, numpy.random.Generator or None
        Source of the per-epoch permutations; the same seed gives the same model.
    multiclass : bool, default=False
        Cross-entropy over ``n_outputs`` classes instead of binary cross-entropy on one logit.

    Returns
    -------
    list of float
        Mean training loss of each epoch (weighted by batch size).

    Raises
    ------
    ConfigError
        Unknown optimizer or non-positive ``epochs``/``batch_size``/``lr``.
    DataError
        Empty data, mismatched lengths or targets outside the model's classes.

    Examples
    --------
    >>> m = build_mlp(2, hidden=(4,), seed=0)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0]] * 8, dtype=np.float32)
    >>> y = np.array([0, 1] * 8)
    >>> losses = fit_mlp(m, X, y, epochs=3, batch_size=4, lr=0.05, rng=0)
    >>> len(losses), losses[-1] < losses[0]
    (3, True)
    """
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}.")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if not value > 0:
            raise ConfigError(f"{name} must be positive; got {value!r}.")
    Xt = _as_tensor(X, torch.float32)
    yt = _as_tensor(y, torch.int64)
    n = int(Xt.shape[0])
    if n == 0 or Xt.ndim != 2 or yt.shape != (n,):
        raise DataError(
            f"fit_mlp needs X of shape (n, F) with n > 0 and y of shape (n,); got X {tuple(Xt.shape)}, "
            f"y {tuple(yt.shape)}; pass one target per row."
        )
    n_out = getattr(model, "n_outputs", None)
    if multiclass:
        if n_out is not None and (int(yt.min()) < 0 or int(yt.max()) >= n_out):
            raise DataError(
                f"multi-class targets must lie in [0, {n_out}); got range [{int(yt.min())}, {int(yt.max())}]; "
                "map labels with PreparedData.family_index and size the head to len(family_names)."
            )
        loss_fn: nn.Module = nn.CrossEntropyLoss()
        target = yt
    else:
        if not bool(((yt == 0) | (yt == 1)).all()):
            raise DataError("binary targets must be 0 (BENIGN) or 1 (attack); got other values; use multiclass=True.")
        loss_fn = nn.BCEWithLogitsLoss()
        target = yt.to(torch.float32)

    gen = torch_generator(rng)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr, momentum)
    model.train()
    losses: list[float] = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            logits = model(Xt[idx])
            if not multiclass:
                logits = logits.squeeze(1)
            loss = loss_fn(logits, target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * int(idx.shape[0])
        losses.append(total / n)
    return losses


def mlp_targets(data: PreparedData, split: SplitView, *, multiclass: bool) -> np.ndarray:
    """Integer targets for ``split``: the binary ``y`` or family indices into ``data.family_names``."""
    return data.family_index(split.families) if multiclass else split.y


def init_mlp(data: PreparedData, cfg: TrainConfig, *, rng: RandomLike) -> FlowMLP:
    """A freshly initialised FlowMLP sized for ``data`` (binary head, or one output per family)."""
    n_outputs = len(data.family_names) if cfg.multiclass else 1
    if cfg.multiclass and n_outputs < 2:
        raise DataError(
            f"a multi-class head needs at least 2 families; got {list(data.family_names)}; train the binary model."
        )
    return build_mlp(len(data.feature_names), hidden=cfg.hidden, n_outputs=n_outputs, seed=child_seed(rng))


def train_mlp_history(data: PreparedData, cfg: TrainConfig, *, rng: RandomLike) -> tuple[FlowMLP, list[float]]:
    """:func:`train_mlp` that also returns the per-epoch mean training losses (for reports)."""
    gen = as_generator(rng)
    model = init_mlp(data, cfg, rng=gen)
    losses = fit_mlp(
        model,
        data.train.X,
        mlp_targets(data, data.train, multiclass=cfg.multiclass),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        optimizer=cfg.optimizer,
        momentum=cfg.momentum,
        rng=gen,
        multiclass=cfg.multiclass,
    )
    return model.eval(), losses


def train_mlp(data: PreparedData, cfg: TrainConfig, *, rng: RandomLike) -> FlowMLP:
    """Train the reference MLP on ``data.train`` with the settings in ``cfg``.

    Parameters
    ----------
    data : PreparedData
        Transformed splits; only ``train`` is used here (the threshold is chosen on ``val`` later).
    cfg : TrainConfig
        ``hidden``, ``multiclass``, ``optimizer``, ``lr``, ``momentum``, ``batch_size``, ``epochs``.
    rng : int, numpy.random.Generator or None
        One generator drives both the initial weights and the batch order.

    Returns
    -------
    FlowMLP
        The trained model, in eval mode.
    """
    return train_mlp_history(data, cfg, rng=rng)[0]
