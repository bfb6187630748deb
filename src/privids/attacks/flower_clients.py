"""Malicious organisations for the real Flower federation (``run_federation(client_overrides=...)``).

The same behaviours as :mod:`privids.attacks.poisoning`, packaged as replacement local trainers
for :func:`privids.federated.simulation.run_federation`: the ClientApp loads the global model,
calls the trainer, and sends its update unchecked, as a compromised organisation would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from privids._rng import RandomLike, as_generator
from privids.attacks.backdoor import BackdoorTrigger
from privids.attacks.poisoning import AttackContext, get_attack
from privids.config import FederatedConfig
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError
from privids.federated.local import ClientPartition, LocalSettings, LocalTrainer, LocalUpdate, train_locally
from privids.federated.simulation import FederationResult, run_federation
from privids.models.mlp import FlowMLP

__all__ = ["FlowerPoisoningRun", "malicious_trainers", "run_flower_poisoning"]


def _state(model: FlowMLP) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _make_trainer(attack: str, ctx: AttackContext) -> LocalTrainer:
    behaviour = get_attack(attack)

    def trainer(model: FlowMLP, part: ClientPartition, *, settings: LocalSettings, rng: np.random.Generator) -> LocalUpdate:
        before = _state(model)
        X, y = behaviour.poison_data(part.X, part.y, ctx, rng)
        poisoned = replace(part, X=X, y=y, families=None)
        honest = train_locally(model, poisoned, settings=replace(settings, epochs=settings.epochs * behaviour.local_epochs_factor), rng=rng)
        keys = list(before)
        flat = np.concatenate([(honest.state[k] - before[k]).ravel() for k in keys]).astype(np.float64)
        bad = behaviour.poison_update(flat, ctx)
        state, start = {}, 0
        for k in keys:
            size = before[k].size
            state[k] = (before[k] + bad[start : start + size].reshape(before[k].shape)).astype(before[k].dtype)
            start += size
        # Report the real partition size: a liar about num_examples would be a different attack.
        return LocalUpdate(state=state, num_examples=len(part), metrics=dict(honest.metrics))

    return trainer


def malicious_trainers(
    attack: str,
    attackers: Sequence[int],
    *,
    n_clients: int,
    scale_factor: float = 10.0,
    trigger: BackdoorTrigger | None = None,
) -> dict[int, LocalTrainer]:
    """Replacement trainers, keyed by partition id, for ``run_federation(client_overrides=...)``.

    Parameters
    ----------
    attack : str
        A registered attack (``label_flip``, ``sign_flip``, ``scale``, ``backdoor``).
    attackers : sequence of int
        Partition ids of the malicious organisations.
    n_clients : int
    scale_factor : float, default=10.0
    trigger : BackdoorTrigger or None, default=None
        Required for ``backdoor``.

    Returns
    -------
    dict of int to LocalTrainer
    """
    bad = sorted(set(int(a) for a in attackers))
    if not bad or bad[0] < 0 or bad[-1] >= n_clients:
        raise ConfigError(f"attackers must be partition ids in [0, {n_clients}); got {list(attackers)}.")
    ctx = AttackContext(n_clients=n_clients, n_attackers=len(bad), scale_factor=scale_factor, trigger=trigger)
    trainer = _make_trainer(attack, ctx)
    return {a: trainer for a in bad}


@dataclass(frozen=True)
class FlowerPoisoningRun:
    """A Flower federation with malicious organisations.

    Attributes
    ----------
    result : FederationResult
    attackers : tuple of int
    attack : str
    """

    result: FederationResult
    attackers: tuple[int, ...]
    attack: str


def run_flower_poisoning(
    data: PreparedData,
    cfg: FederatedConfig,
    *,
    attack: str,
    n_attackers: int,
    scale_factor: float = 10.0,
    trigger: BackdoorTrigger | None = None,
    engine: str = "inprocess",
    strategy_params: Mapping[str, Any] | None = None,
    rng: RandomLike = None,
) -> FlowerPoisoningRun:
    """Run :func:`privids.federated.simulation.run_federation` with ``n_attackers`` malicious organisations.

    Parameters
    ----------
    data : PreparedData
    cfg : FederatedConfig
        Its ``strategy`` is the defence (``fedavg``, ``krum``, ``multikrum``, ``median``,
        ``trimmed``, ``bulyan``; ``central_dp`` for DP-FedAvg).
    attack : str
    n_attackers : int
    scale_factor : float, default=10.0
    trigger : BackdoorTrigger or None, default=None
    engine : {"inprocess", "simulation"}, default="inprocess"
    strategy_params : mapping or None, default=None
        Defaults to ``{"num_malicious": n_attackers}`` for the Byzantine-robust strategies.
    rng : int, Generator or None, default=None
        Picks the malicious partition ids (and seeds the partitioning).

    Returns
    -------
    FlowerPoisoningRun
    """
    if not 1 <= n_attackers < cfg.clients:
        raise ConfigError(f"n_attackers must be in [1, {cfg.clients}); got {n_attackers}.")
    gen = as_generator(rng)
    attackers = tuple(sorted(int(i) for i in gen.choice(cfg.clients, n_attackers, replace=False)))
    params = dict(strategy_params) if strategy_params is not None else (
        {"num_malicious": n_attackers} if cfg.strategy in ("krum", "multikrum", "bulyan") else {}
    )
    overrides = malicious_trainers(attack, attackers, n_clients=cfg.clients, scale_factor=scale_factor, trigger=trigger)
    result = run_federation(data, cfg, engine=engine, rng=gen, client_overrides=overrides, strategy_params=params)
    return FlowerPoisoningRun(result=result, attackers=attackers, attack=attack)
