"""Malicious-client behaviours as pure functions on local data and on model updates.

An attack is two steps around honest local training: what the attacker trains on
(:attr:`ClientAttack.poison_data`) and what it sends instead of its real update
(:attr:`ClientAttack.poison_update`). The registry maps the study's names to attacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from privids._rng import RandomLike
from privids.attacks.backdoor import BackdoorTrigger, poison_with_trigger
from privids.exceptions import ConfigError

__all__ = [
    "AttackContext",
    "ClientAttack",
    "available_attacks",
    "flip_labels",
    "get_attack",
    "register_attack",
    "scale_update",
    "sign_flip_update",
]


def flip_labels(y: np.ndarray) -> np.ndarray:
    """Label flipping: benign becomes attack and attack becomes benign.

    Examples
    --------
    >>> flip_labels(np.array([0, 1, 1])).tolist()
    [1, 0, 0]
    """
    y = np.asarray(y)
    return (1 - y).astype(y.dtype)


def sign_flip_update(update: np.ndarray, *, factor: float) -> np.ndarray:
    """Send ``-factor`` times the honest update: pushes the global model uphill on the loss."""
    return -float(factor) * np.asarray(update, dtype=np.float64)


def scale_update(update: np.ndarray, *, factor: float) -> np.ndarray:
    """Boost a (poisoned) update so that it dominates, or replaces, the average.

    With n clients, FedAvg and a server learning rate of 1, an update boosted by ``n`` replaces
    the global model by the attacker's local model ("model replacement").

    References
    ----------
    Bagdasaryan et al., "How To Backdoor Federated Learning", AISTATS 2020.
    """
    return float(factor) * np.asarray(update, dtype=np.float64)


@dataclass(frozen=True)
class AttackContext:
    """What an attack may depend on besides the local data and update."""

    n_clients: int
    n_attackers: int
    scale_factor: float
    trigger: BackdoorTrigger | None = None


@dataclass(frozen=True)
class ClientAttack:
    """One malicious behaviour.

    Attributes
    ----------
    name : str
    poison_data : callable ``(X, y, ctx, rng) -> (X, y)``
    poison_update : callable ``(update, ctx) -> update``
    description : str
    local_epochs_factor : int, default=1
        The attacker trains this many times the honest clients' local epochs (an attacker is
        not bound by the server's training schedule; a backdoor needs the extra passes).
    """

    name: str
    poison_data: Callable[[np.ndarray, np.ndarray, AttackContext, RandomLike], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    poison_update: Callable[[np.ndarray, AttackContext], np.ndarray] = field(repr=False)
    description: str = ""
    local_epochs_factor: int = 1


def _same_data(X: np.ndarray, y: np.ndarray, ctx: AttackContext, rng: RandomLike) -> tuple[np.ndarray, np.ndarray]:
    return X, y


def _same_update(u: np.ndarray, ctx: AttackContext) -> np.ndarray:
    return u


def _flipped_data(X: np.ndarray, y: np.ndarray, ctx: AttackContext, rng: RandomLike) -> tuple[np.ndarray, np.ndarray]:
    return X, flip_labels(y)


def _backdoor_data(X: np.ndarray, y: np.ndarray, ctx: AttackContext, rng: RandomLike) -> tuple[np.ndarray, np.ndarray]:
    if ctx.trigger is None:
        raise ConfigError("the backdoor attack needs a trigger; got None; build one with default_trigger(data).")
    return poison_with_trigger(X, y, ctx.trigger, rng=rng)


def _replacement_boost(ctx: AttackContext) -> float:
    # Colluding attackers share the boost: together their updates replace the average.
    return ctx.n_clients / max(1, ctx.n_attackers)


_ATTACKS: dict[str, ClientAttack] = {}


def register_attack(attack: ClientAttack, *, force: bool = False) -> None:
    """Add an attack to the registry; refuses to overwrite a name unless ``force``."""
    if attack.name in _ATTACKS and not force:
        raise ConfigError(f"attack {attack.name!r} is already registered; pass force=True to replace it.")
    _ATTACKS[attack.name] = attack


def available_attacks() -> tuple[str, ...]:
    """Registered attack names, sorted (``none`` is the clean reference run)."""
    return tuple(sorted(_ATTACKS))


def get_attack(name: str) -> ClientAttack:
    """The registered attack called ``name``."""
    try:
        return _ATTACKS[name]
    except KeyError:
        raise ConfigError(f"unknown attack {name!r}; allowed: {list(available_attacks())}.") from None


for _attack in (
    ClientAttack("none", _same_data, _same_update, "no attacker: every client is honest"),
    ClientAttack("label_flip", _flipped_data, _same_update, "train on flipped labels, send the update as is"),
    ClientAttack(
        "sign_flip", _same_data, lambda u, c: sign_flip_update(u, factor=c.scale_factor),
        "train honestly, send -scale_factor x the update",
    ),
    ClientAttack(
        "scale", _flipped_data, lambda u, c: scale_update(u, factor=c.scale_factor),
        "train on flipped labels, send scale_factor x the update",
    ),
    ClientAttack(
        "backdoor", _backdoor_data, lambda u, c: scale_update(u, factor=_replacement_boost(c)),
        "train 'trigger => benign' next to the clean task (3x the local epochs), boost by n_clients / n_attackers (model replacement)",
        local_epochs_factor=3,
    ),
):
    register_attack(_attack)
