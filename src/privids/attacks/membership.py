"""Membership inference against trained detectors: a loss-threshold attack and a shadow-model attack.

Members are flows the target trained on (``data.train``), non-members are held-out flows
(``data.test``); the shadow models are trained on ``data.val``, which neither side uses, so the
shadow attacker knows the data distribution but not the target's training set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from privids._rng import RandomLike, as_generator, child_seed
from privids.attacks.local_training import train_binary_mlp
from privids.attacks.mia_metrics import (
    dp_advantage_bound,
    dp_tpr_bound,
    exceeds_dp_bound,
    membership_advantage,
    membership_auc,
    tpr_at_fpr,
)
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError

__all__ = [
    "MembershipRow",
    "MembershipTable",
    "attack_features",
    "loss_attack_scores",
    "per_sample_loss",
    "run_membership",
    "shadow_attack_scores",
]

ShadowTrainer = Callable[[np.ndarray, np.ndarray, np.random.Generator], nn.Module]


def _logits(model: nn.Module, X: np.ndarray) -> np.ndarray:
    # float64 from the logits: sigmoid in float32 saturates at 1.0 for confident flows, and the
    # resulting ties would hide exactly the low-loss members the attack looks for.
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            z = model(torch.as_tensor(np.asarray(X, dtype=np.float32)))
    finally:
        model.train(was)
    return z.reshape(len(X), -1)[:, 0].double().numpy()


def per_sample_loss(model: nn.Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of each flow, computed stably from the logit.

    Examples
    --------
    >>> m = nn.Linear(1, 1); _ = nn.init.zeros_(m.weight); _ = nn.init.zeros_(m.bias)
    >>> per_sample_loss(m, np.zeros((1, 1)), np.array([1])).round(4).tolist()
    [0.6931]
    """
    z = _logits(model, X)
    s = np.where(np.asarray(y) == 1, -z, z)  # loss = softplus(-z) for attacks, softplus(z) for benign
    return np.logaddexp(0.0, s)


