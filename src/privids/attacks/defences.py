"""Server-side defences: Flower's robust strategies run in-process on client updates, plus
norm bounding, DP-FedAvg, and noise calibration for DP with a robust aggregator.

Each defence is a function ``(updates, weights, spec, rng) -> Aggregate`` kept in a small
registry (:func:`register_defence`). Krum, Multi-Krum, FedMedian, FedTrimmedAvg, Bulyan and
FedAvg call the real ``flwr.serverapp.strategy`` classes' ``aggregate_train`` on reply messages
built here, so the study measures Flower's code, not a re-implementation (privids' own math in
:mod:`privids.attacks.robust` is the test oracle).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from privids._rng import RandomLike, as_generator
from privids.attacks.robust import clip_to_norm, multikrum
from privids.exceptions import ConfigError, PrivacyError

__all__ = [
    "Aggregate",
    "DefenceSpec",
    "aggregate_updates",
    "aggregator_sensitivity",
    "available_defences",
    "dp_noise_std",
    "register_defence",
    "trimmed_beta",
]


@dataclass(frozen=True)
class DefenceSpec:
    """What the server knows and chose for one round's aggregation.

    Parameters
    ----------
    n_malicious : int, default=1
        ``f`` assumed by Krum, Multi-Krum, Bulyan and the trimmed mean.
    clipping_norm : float, default=1.0
        L2 bound C on each update for DP-FedAvg (a fixed, data-independent value).
    noise_multiplier : float, default=1.0
        z: Gaussian noise std is ``z`` times the aggregator's sensitivity.
    norm_bound : float or None, default=None
        Norm bounding threshold; None uses the median update norm of the round.
    dp_policy : {"calibrate", "refuse"}, default="calibrate"
        For ``dp-<aggregator>``: scale the noise to the aggregator's sensitivity, or refuse any
        aggregator whose sensitivity exceeds the mean's.
    """

    n_malicious: int = 1
    clipping_norm: float = 1.0
    noise_multiplier: float = 1.0
    norm_bound: float | None = None
    dp_policy: str = "calibrate"

    def __post_init__(self) -> None:
        if self.dp_policy not in ("calibrate", "refuse"):
            raise ConfigError(f"dp_policy must be one of ['calibrate', 'refuse']; got {self.dp_policy!r}.")
        if self.n_malicious < 0:
            raise ConfigError(f"n_malicious must be >= 0; got {self.n_malicious}.")


@dataclass(frozen=True)
class Aggregate:
    """The aggregated update and which clients it kept.

    Attributes
    ----------
    update : ndarray, shape (d,)
    selected : tuple of int
        Clients whose updates entered the output (all clients for averaging rules).
    noise_std : float
        Per-coordinate Gaussian noise std added (0 without DP).
    """

    update: np.ndarray
    selected: tuple[int, ...]
    noise_std: float = 0.0


DefenceFn = Callable[[np.ndarray, np.ndarray, DefenceSpec, np.random.Generator], Aggregate]
_DEFENCES: dict[str, DefenceFn] = {}


def register_defence(name: str, fn: DefenceFn, *, force: bool = False) -> None:
    """Add a defence to the registry; refuses to overwrite an existing name unless ``force``."""
    if name in _DEFENCES and not force:
        raise ConfigError(f"defence {name!r} is already registered; pass force=True to replace it.")
    _DEFENCES[name] = fn


def available_defences() -> tuple[str, ...]:
    """Registered defence names, plus the ``dp-<name>`` forms, sorted."""
    base = sorted(_DEFENCES)
    return tuple(base + [f"dp-{b}" for b in base if b not in ("dpfedavg", "normbound")])


def _flower_aggregate(strategy: object, updates: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    # The Message API strategies aggregate reply messages; building replies with explicit
    # metadata runs the real aggregate_train without a Grid or Flower's global TaskIdentity.
    from flwr.app import Array, ArrayRecord, Message, Metadata, MetricRecord, RecordDict

    replies = []
    for i, (u, w) in enumerate(zip(updates, weights, strict=True)):
        content = RecordDict(
            {"arrays": ArrayRecord({"update": Array(np.asarray(u, dtype=np.float64))}),
             "metrics": MetricRecord({"num-examples": float(w)})}
        )
        meta = Metadata(run_id=0, message_id=f"reply-{i}", src_node_id=i + 1, dst_node_id=0,
                        reply_to_message_id=f"ins-{i}", group_id="1", created_at=0.0, ttl=1e9,
                        message_type="train")
        replies.append(Message(content=content, metadata=meta))
    arrays, _ = strategy.aggregate_train(1, replies)  # type: ignore[attr-defined]
    if arrays is None:
        return None
    return np.asarray(arrays["update"].numpy(), dtype=np.float64)


def _all(n: int) -> tuple[int, ...]:
    return tuple(range(n))


def _fedavg(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    from flwr.serverapp.strategy import FedAvg

    out = _flower_aggregate(FedAvg(), updates, weights)
    assert out is not None  # FedAvg always aggregates valid replies
    return Aggregate(out, _all(len(updates)))


def _krum(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    from flwr.serverapp.strategy import Krum

    out = _flower_aggregate(Krum(num_malicious_nodes=spec.n_malicious), updates, weights)
    _, sel = multikrum(updates, n_malicious=spec.n_malicious, n_select=1)
    return Aggregate(out, tuple(int(i) for i in sel))  # type: ignore[arg-type]


def _multikrum(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    from flwr.serverapp.strategy import MultiKrum

    keep = max(1, len(updates) - spec.n_malicious)
    strat = MultiKrum(num_malicious_nodes=spec.n_malicious, num_nodes_to_select=keep)
    out = _flower_aggregate(strat, updates, weights)
    _, sel = multikrum(updates, n_malicious=spec.n_malicious, n_select=keep)
    return Aggregate(out, tuple(sorted(int(i) for i in sel)))  # type: ignore[arg-type]


def _median(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    from flwr.serverapp.strategy import FedMedian

    return Aggregate(_flower_aggregate(FedMedian(), updates, weights), _all(len(updates)))  # type: ignore[arg-type]


def trimmed_beta(n_clients: int, n_malicious: int) -> float:
    """The FedTrimmedAvg ``beta`` that cuts exactly ``max(1, f)`` updates from each end."""
    cut = max(1, n_malicious)
    # Flower cuts int(beta * n); aim between cut and cut + 1 so float rounding cannot drop one.
    beta = (cut + 0.5) / n_clients
    if beta >= 0.5:
        raise ConfigError(f"the trimmed mean cannot cut {cut} updates from each end of {n_clients}; use fewer n_malicious.")
    return beta


def _trimmed(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    from flwr.serverapp.strategy import FedTrimmedAvg

    beta = trimmed_beta(len(updates), spec.n_malicious)
    return Aggregate(_flower_aggregate(FedTrimmedAvg(beta=beta), updates, weights), _all(len(updates)))  # type: ignore[arg-type]


def _bulyan(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    from flwr.serverapp.strategy import Bulyan

    n, f = len(updates), spec.n_malicious
    if n < 4 * f + 3:
        # Flower only logs a warning and skips the round; a silent skip would look like a defence.
        raise ConfigError(f"Bulyan needs n_clients >= 4 * n_malicious + 3 = {4 * f + 3}; got {n} clients; use Multi-Krum or more clients.")
    out = _flower_aggregate(Bulyan(num_malicious_nodes=f), updates, weights)
    _, sel = multikrum(updates, n_malicious=f, n_select=n - 2 * f)
    return Aggregate(out, tuple(sorted(int(i) for i in sel)))  # type: ignore[arg-type]


def _normbound(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    norms = np.linalg.norm(updates, axis=1)
    bound = float(np.median(norms)) if spec.norm_bound is None else spec.norm_bound
    return _fedavg(clip_to_norm(updates, max_norm=max(bound, 1e-12)), weights, spec, rng)


def _dpfedavg(updates: np.ndarray, weights: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    return _dp_wrapped("fedavg", updates, spec, rng)


for _name, _fn in {
    "bulyan": _bulyan,
    "dpfedavg": _dpfedavg,
    "fedavg": _fedavg,
    "krum": _krum,
    "median": _median,
    "multikrum": _multikrum,
    "normbound": _normbound,
    "trimmed": _trimmed,
}.items():
    register_defence(_name, _fn)


def aggregator_sensitivity(name: str, *, n_clients: int, n_malicious: int = 1) -> float:
    """Worst-case L2 change of the aggregate, in units of the clipping norm C, when one client's
    clipped update changes.

    Parameters
    ----------
    name : str
        ``fedavg`` (equal weights), ``krum``, ``multikrum``, ``median``, ``trimmed`` or ``bulyan``.
    n_clients : int
    n_malicious : int, default=1

    Returns
    -------
    float
        ``1 / n`` for the mean (Flower's DP-FedAvg convention: one client adds at most C to a sum
        divided by n). Rules that keep selected updates are not damped by ``1/n``: Krum and
        Multi-Krum output a point of the C-ball, which can jump across it (2). A coordinate-wise
        statistic that at least ``r`` of the n values reach in magnitude has norm at most
        ``C * sqrt(n / r)``, so it moves by at most twice that: ``r = (n + 1) // 2`` for the
        median, ``cut + 1`` for the trimmed mean, 1 for Bulyan.

    Examples
    --------
    >>> aggregator_sensitivity("fedavg", n_clients=5)
    0.2
    >>> aggregator_sensitivity("krum", n_clients=5)
    2.0
    """
    n = n_clients
    if name == "fedavg":
        return 1.0 / n
    if name in ("krum", "multikrum"):
        return 2.0
    if name == "median":
        return 2.0 * math.sqrt(n / ((n + 1) // 2))
    if name == "trimmed":
        cut = int(trimmed_beta(n, n_malicious) * n)
        return 2.0 * math.sqrt(n / (cut + 1))
    if name == "bulyan":
        return 2.0 * math.sqrt(n - 2 * n_malicious)
    raise ConfigError(
        f"no DP sensitivity bound for aggregator {name!r}; allowed: ['bulyan', 'fedavg', 'krum', 'median', 'multikrum', 'trimmed']."
    )


def dp_noise_std(name: str, *, n_clients: int, n_malicious: int, clipping_norm: float, noise_multiplier: float, policy: str = "calibrate") -> float:
    """Per-coordinate Gaussian noise std for central DP on top of aggregator ``name``.

    Parameters
    ----------
    name : str
        Aggregator the noise is added after.
    n_clients, n_malicious : int
    clipping_norm : float
        C, the L2 bound applied to every update before aggregation.
    noise_multiplier : float
        z; the round is a Gaussian mechanism with noise multiplier z, so the usual DP-FedAvg
        accounting applies unchanged.
    policy : {"calibrate", "refuse"}, default="calibrate"

    Returns
    -------
    float
        ``z * C * aggregator_sensitivity(name)``.

    Raises
    ------
    PrivacyError
        With ``policy="refuse"`` for any aggregator more sensitive than the mean.

    Notes
    -----
    Flower's DP wrappers add ``z * C / n`` whatever they wrap. That is right for the mean but
    too small for Krum, whose output is one client's update: the client it selects is fully
    exposed, with n times less noise than the guarantee assumes.

    Examples
    --------
    >>> dp_noise_std("krum", n_clients=5, n_malicious=1, clipping_norm=1.0, noise_multiplier=1.0)
    2.0
    """
    sens = aggregator_sensitivity(name, n_clients=n_clients, n_malicious=n_malicious)
    mean_sens = 1.0 / n_clients
    if policy == "refuse" and sens > mean_sens * (1 + 1e-9):
        raise PrivacyError(
            f"central DP noise z*C/n assumes the server averages {n_clients} clipped updates, but {name!r} "
            f"can move by {sens:g}*C when one client changes ({sens / mean_sens:.0f}x the mean's {mean_sens:g}*C), "
            f"so the epsilon reported would not hold; got dp_policy='refuse'. Fix: use aggregator 'fedavg' "
            f"(DP-FedAvg) or dp_policy='calibrate' to add noise std z*{sens:g}*C."
        )
    return float(noise_multiplier * clipping_norm * sens)


def _dp_wrapped(base: str, updates: np.ndarray, spec: DefenceSpec, rng: np.random.Generator) -> Aggregate:
    n = len(updates)
    std = dp_noise_std(base, n_clients=n, n_malicious=spec.n_malicious, clipping_norm=spec.clipping_norm,
                       noise_multiplier=spec.noise_multiplier, policy=spec.dp_policy)
    clipped = clip_to_norm(updates, max_norm=spec.clipping_norm)
    # Equal weights: the sensitivity bound (and Flower's accounted DP path) assume them.
    agg = _DEFENCES[base](clipped, np.ones(n), spec, rng)
    noisy = agg.update + rng.normal(0.0, std, size=agg.update.shape)
    return Aggregate(noisy, agg.selected, std)


def aggregate_updates(name: str, updates: np.ndarray, *, weights: np.ndarray | None = None, spec: DefenceSpec | None = None, rng: RandomLike = None) -> Aggregate:
    """Aggregate one round's client updates with defence ``name``.

    Parameters
    ----------
    name : str
        A registered defence (``fedavg``, ``krum``, ``multikrum``, ``median``, ``trimmed``,
        ``bulyan``, ``normbound``, ``dpfedavg``) or ``dp-<aggregator>`` for central DP on top
        of a robust aggregator.
    updates : ndarray, shape (n_clients, d)
    weights : ndarray of shape (n_clients,) or None, default=None
        Example counts (None: equal).
    spec : DefenceSpec or None, default=None
    rng : int, Generator or None, default=None
        Source of DP noise.

    Returns
    -------
    Aggregate

    Raises
    ------
    ConfigError
        Unknown defence, or a rule whose precondition fails (Bulyan with too few clients).
    PrivacyError
        ``dp-<aggregator>`` under ``dp_policy="refuse"`` when the noise would be too small.
    """
    spec = spec or DefenceSpec()
    u = np.asarray(updates, dtype=np.float64)
    w = np.ones(len(u)) if weights is None else np.asarray(weights, dtype=np.float64)
    gen = as_generator(rng)
    if name.startswith("dp-"):
        base = name[3:]
        if base not in _DEFENCES or base in ("dpfedavg", "normbound"):
            raise ConfigError(f"unknown defence {name!r}; allowed: {list(available_defences())}.")
        return _dp_wrapped(base, u, spec, gen)
    if name not in _DEFENCES:
        raise ConfigError(f"unknown defence {name!r}; allowed: {list(available_defences())}.")
    return _DEFENCES[name](u, w, spec, gen)
