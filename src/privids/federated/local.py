"""What one organisation does in a round: its data, local training, local evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from privids.config import PrivacyConfig
from privids.exceptions import ModelError
from privids.models.mlp import FlowMLP
from privids.models.train import fit_mlp
from privids.privacy.dp_sgd import dp_fit

__all__ = [
    "ClientPartition",
    "LocalSettings",
    "LocalTrainer",
    "LocalUpdate",
    "NUM_EXAMPLES",
    "UNIFORM_WEIGHT",
    "evaluate_locally",
    "model_from_state",
    "train_locally",
]

# Keys of a reply's MetricRecord. FedAvg weights by "num-examples"; DP-FedAvg averages uniformly
# (Flower's accountant requires equal weights), so every reply also carries "uniform-weight".
NUM_EXAMPLES = "num-examples"
UNIFORM_WEIGHT = "uniform-weight"


@dataclass(frozen=True)
class ClientPartition:
    """The flows one organisation holds (already transformed with the federation's scaler).

    Attributes
    ----------
    partition_id : int
    X, y : ndarray
        Local training rows (float32, int64 binary target).
    X_eval, y_eval : ndarray
        Local validation rows used by ``@app.evaluate()``; may be empty.
    families : ndarray of str or None
        Attack family of each training row (attack clients use it, e.g. for backdoors).
    """

    partition_id: int
    X: np.ndarray
    y: np.ndarray
    X_eval: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    y_eval: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    families: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class LocalSettings:
    """Local training knobs sent by the server in each round's config.

    Attributes
    ----------
    epochs : int
    batch_size : int
    lr : float
    optimizer : {"adam", "sgd"}
    momentum : float
    server_round : int
    privacy : PrivacyConfig or None
        Record-level DP-SGD inside the organisation (``noise_multiplier`` already resolved).
    """

    epochs: int = 1
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    server_round: int = 1
    privacy: PrivacyConfig | None = None


@dataclass(frozen=True)
class LocalUpdate:
    """What an organisation sends back after local training.

    Attributes
    ----------
    state : dict of str to ndarray
        The full local model (same keys and shapes as the global model it started from).
    num_examples : int
        Training rows used; 0 means "ignore me" to the server.
    metrics : dict of str to float
        ``train_loss`` and anything else worth logging (finite numbers only).
    dp_steps : int
        DP-SGD steps taken this round (0 without local DP).
    dp_sample_rate : float
        Poisson sampling rate of those steps.
    dp_noise_multiplier : float
    dp_delta : float
        Record-level delta of that organisation (``1 / (10 n)`` by default).
    """

    state: dict[str, np.ndarray]
    num_examples: int
    metrics: dict[str, float] = field(default_factory=dict)
    dp_steps: int = 0
    dp_sample_rate: float = 0.0
    dp_noise_multiplier: float = 0.0
    dp_delta: float = 0.0


# A trainer receives the global model (loaded, ready to train in place) and the organisation's
# partition; the attacks layer swaps in its own for malicious organisations.
LocalTrainer = Callable[..., LocalUpdate]


def model_from_state(state: dict[str, np.ndarray]) -> FlowMLP:
    """Rebuild a FlowMLP whose shapes match ``state`` and load the weights.

    The architecture travels implicitly in the arrays (``net.{i}.weight`` shapes), so a client
    needs no extra configuration to build the right model.

    Raises
    ------
    ModelError
        ``state`` is not a FlowMLP state dict.
    """
    weights = sorted((k for k in state if k.startswith("net.") and k.endswith(".weight")), key=lambda k: int(k.split(".")[1]))
    if not weights:
        raise ModelError(f"expected FlowMLP arrays named 'net.<i>.weight'; got keys {sorted(state)[:5]}; fix: send FlowMLP.state_dict().")
    shapes = [np.asarray(state[k]).shape for k in weights]
    model = FlowMLP(int(shapes[0][1]), hidden=[int(s[0]) for s in shapes[:-1]], n_outputs=int(shapes[-1][0]))
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    return model


def _state_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _loss_fn(n_outputs: int) -> nn.Module:
    return nn.BCEWithLogitsLoss() if n_outputs == 1 else nn.CrossEntropyLoss()


def _targets(y: np.ndarray, n_outputs: int) -> torch.Tensor:
    t = torch.as_tensor(y)
    return t.float().unsqueeze(1) if n_outputs == 1 else t.long()


def train_locally(model: FlowMLP, part: ClientPartition, *, settings: LocalSettings, rng: np.random.Generator) -> LocalUpdate:
    """Train the global model on one organisation's rows and return the new weights.

    Parameters
    ----------
    model : FlowMLP
        The current global model (trained in place).
    part : ClientPartition
    settings : LocalSettings
        With ``settings.privacy`` set, training is record-level DP-SGD (Opacus, Poisson
        sampling) and the update reports the steps/sample rate the server composes.
    rng : numpy.random.Generator
        Shuffling (and DP noise) for this organisation and round.

    Returns
    -------
    LocalUpdate
        ``num_examples == 0`` with the unchanged model when the organisation has no rows, so
        no optimizer or Opacus loader is ever built on an empty dataset.
    """
    n = len(part)
    if n == 0:
        return LocalUpdate(state=_state_of(model), num_examples=0, metrics={"train_loss": 0.0})
    multiclass = model.n_outputs > 1
    if settings.privacy is None:
        losses = fit_mlp(
            model, part.X, part.y, epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
            optimizer=settings.optimizer, momentum=settings.momentum, rng=rng, multiclass=multiclass,
        )
        return LocalUpdate(state=_state_of(model), num_examples=n, metrics={"train_loss": float(losses[-1]) if losses else 0.0})
    # A small organisation cannot have an expected Poisson batch larger than its data.
    privacy = replace(settings.privacy, batch_size=min(settings.privacy.batch_size, n))
    result = dp_fit(model, part.X, part.y, privacy=privacy, rng=rng, multiclass=multiclass)
    loss = float(result.losses[-1]) if result.losses else 0.0
    return LocalUpdate(
        state=_state_of(result.model),
        num_examples=n,
        metrics={"train_loss": loss if math.isfinite(loss) else 0.0},
        dp_steps=int(result.spent.steps),
        dp_sample_rate=float(result.spent.sample_rate),
        dp_noise_multiplier=float(result.spent.noise_multiplier),
        dp_delta=float(result.spent.delta),
    )


def evaluate_locally(model: nn.Module, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean loss and accuracy (threshold 0.5 on the probability) on ``(X, y)``.

    Returns ``{"eval_loss": 0.0, "eval_accuracy": 0.0, "num-examples": 0}`` for no rows, so an
    empty organisation is weighted out instead of producing a 0/0.
    """
    n = int(len(y))
    if n == 0:
        return {"eval_loss": 0.0, "eval_accuracy": 0.0, "num-examples": 0}
    model.eval()
    n_out = int(getattr(model, "n_outputs", 1))
    with torch.no_grad():
        logits = model(torch.as_tensor(X, dtype=torch.float32))
        loss = float(_loss_fn(n_out)(logits, _targets(y, n_out)))
        pred = (logits.squeeze(1) > 0).long() if n_out == 1 else logits.argmax(1)
        acc = float((pred.numpy() == y).mean())
    return {"eval_loss": loss, "eval_accuracy": acc, "num-examples": n}