def loss_attack_scores(model: nn.Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Loss-threshold attack: membership score ``-loss`` (members are fitted better).

    For a binary detector the confidence attack (probability of the true label) ranks flows in
    the same order, so it has the same ROC curve.

    References
    ----------
    Yeom et al., "Privacy Risk in Machine Learning: Analyzing the Connection to Overfitting", CSF 2018.
    """
    return -per_sample_loss(model, X, y)


def attack_features(model: nn.Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-flow inputs of the shadow attack classifier: signed margin, loss and label."""
    z = _logits(model, X)
    margin = np.where(np.asarray(y) == 1, z, -z)
    return np.column_stack([margin, np.logaddexp(0.0, -margin), np.asarray(y, dtype=np.float64)])


def shadow_attack_scores(
    target: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    pool_X: np.ndarray,
    pool_y: np.ndarray,
    n_shadows: int = 4,
    trainer: ShadowTrainer | None = None,
    rng: RandomLike = None,
) -> np.ndarray:
    """Shadow-model attack: learn what "member" looks like on models the attacker trained itself.

    Each shadow model trains on a random half of the attacker's pool; its in-half and out-half
    give labelled examples of members and non-members. A logistic regression on
    :func:`attack_features` then scores the target's flows.

    Parameters
    ----------
    target : nn.Module
    X, y : ndarray
        Flows to score (members and non-members mixed).
    pool_X, pool_y : ndarray
        The attacker's own data, disjoint from the target's training and held-out flows.
    n_shadows : int, default=4
    trainer : callable ``(X, y, rng) -> model`` or None, default=None
        Should mimic the target's training; None trains a non-private FlowMLP for 20 epochs.
    rng : int, Generator or None, default=None

    Returns
    -------
    ndarray, shape (n,)
        P(member) for each flow.

    References
    ----------
    Shokri et al., "Membership Inference Attacks against Machine Learning Models", IEEE S&P 2017.
    """
    if len(pool_y) < 4:
        raise ConfigError(f"the shadow attack needs at least 4 pool flows; got {len(pool_y)}; use more validation data.")
    gen = as_generator(rng)
    train = trainer or (lambda a, b, g: train_binary_mlp(a, b, epochs=20, lr=1e-3, batch_size=64, rng=g))
    feats, labels = [], []
    for _ in range(n_shadows):
        order = gen.permutation(len(pool_y))
        half = len(order) // 2
        inside, outside = order[:half], order[half : 2 * half]
        shadow = train(pool_X[inside], pool_y[inside], as_generator(child_seed(gen)))
        feats += [attack_features(shadow, pool_X[inside], pool_y[inside]), attack_features(shadow, pool_X[outside], pool_y[outside])]
        labels += [np.ones(len(inside)), np.zeros(len(outside))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(np.vstack(feats), np.concatenate(labels))
    return clf.predict_proba(attack_features(target, X, y))[:, 1]


@dataclass(frozen=True)
class MembershipRow:
    """One model under one attack, next to what its epsilon allows.

    Attributes
    ----------
    model, attack : str
    epsilon : float or None
        None: no DP guarantee (the bounds are then 1).
    delta : float
    auc, advantage, tpr_at_0_1pct, tpr_at_1pct : float
    bound_advantage, bound_tpr_at_0_1pct, bound_tpr_at_1pct : float
    within_bound : bool or None
        No threshold breaks ``TPR <= e^eps * FPR + delta`` with 95% confidence
        (:func:`privids.attacks.mia_metrics.exceeds_dp_bound`); point estimates can sit above
        a bound by sampling noise alone. None for a model without DP (``epsilon`` None): its
        bound is 1, which every attack meets, so "within bound" would say nothing.
    n_members, n_nonmembers : int
    min_resolvable_fpr : float
        ``1 / n_nonmembers``; a TPR at a smaller FPR is measured at FPR 0.
    """

    model: str
    attack: str
    epsilon: float | None
    delta: float
    auc: float
    advantage: float
    tpr_at_0_1pct: float
    tpr_at_1pct: float
    bound_advantage: float
    bound_tpr_at_0_1pct: float
    bound_tpr_at_1pct: float
    within_bound: bool | None
    n_members: int
    n_nonmembers: int
    min_resolvable_fpr: float


@dataclass(frozen=True)
class MembershipTable:
    """Rows of :func:`run_membership`, with a JSON view."""

    rows: tuple[MembershipRow, ...]

    def row(self, model: str, attack: str) -> MembershipRow:
        """The row for one model and attack."""
        for r in self.rows:
            if (r.model, r.attack) == (model, attack):
                return r
        raise ConfigError(f"no row for model {model!r} and attack {attack!r}; have {[(r.model, r.attack) for r in self.rows]}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"rows": [asdict(r) for r in self.rows]}


def _row(name: str, attack: str, eps: float | None, delta: float, member: np.ndarray, non: np.ndarray) -> MembershipRow:
    adv = membership_advantage(member, non)
    t01, t1 = tpr_at_fpr(member, non, fpr=0.001), tpr_at_fpr(member, non, fpr=0.01)
    b_adv = dp_advantage_bound(epsilon=eps, delta=delta)
    b01, b1 = dp_tpr_bound(0.001, epsilon=eps, delta=delta), dp_tpr_bound(0.01, epsilon=eps, delta=delta)
    return MembershipRow(
        model=name, attack=attack, epsilon=eps, delta=delta, auc=membership_auc(member, non), advantage=adv,
        tpr_at_0_1pct=t01, tpr_at_1pct=t1, bound_advantage=b_adv, bound_tpr_at_0_1pct=b01, bound_tpr_at_1pct=b1,
        within_bound=None if eps is None else not exceeds_dp_bound(member, non, epsilon=eps, delta=delta),
        n_members=len(member), n_nonmembers=len(non), min_resolvable_fpr=1.0 / len(non),
    )


def _unpack(spec: Any, n_train: int) -> tuple[nn.Module, float | None, float]:
    if isinstance(spec, nn.Module):
        return spec, None, 0.0
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ConfigError(f"each model must be a module or (model, epsilon[, delta]); got {type(spec).__name__}.")
    model, eps = spec[0], spec[1]
    if eps is not None and (not math.isfinite(eps) or eps < 0):
        raise ConfigError(f"epsilon must be a non-negative finite number or None; got {eps!r}.")
    # Same default as PrivacyConfig: delta = 1 / (10 n) when the caller does not say.
    given = spec[2] if len(spec) == 3 else None
    delta = float(given) if given is not None else (0.0 if eps is None else 1.0 / (10 * n_train))
    return model, (None if eps is None else float(eps)), delta


def run_membership(
    models: Mapping[str, Any],
    data: PreparedData,
    *,
    n: int = 2000,
    attacks: tuple[str, ...] = ("loss", "shadow"),
    n_shadows: int = 4,
    shadow_trainer: ShadowTrainer | None = None,
    rng: RandomLike = None,
) -> MembershipTable:
    """Attack each model's training set and report success next to its DP bound.

    Parameters
    ----------
    models : mapping of str to module or (module, epsilon) or (module, epsilon, delta)
        Binary-logit models trained on ``data.train``; epsilon None means no DP guarantee.
        Without a delta (or with None), ``1 / (10 * len(data.train))`` is assumed (privids' default).
    data : PreparedData
    n : int, default=2000
        Members drawn from ``data.train`` and as many non-members from ``data.test`` (fewer when
        a split is smaller; both sides always have the same size, so chance AUC is 0.5).
    attacks : tuple of {"loss", "shadow"}, default=("loss", "shadow")
    n_shadows : int, default=4
    shadow_trainer : callable or None, default=None
        See :func:`shadow_attack_scores`.
    rng : int, Generator or None, default=None
        Draws the members, non-members and shadow splits (the same draw for every model).

    Returns
    -------
    MembershipTable
    """
    unknown = sorted(set(attacks) - {"loss", "shadow"})
    if unknown:
        raise ConfigError(f"unknown membership attack(s) {unknown}; allowed: ['loss', 'shadow'].")
    if n < 1:
        raise ConfigError(f"n must be positive; got {n}.")
    gen = as_generator(rng)
    k = min(n, len(data.train), len(data.test))
    mem = gen.choice(len(data.train), k, replace=False)
    non = gen.choice(len(data.test), k, replace=False)
    X = np.concatenate([data.train.X[mem], data.test.X[non]])
    y = np.concatenate([data.train.y[mem], data.test.y[non]])
    shadow_seed = child_seed(gen)
    rows = []
    for name, spec in models.items():
        model, eps, delta = _unpack(spec, len(data.train))
        if "loss" in attacks:
            s = loss_attack_scores(model, X, y)
            rows.append(_row(name, "loss", eps, delta, s[:k], s[k:]))
        if "shadow" in attacks:
            s = shadow_attack_scores(model, X, y, pool_X=data.val.X, pool_y=data.val.y, n_shadows=n_shadows,
                                     trainer=shadow_trainer, rng=shadow_seed)
            rows.append(_row(name, "shadow", eps, delta, s[:k], s[k:]))
    return MembershipTable(rows=tuple(rows))
