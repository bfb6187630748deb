"""Aggregation strategies by name: FedAvg, DP-FedAvg and robust aggregators, composed by wrapping."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, Message, MetricRecord
from flwr.serverapp import NeighboringRelation, SamplingMethod
from flwr.serverapp import PrivacyConfig as FlowerPrivacyConfig
from flwr.serverapp.strategy import (
    Bulyan,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
    FedMedian,
    FedTrimmedAvg,
    Krum,
    MultiKrum,
    Strategy,
)
from flwr.serverapp.strategy.dp_fixed_clipping import validate_replies

from privids._rng import RandomLike, as_generator
from privids.exceptions import ConfigError
from privids.federated.local import NUM_EXAMPLES, UNIFORM_WEIGHT

__all__ = [
    "CentralDP",
    "SeededServerSideFixedClipping",
    "build_strategy",
    "client_level_epsilon",
    "clip_update",
    "register_strategy",
    "strategy_names",
]

@dataclass(frozen=True)
class CentralDP:
    """DP-FedAvg settings: clip every client's update, add Gaussian noise to the average.

    Attributes
    ----------
    noise_multiplier : float, default=1.0
        Noise standard deviation relative to the clipping norm (reference design: 1.0).
    clipping_norm : float, default=1.0
        L2 bound on each client's model update (reference design: 1.0).
    delta : float, default=1e-5
        Client-level delta at which epsilon is reported.
    secure_mode : bool, default=False
        Draw the noise from the operating system's CSPRNG instead of the seeded generator.
    """

    noise_multiplier: float = 1.0
    clipping_norm: float = 1.0
    delta: float = 1e-5
    secure_mode: bool = False

    def __post_init__(self) -> None:
        if not self.noise_multiplier > 0:
            raise ConfigError(
                f"central DP noise_multiplier must be positive (0 would give no privacy); got {self.noise_multiplier!r}."
            )
        if not self.clipping_norm > 0:
            raise ConfigError(f"central DP clipping_norm must be positive; got {self.clipping_norm!r}.")
        if not 0 < self.delta < 1:
            raise ConfigError(f"central DP delta must be in (0, 1); got {self.delta!r}.")


def _secure_normal(shape: tuple[int, ...], std: float) -> np.ndarray:
    # Box-Muller over OS randomness: the noise cannot be replayed from a seed.
    n = int(np.prod(shape)) if shape else 1
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint64).reshape(2, n)
    u1 = ((raw[0] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
    u2 = (raw[1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return (std * z).reshape(shape)


def clip_update(new: list[np.ndarray], old: list[np.ndarray], clipping_norm: float) -> list[np.ndarray]:
    """``old + (new - old) * min(1, C / ||new - old||)`` with the L2 norm over all arrays.

    Examples
    --------
    >>> [a.tolist() for a in clip_update([np.array([3.0, 4.0])], [np.zeros(2)], 1.0)]
    [[0.6000000000000001, 0.8]]
    >>> [a.tolist() for a in clip_update([np.ones(2)], [np.ones(2)], 1.0)]
    [[1.0, 1.0]]
    """
    delta = [np.subtract(n, o) for n, o in zip(new, old, strict=True)]
    norm = math.sqrt(sum(float(np.sum(np.square(d, dtype=np.float64))) for d in delta))
    scale = min(1.0, clipping_norm / norm) if norm > 0 else 1.0
    return [np.asarray(o + d * scale, dtype=np.asarray(n).dtype) for n, o, d in zip(new, old, delta, strict=True)]


class SeededServerSideFixedClipping(DifferentialPrivacyServerSideFixedClipping):
    """Flower's server-side fixed-clipping DP wrapper with noise from a passed generator.

    Flower draws its noise from the global ``np.random`` state, which makes runs unrepeatable
    and ties privacy to whoever else seeds NumPy. Clipping, the noise scale
    ``sigma * C / num_sampled_clients`` and the accountant stay Flower's; only the source of
    the Gaussian draws changes, and an unchanged model (update norm 0) no longer crashes the
    clipping with ZeroDivisionError.

    Parameters
    ----------
    strategy : Strategy
    noise_multiplier, clipping_norm : float
    num_sampled_clients : int
    accountant : flwr PrivacyAccountant or None
    rng : int, Generator or None
        Seeded noise (ignored when ``secure_mode``).
    secure_mode : bool, default=False
    """

    def __init__(
        self,
        strategy: Strategy,
        noise_multiplier: float,
        clipping_norm: float,
        num_sampled_clients: int,
        *,
        accountant: Any = None,
        rng: RandomLike = None,
        secure_mode: bool = False,
    ) -> None:
        super().__init__(strategy, noise_multiplier, clipping_norm, num_sampled_clients, accountant=accountant)
        self._gen = as_generator(rng)
        self._secure = secure_mode

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Clip each update to ``clipping_norm``, average, add noise, compose the release.

        Flower's own version divides by the update norm, so an organisation that sends back the
        unchanged model (norm 0) raises ZeroDivisionError and ends the run; a zero update is
        already within any bound, so it is passed through unscaled here.
        """
        replies_list = list(replies)
        event = self._pop_pending_event(server_round)
        if not validate_replies(replies_list, self.num_sampled_clients, strict=self.accountant is not None):
            return None, None
        self._validate_uniform_weights(replies_list)
        current = self.current_arrays.to_numpy_ndarrays()
        for reply in replies_list:
            for name, record in reply.content.array_records.items():
                clipped = clip_update(record.to_numpy_ndarrays(), current, self.clipping_norm)
                reply.content[name] = ArrayRecord({k: Array(v) for k, v in zip(record.keys(), clipped, strict=True)})
        arrays, metrics = self.strategy.aggregate_train(server_round, replies_list)
        if arrays:
            arrays = self._add_noise_to_aggregated_arrays(arrays)
            self._compose_release(event)
        return arrays, metrics

    def _add_noise_to_aggregated_arrays(self, aggregated_arrays: ArrayRecord) -> ArrayRecord:
        std = float(self.noise_multiplier * self.clipping_norm / self.num_sampled_clients)
        out: dict[str, Array] = {}
        for key, arr in zip(aggregated_arrays.keys(), aggregated_arrays.to_numpy_ndarrays(), strict=True):
            noise = _secure_normal(arr.shape, std) if self._secure else self._gen.normal(0.0, std, size=arr.shape)
            out[key] = Array(np.asarray(arr + noise.astype(arr.dtype)))
        return ArrayRecord(out)


