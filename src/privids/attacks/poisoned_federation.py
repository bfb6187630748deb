"""An in-process federation with malicious clients, run round by round on flat update vectors.

Honest clients train locally from the global model; attackers poison their data and/or update
(:mod:`privids.attacks.poisoning`); the server scores every update's suspicion and aggregates
with a defence (:mod:`privids.attacks.defences`, Flower's strategies). Keeping the loop here,
on NumPy vectors, lets the study see every client's update, which the operator report needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privids._rng import RandomLike, as_generator, child_seed
from privids.attacks.backdoor import BackdoorTrigger
from privids.attacks.defences import DefenceSpec, aggregate_updates
from privids.attacks.local_training import get_flat_params, set_flat_params, train_epochs
from privids.attacks.poisoning import AttackContext, get_attack
from privids.attacks.robust import suspicion_scores
from privids.config import FederatedConfig
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError
from privids.federated.partition import partition_indices
from privids.models.mlp import FlowMLP, build_mlp

__all__ = ["PoisonedRun", "RoundRecord", "run_poisoned_federation"]


@dataclass(frozen=True)
class RoundRecord:
    """What the server saw in one round.

    Attributes
    ----------
    round : int
        1-based.
    suspicion : tuple of float
        Per-client suspicion score (:func:`privids.attacks.robust.suspicion_scores`).
    update_norms : tuple of float
    selected : tuple of int
        Clients whose updates the aggregator kept.
    noise_std : float
    """

    round: int
    suspicion: tuple[float, ...]
    update_norms: tuple[float, ...]
    selected: tuple[int, ...]
    noise_std: float


@dataclass(frozen=True)
class PoisonedRun:
    """Result of :func:`run_poisoned_federation`.

    Attributes
    ----------
    model : FlowMLP
        Final global model.
    attackers : tuple of int
        Malicious client ids (empty for the clean run).
    rounds : tuple of RoundRecord
    attack, defence : str
    """

    model: FlowMLP
    attackers: tuple[int, ...]
    rounds: tuple[RoundRecord, ...]
    attack: str
    defence: str

    def mean_suspicion(self) -> np.ndarray:
        """Per-client suspicion averaged over rounds."""
        return np.mean([r.suspicion for r in self.rounds], axis=0)

    def top_suspect_hit_rate(self) -> float:
        """Share of rounds in which the most suspicious client was an attacker (nan without attackers)."""
        if not self.attackers:
            return float("nan")
        hits = [int(np.argmax(r.suspicion)) in self.attackers for r in self.rounds]
        return float(np.mean(hits))


def run_poisoned_federation(
    data: PreparedData,
    *,
    attack: str,
    defence: str,
    n_clients: int,
    n_attackers: int,
    rounds: int,
    fed: FederatedConfig | None = None,
    spec: DefenceSpec | None = None,
    scale_factor: float = 10.0,
    trigger: BackdoorTrigger | None = None,
    hidden: tuple[int, ...] = (64, 64),
    partition: str = "iid",
    rng: RandomLike = None,
) -> PoisonedRun:
    """Federated training of the flow MLP with ``n_attackers`` of ``n_clients`` running ``attack``.

    Parameters
    ----------
    data : PreparedData
        ``data.train`` is split over the clients (see ``partition``).
    attack : str
        A registered attack (``none``, ``label_flip``, ``sign_flip``, ``scale``, ``backdoor``).
    defence : str
        A defence for :func:`privids.attacks.defences.aggregate_updates`.
    n_clients, n_attackers : int
    rounds : int
    fed : FederatedConfig or None, default=None
        ``local_epochs``, ``lr`` and ``batch_size`` of local training.
    spec : DefenceSpec or None, default=None
        None assumes the defender knows ``n_malicious = n_attackers`` (at least 1).
    scale_factor : float, default=10.0
        Boost of the ``sign_flip`` and ``scale`` attacks.
    trigger : BackdoorTrigger or None, default=None
        Required for ``backdoor``.
    hidden : tuple of int, default=(64, 64)
    partition : str, default="iid"
        How ``data.train`` is split over the clients
        (:func:`privids.federated.partition.partition_indices`: ``iid``, ``day``, ``family``,
        ``dirichlet:ALPHA``).
    rng : int, Generator or None, default=None
        One seed gives the same partition, attacker ids, initial model and training order,
        whatever the attack and defence, so runs can be compared pairwise.

    Returns
    -------
    PoisonedRun
    """
    fed = fed or FederatedConfig(clients=n_clients, rounds=rounds)
    if not 0 <= n_attackers < n_clients:
        raise ConfigError(f"n_attackers must be in [0, n_clients); got {n_attackers} of {n_clients}.")
    behaviour = get_attack(attack)
    spec = spec or DefenceSpec(n_malicious=max(1, n_attackers))
    gen = as_generator(rng)
    # Fixed draw order: partition, attackers, init, then per-round streams.
    parts = partition_indices(data.train, clients=n_clients, scheme=partition, rng=child_seed(gen))
    empty = [i for i, p in enumerate(parts) if len(p) == 0]
    if empty:
        raise ConfigError(f"partition {partition!r} leaves client(s) {empty} with 0 training rows; use more data, fewer clients or a larger alpha.")
    chosen = tuple(sorted(int(i) for i in as_generator(child_seed(gen)).choice(n_clients, n_attackers, replace=False)))
    attackers = chosen if attack != "none" else ()
    model = build_mlp(data.train.X.shape[1], hidden=hidden, seed=child_seed(gen) % (2**31))
    ctx = AttackContext(n_clients=n_clients, n_attackers=max(1, len(attackers)), scale_factor=scale_factor, trigger=trigger)
    global_flat = get_flat_params(model)
    records = []
    for rnd in range(1, rounds + 1):
        round_seed = child_seed(gen)
        updates, weights = [], []
        for cid, rows in enumerate(parts):
            client_rng = np.random.default_rng([round_seed, cid])
            X, y = data.train.X[rows], data.train.y[rows]
            epochs = fed.local_epochs
            if cid in attackers:
                X, y = behaviour.poison_data(X, y, ctx, client_rng)
                epochs *= behaviour.local_epochs_factor
            set_flat_params(model, global_flat)
            train_epochs(model, X, y, epochs=epochs, lr=fed.lr, batch_size=fed.batch_size, rng=client_rng)
            update = get_flat_params(model) - global_flat
            if cid in attackers:
                update = behaviour.poison_update(update, ctx)
            updates.append(update)
            weights.append(len(rows))
        U = np.stack(updates)
        agg = aggregate_updates(defence, U, weights=np.asarray(weights, dtype=np.float64), spec=spec,
                                rng=np.random.default_rng([round_seed, n_clients]))
        global_flat = global_flat + agg.update
        records.append(RoundRecord(
            round=rnd,
            suspicion=tuple(float(s) for s in suspicion_scores(U)),
            update_norms=tuple(float(v) for v in np.linalg.norm(U, axis=1)),
            selected=agg.selected,
            noise_std=agg.noise_std,
        ))
    set_flat_params(model, global_flat)
    return PoisonedRun(model=model, attackers=attackers, rounds=tuple(records), attack=attack, defence=defence)
