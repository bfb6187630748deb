"""Leave-one-attack-family-out evaluation: detection of an unseen family with and without the anomaly score."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from privids._rng import RandomLike, as_generator, child_seed
from privids.config import TrainConfig
from privids.data.dataset import PreparedData, SplitView
from privids.exceptions import ConfigError, DataError
from privids.features.anomaly import BenignDistanceScore, fit_benign_distance

__all__ = ["FamilyHoldoutTable", "fitter_names", "leave_one_family_out", "register_fitter"]

BENIGN = "BENIGN"
Scorer = Callable[[np.ndarray], np.ndarray]
#: Trains a binary detector on ``data.train`` (``data.val`` for early stopping) and returns its scorer.
Fitter = Callable[[PreparedData, TrainConfig, np.random.Generator], Scorer]


def _fit_gbt(data: PreparedData, cfg: TrainConfig, gen: np.random.Generator) -> Scorer:
    from privids.models.gbt import train_gbt

    return train_gbt(data, dataclasses.replace(cfg, multiclass=False), rng=gen).predict_scores


def _fit_mlp(data: PreparedData, cfg: TrainConfig, gen: np.random.Generator) -> Scorer:
    from privids.models.predict import predict_scores
    from privids.models.train import train_mlp

    model = train_mlp(data, dataclasses.replace(cfg, multiclass=False), rng=gen)
    return lambda X: predict_scores(model, X)


_FITTERS: dict[str, Fitter] = {"gbt": _fit_gbt, "mlp": _fit_mlp}


def register_fitter(name: str, fitter: Fitter, *, force: bool = False) -> None:
    """Make ``fitter`` available as ``leave_one_family_out(..., model=name)``.

    Raises
    ------
    ConfigError
        ``name`` is taken and ``force`` is False.
    """
    if name in _FITTERS and not force:
        raise ConfigError(f"fitter {name!r} is already registered ({sorted(_FITTERS)}); pass force=True to replace it.")
    _FITTERS[name] = fitter


def fitter_names() -> list[str]:
    """Registered detector names usable in :func:`leave_one_family_out`."""
    return sorted(_FITTERS)


@dataclass(frozen=True)
class FamilyHoldoutTable:
    """One row per held-out attack family.

    Attributes
    ----------
    rows : tuple of dict
        ``family``, ``heldout_rows``, ``recall_base`` / ``recall_anomaly`` (detection of the unseen
        family without / with the anomaly feature), ``recall_score_only`` (the anomaly score alone
        as a detector), ``recall_either`` (base detector OR anomaly score, each thresholded at
        half the false-alarm budget), ``auc_base`` / ``auc_anomaly`` (held-out family vs benign test flows) and
        ``fpr_base`` / ``fpr_anomaly`` / ``fpr_either`` (benign test flows flagged).
    model : str
    target_fpr : float
        Each detector's threshold flags this share of benign *validation* flows.
    """

    rows: tuple[dict[str, Any], ...]
    model: str
    target_fpr: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model": self.model, "target_fpr": self.target_fpr, "rows": [dict(r) for r in self.rows]}

    def mean(self, column: str) -> float:
        """Unweighted mean of a numeric column over families (None entries skipped)."""
        vals = [r[column] for r in self.rows if r.get(column) is not None]
        return float(np.mean(vals)) if vals else float("nan")


def _subset(split: SplitView, keep: np.ndarray, X: np.ndarray | None = None) -> SplitView:
    return SplitView(
        X=(split.X if X is None else X)[keep],
        y=split.y[keep],
        labels=split.labels[keep],
        families=split.families[keep],
        meta={k: v[keep] for k, v in split.meta.items()},
    )


def _threshold(benign_scores: np.ndarray, target_fpr: float) -> float:
    # Flag scores strictly above this value: at most target_fpr of benign validation flows exceed it.
    return float(np.quantile(benign_scores, 1.0 - target_fpr, method="higher"))


def _auc(benign: np.ndarray, attack: np.ndarray) -> float | None:
    if benign.size == 0 or attack.size == 0:
        return None
    y = np.r_[np.zeros(benign.size), np.ones(attack.size)]
    return float(roc_auc_score(y, np.r_[benign, attack]))


def _scores(scorer: Scorer, *arrays: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(scorer(a), dtype=np.float64).reshape(-1) for a in arrays]


def _evaluate(s_val: np.ndarray, s_held: np.ndarray, s_test: np.ndarray, target_fpr: float) -> dict[str, Any]:
    thr = _threshold(s_val, target_fpr)
    return {
        "recall": float(np.mean(s_held > thr)),
        "auc": _auc(s_test, s_held),
        "fpr": float(np.mean(s_test > thr)) if s_test.size else None,
    }


def _either(base: list[np.ndarray], score: list[np.ndarray], target_fpr: float) -> dict[str, Any]:
    # Two detectors side by side, each given half the false-alarm budget: a flow is flagged when
    # either flags it, so the combined benign false-alarm rate stays near target_fpr.
    tb, ts = _threshold(base[0], target_fpr / 2), _threshold(score[0], target_fpr / 2)
    held = (base[1] > tb) | (score[1] > ts)
    test = (base[2] > tb) | (score[2] > ts)
    return {"recall": float(np.mean(held)), "fpr": float(np.mean(test)) if test.size else None}


def leave_one_family_out(
    data: PreparedData,
    *,
    model: str = "gbt",
    cfg: TrainConfig | None = None,
    families: Sequence[str] | None = None,
    target_fpr: float = 0.01,
    n_clusters: int = 8,
    min_rows: int = 5,
    rng: RandomLike = None,
) -> FamilyHoldoutTable:
    """Train without one attack family, then measure how much of it is still detected (zero-day stand-in).

    For each held-out family ``H``: all ``H`` flows are removed from ``train`` and ``val``; the
    benign-distance anomaly score is fitted on the benign training flows; two detectors are trained
    on the remaining flows, one on the original features and one with the anomaly score appended;
    each threshold flags ``target_fpr`` of benign validation flows; detection is the share of all
    ``H`` flows (from every split, none of them seen in training) that are flagged.

    Parameters
    ----------
    data : PreparedData
        Binary-labelled splits with attack families.
    model : str, default="gbt"
        A registered fitter (see :func:`fitter_names`): ``"gbt"`` or ``"mlp"``.
    cfg : TrainConfig or None, default=None
        Hyperparameters for the fitter (None: defaults).
    families : sequence of str or None, default=None
        Families to hold out (None: every attack family with at least ``min_rows`` flows).
    target_fpr : float, default=0.01
        Benign validation flows each threshold may flag.
    n_clusters : int, default=8
        k-means centres of the anomaly score.
    min_rows : int, default=5
        Families with fewer flows in total are skipped (their recall would be noise).
    rng : int, numpy.random.Generator or None, default=None
        One generator drives the anomaly score and both detectors of every family.

    Returns
    -------
    FamilyHoldoutTable

    Raises
    ------
    ConfigError
        Unknown model or ``target_fpr`` outside (0, 1).
    DataError
        No benign validation flows, fewer than two attack families, or an unknown family name.

    Notes
    -----
    With only one attack family left to train on, the detector may be trained on very little
    attack data; when a family is the only attack left, it is skipped (nothing to train on).
    """
    if model not in _FITTERS:
        raise ConfigError(f"model must be one of {fitter_names()}; got {model!r}.")
    if not 0 < target_fpr < 1:
        raise ConfigError(f"target_fpr must be in (0, 1); got {target_fpr!r}.")
    cfg = cfg if cfg is not None else TrainConfig(model=model if model in ("mlp", "gbt") else "mlp")
    gen = as_generator(rng)
    splits = (data.train, data.val, data.test)
    all_fams = np.concatenate([s.families for s in splits])
    counts = {f: int((all_fams == f).sum()) for f in np.unique(all_fams) if f != BENIGN}
    if families is None:
        families = [f for f, c in sorted(counts.items()) if c >= min_rows]
    unknown = sorted(set(families) - set(counts))
    if unknown:
        raise DataError(f"unknown attack families {unknown}; got families {sorted(counts)}; pick from those.")
    val_benign = data.val.families == BENIGN
    if not val_benign.any():
        raise DataError("thresholds are set on benign validation flows; got none; use a larger validation split.")
    if len(counts) < 2:
        raise DataError(
            f"leave-one-family-out needs at least two attack families; got {sorted(counts)}; "
            "use a dataset with several attack types."
        )
    score: BenignDistanceScore = fit_benign_distance(
        data.train.X, data.train.y, n_clusters=n_clusters, feature_names=tuple(data.feature_names), rng=gen
    )
    aug_names = score.augmented_names()
    rows: list[dict[str, Any]] = []
    for fam in families:
        keep_tr = data.train.families != fam
        keep_va = data.val.families != fam
        if not (data.train.y[keep_tr] == 1).any():
            continue  # no other attack family to learn from
        base = dataclasses.replace(data, train=_subset(data.train, keep_tr), val=_subset(data.val, keep_va))
        aug = dataclasses.replace(
            data,
            train=_subset(data.train, keep_tr, score.augment(data.train.X)),
            val=_subset(data.val, keep_va, score.augment(data.val.X)),
            feature_names=aug_names,
        )
        held = np.concatenate([s.X[s.families == fam] for s in splits])
        xv, xt = data.val.X[val_benign], data.test.X[data.test.families == BENIGN]
        seed = child_seed(gen)
        base_scores = _scores(_FITTERS[model](base, cfg, np.random.default_rng(seed)), xv, held, xt)
        aug_scorer = _FITTERS[model](aug, cfg, np.random.default_rng(seed))
        only_scores = _scores(score.transform, xv, held, xt)
        r_base = _evaluate(*base_scores, target_fpr)
        r_aug = _evaluate(*_scores(aug_scorer, score.augment(xv), score.augment(held), score.augment(xt)), target_fpr)
        r_only = _evaluate(*only_scores, target_fpr)
        r_either = _either(base_scores, only_scores, target_fpr)
        rows.append(
            {
                "family": str(fam),
                "heldout_rows": int(held.shape[0]),
                "recall_base": r_base["recall"],
                "recall_anomaly": r_aug["recall"],
                "recall_score_only": r_only["recall"],
                "recall_either": r_either["recall"],
                "auc_base": r_base["auc"],
                "auc_anomaly": r_aug["auc"],
                "auc_score_only": r_only["auc"],
                "fpr_base": r_base["fpr"],
                "fpr_anomaly": r_aug["fpr"],
                "fpr_either": r_either["fpr"],
            }
        )
    return FamilyHoldoutTable(rows=tuple(rows), model=model, target_fpr=target_fpr)