_Factory = Callable[..., Strategy]
_REGISTRY: dict[str, _Factory] = {}


def register_strategy(name: str, factory: _Factory, *, force: bool = False) -> None:
    """Make an aggregator available to :func:`build_strategy` under ``name``.

    ``factory(**common, **params)`` receives Flower's ``FedAvg`` keyword arguments
    (``min_train_nodes``, ``weighted_by_key``, ...) plus the strategy's own parameters.

    Raises
    ------
    ConfigError
        ``name`` is taken and ``force`` is False (no silent overwrite).
    """
    if name in _REGISTRY and not force:
        raise ConfigError(f"strategy {name!r} is already registered; got a second registration; fix: pass force=True to replace it.")
    _REGISTRY[name] = factory


def strategy_names() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def _take(params: dict[str, Any], allowed: tuple[str, ...], name: str) -> dict[str, Any]:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"strategy {name!r} takes parameters {list(allowed)}; got unknown {unknown}.")
    return params


register_strategy("fedavg", lambda **kw: FedAvg(**kw))
register_strategy("krum", lambda num_malicious=1, **kw: Krum(num_malicious_nodes=num_malicious, **kw))
register_strategy(
    "multikrum",
    lambda num_malicious=1, num_to_select=None, **kw: MultiKrum(
        num_malicious_nodes=num_malicious,
        num_nodes_to_select=num_to_select if num_to_select is not None else max(1, kw["min_train_nodes"] - num_malicious),
        **kw,
    ),
)
register_strategy("median", lambda **kw: FedMedian(**kw))
register_strategy("trimmed", lambda beta=0.2, **kw: FedTrimmedAvg(beta=beta, **kw))
register_strategy("bulyan", lambda num_malicious=1, **kw: Bulyan(num_malicious_nodes=num_malicious, **kw))

