"""Train the non-private, DP-SGD and federated detectors on one dataset and attack their training sets."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from privids._rng import RandomLike, as_generator, child_seed
from privids.attacks.membership import MembershipTable, run_membership
from privids.config import FederatedConfig, PrivacyConfig, TrainConfig
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError

__all__ = ["membership_targets", "run_membership_study"]


def _federated_epsilon(statements: list[Any]) -> tuple[float | None, float | None]:
    # A client-level guarantee covers any change to that organisation's data, so it also bounds
    # what the model reveals about one of its flows; take the weakest organisation's.
    finite = [s for s in statements if math.isfinite(s.epsilon)]
    if not finite or len(finite) < len(statements):
        return None, None
    worst = max(finite, key=lambda s: s.epsilon)
    return float(worst.epsilon), float(worst.delta)


def membership_targets(
    data: PreparedData,
    *,
    train: TrainConfig,
    privacy: PrivacyConfig,
    federated: FederatedConfig,
    epsilon: float,
    models: tuple[str, ...] = ("non-private", "dp-sgd", "federated"),
    rng: RandomLike = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, tuple[Any, float | None, float | None]]:
    """Train the target detectors on ``data.train``: ``{name: (model, epsilon, delta)}``.

    Parameters
    ----------
    data : PreparedData
    train : TrainConfig
        Non-private MLP recipe (also the DP model's architecture).
    privacy : PrivacyConfig
        DP-SGD recipe; its ``target_epsilon`` is replaced by ``epsilon``.
    federated : FederatedConfig
        Federation recipe (in-process engine); with ``central_dp`` its client-level epsilon is
        the model's guarantee, otherwise it has none.
    epsilon : float
        Budget of the DP-SGD model.
    models : tuple of str, default=("non-private", "dp-sgd", "federated")
    rng : int, Generator or None, default=None
    progress : callable or None, default=None

    Returns
    -------
    dict of str to (module, epsilon or None, delta or None)
    """
    unknown = sorted(set(models) - {"non-private", "dp-sgd", "federated"})
    if unknown:
        raise ConfigError(f"unknown target model(s) {unknown}; allowed: ['dp-sgd', 'federated', 'non-private'].")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ConfigError(f"epsilon must be a positive number; got {epsilon!r}.")
    from privids.federated.simulation import run_federation
    from privids.models.train import train_mlp
    from privids.privacy.dp_sgd import train_mlp_dp

    gen = as_generator(rng)
    seeds = {name: child_seed(gen) for name in ("non-private", "dp-sgd", "federated")}
    out: dict[str, tuple[Any, float | None, float | None]] = {}
    if "non-private" in models:
        if progress:
            progress("training the non-private MLP")
        out["non-private"] = (train_mlp(data, train, rng=seeds["non-private"]), None, None)
    if "dp-sgd" in models:
        if progress:
            progress(f"training the DP-SGD MLP (epsilon={epsilon:g})")
        res = train_mlp_dp(data, train, dataclasses.replace(privacy, target_epsilon=epsilon), rng=seeds["dp-sgd"])
        out[f"dp-sgd (eps={epsilon:g})"] = (res.model, float(res.spent.epsilon), float(res.spent.delta))
    if "federated" in models:
        if progress:
            progress("training the federated MLP")
        fed = run_federation(data, federated, engine="inprocess", rng=seeds["federated"])
        eps, delta = _federated_epsilon(fed.privacy)
        out["federated" + (" (central DP)" if federated.central_dp else "")] = (fed.model, eps, delta)
    return out


def run_membership_study(
    data: PreparedData,
    *,
    train: TrainConfig,
    privacy: PrivacyConfig,
    federated: FederatedConfig,
    epsilon: float = 1.0,
    n: int = 2000,
    attacks: tuple[str, ...] = ("loss", "shadow"),
    models: tuple[str, ...] = ("non-private", "dp-sgd", "federated"),
    n_shadows: int = 4,
    rng: RandomLike = None,
    progress: Callable[[str], None] | None = None,
) -> MembershipTable:
    """Train the targets (:func:`membership_targets`) and attack them (:func:`run_membership`).

    The shadow models are trained with the non-private recipe (``train``): the attacker
    imitates a normally trained detector, the strongest prior it could have without knowing
    the target's privacy settings.
    """
    from privids.models.train import train_mlp

    gen = as_generator(rng)
    targets = membership_targets(data, train=train, privacy=privacy, federated=federated, epsilon=epsilon,
                                 models=models, rng=child_seed(gen), progress=progress)

    def shadow(X: Any, y: Any, g: Any) -> Any:
        view = dataclasses.replace(data.train, X=X, y=y, labels=y.astype(str), families=y.astype(str), meta={})
        return train_mlp(dataclasses.replace(data, train=view), train, rng=g)

    if progress:
        progress("running the membership attacks")
    return run_membership(targets, data, n=n, attacks=attacks, n_shadows=n_shadows, shadow_trainer=shadow, rng=child_seed(gen))
