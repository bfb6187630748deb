"""Name -> trainer registry for centralised detectors (``mlp``, ``gbt``), refusing silent overwrites."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from privids.exceptions import ConfigError
from privids.models.gbt import train_gbt
from privids.models.train import train_mlp

__all__ = ["get_trainer", "register_trainer", "trainer_names"]

Trainer = Callable[..., Any]
"""``trainer(data: PreparedData, cfg: TrainConfig, *, rng) -> model with predict_scores``."""

_TRAINERS: dict[str, Trainer] = {"gbt": train_gbt, "mlp": train_mlp}


def register_trainer(name: str, trainer: Trainer, *, force: bool = False) -> None:
    """Add a detector trainer under ``name``.

    Parameters
    ----------
    name : str
    trainer : callable
        ``trainer(data, cfg, *, rng)`` returning a model.
    force : bool, default=False
        Replace an existing entry (otherwise that is an error).

    Raises
    ------
    ConfigError
        ``name`` is taken and ``force`` is False.
    """
    if name in _TRAINERS and not force:
        raise ConfigError(f"trainer {name!r} is already registered; got a second one; pass force=True to replace it.")
    _TRAINERS[name] = trainer


def get_trainer(name: str) -> Trainer:
    """The trainer registered as ``name``.

    Raises
    ------
    ConfigError
        Unknown name; the message lists the registered ones.
    """
    try:
        return _TRAINERS[name]
    except KeyError:
        raise ConfigError(f"model must be one of {trainer_names()}; got {name!r}.") from None


def trainer_names() -> list[str]:
    """Registered trainer names, sorted."""
    return sorted(_TRAINERS)