_PARAMS: dict[str, tuple[str, ...]] = {
    "fedavg": (),
    "krum": ("num_malicious",),
    "multikrum": ("num_malicious", "num_to_select"),
    "median": (),
    "trimmed": ("beta",),
    "bulyan": ("num_malicious",),
    "normbound": ("clipping_norm",),
}


def build_strategy(
    name: str,
    *,
    min_clients: int,
    dp: CentralDP | None = None,
    rng: RandomLike = None,
    **params: Any,
) -> Strategy:
    """Build a Flower Message-API strategy by name, optionally wrapped for central DP.

    Parameters
    ----------
    name : str
        One of :func:`strategy_names` (``fedavg``, ``krum``, ``multikrum``, ``median``,
        ``trimmed``, ``bulyan``), or ``dpfedavg`` (FedAvg with ``dp`` or the reference
        :class:`CentralDP`), or ``normbound`` (FedAvg on norm-clipped updates, no noise).
    min_clients : int
        Clients that take part in every round (all of them: the reference samples all 5).
        It is also the DP wrapper's ``num_sampled_clients``.
    dp : CentralDP or None
        DP-FedAvg: Flower's :class:`DifferentialPrivacyServerSideFixedClipping` (with seeded
        noise, see :class:`SeededServerSideFixedClipping`) and a client-level RDP accountant
        (``flwr.serverapp.RdpAccountant``, no sampling amplification, add/remove-one clients).
        Averaging is then uniform over clients, as the accountant requires.
    rng : int, Generator or None
        Noise generator for DP.
    **params
        Strategy parameters: ``num_malicious`` (krum/multikrum/bulyan), ``num_to_select``
        (multikrum), ``beta`` (trimmed), ``clipping_norm`` (normbound).

    Returns
    -------
    flwr.serverapp.strategy.Strategy
        Call ``privacy_spent()`` on a DP strategy for the client-level (epsilon, delta).

    Raises
    ------
    ConfigError
        Unknown name or parameter, fewer than one client, or DP on a non-FedAvg aggregator
        (its sensitivity is not the one the accountant assumes).
    """
    if min_clients < 1:
        raise ConfigError(f"min_clients must be a positive integer; got {min_clients!r}.")
    if name == "dpfedavg":
        name, dp = "fedavg", dp or CentralDP()
    allowed = sorted([*_REGISTRY, "dpfedavg", "normbound"])
    if name not in _REGISTRY and name != "normbound":
        raise ConfigError(f"strategy must be one of {allowed}; got {name!r}.")
    _take(params, _PARAMS.get(name, tuple(params)), name)
    if dp is not None and name != "fedavg":
        raise ConfigError(
            f"central DP is accounted only for FedAvg (uniform average of clipped updates); got strategy {name!r}; "
            "fix: use 'fedavg' with DP, or a robust aggregator without DP."
        )
    common: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0,
        "min_train_nodes": min_clients,
        "min_evaluate_nodes": min_clients,
        "min_available_nodes": min_clients,
        "weighted_by_key": UNIFORM_WEIGHT if dp is not None else NUM_EXAMPLES,
    }
    if name == "normbound":
        clip = float(params.get("clipping_norm", 1.0))
        if not clip > 0:
            raise ConfigError(f"normbound clipping_norm must be positive; got {clip!r}.")
        return SeededServerSideFixedClipping(FedAvg(**common), 0.0, clip, min_clients)
    inner = _REGISTRY[name](**common, **params)
    if dp is None:
        return inner
    from flwr.serverapp import RdpAccountant

    accountant = RdpAccountant(
        FlowerPrivacyConfig(
            target_delta=dp.delta,
            population_size=min_clients,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        )
    )
    return SeededServerSideFixedClipping(
        inner, dp.noise_multiplier, dp.clipping_norm, min_clients, accountant=accountant, rng=rng, secure_mode=dp.secure_mode
    )


def client_level_epsilon(strategy: Strategy) -> tuple[float, float, int] | None:
    """(epsilon, delta, releases) spent by a DP strategy so far, or None without accounting."""
    spent_fn = getattr(strategy, "privacy_spent", None)
    spent = spent_fn() if callable(spent_fn) else None
    if spent is None:
        return None
    eps = float(spent.epsilon)
    return (eps if math.isfinite(eps) else float("inf")), float(spent.delta), int(spent.num_releases)
