"""The strong non-private reference: LightGBM gradient-boosted trees, stored as LightGBM text."""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np

from privids._rng import RandomLike, child_seed
from privids.config import TrainConfig
from privids.data.dataset import PreparedData
from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.models.train import mlp_targets

__all__ = ["GBTModel", "train_gbt"]

log = logging.getLogger(__name__)


class GBTModel:
    """A trained LightGBM booster behind the same ``predict_scores`` interface as the MLP.

    Parameters
    ----------
    booster : lightgbm.Booster
        Binary (one model per iteration) or multi-class (one per class per iteration).

    Notes
    -----
    :meth:`to_string` / :meth:`from_string` use LightGBM's own text model format, which is
    parsed, never executed, so an artifact cannot run code when it is loaded (unlike pickle).
    """

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster_ = booster

    @property
    def n_features(self) -> int:
        """Input width the trees were trained on."""
        return int(self.booster_.num_feature())

    @property
    def n_outputs(self) -> int:
        """1 for a binary model, K for a K-class model."""
        return int(self.booster_.num_model_per_iteration())

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """P(attack) of shape ``(n,)`` (binary) or class probabilities ``(n, K)`` (multi-class)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(
                f"GBTModel.predict_scores needs X of shape (n, {self.n_features}); got {X.shape}; "
                "apply the artifact's transform to the stored feature list first."
            )
        if X.shape[0] == 0:
            return np.zeros((0,) if self.n_outputs == 1 else (0, self.n_outputs))
        return np.asarray(self.booster_.predict(X, num_threads=1), dtype=np.float64)

    def to_string(self) -> str:
        """The LightGBM text model, truncated at the early-stopping best iteration when there is one."""
        return str(self.booster_.model_to_string(num_iteration=None))

    @classmethod
    def from_string(cls, text: str) -> GBTModel:
        """Rebuild a model from :meth:`to_string` output.

        Raises
        ------
        ArtifactError
            The text is not a LightGBM model.
        """
        if not text.startswith("tree"):
            raise ArtifactError(
                f"not a LightGBM text model; got text starting {text[:20]!r}; re-save it with privids train --model gbt."
            )
        try:
            return cls(lgb.Booster(model_str=text))
        except lgb.basic.LightGBMError as e:
            raise ArtifactError(f"corrupt LightGBM model text: {e}; re-train or restore the artifact.") from e


def train_gbt(
    data: PreparedData,
    cfg: TrainConfig,
    *,
    rng: RandomLike,
    n_jobs: int = 1,
    early_stopping_rounds: int | None = 30,
) -> GBTModel:
    """Fit LightGBM on ``data.train`` (binary, or over ``data.family_names`` when ``cfg.multiclass``).

    Parameters
    ----------
    data : PreparedData
    cfg : TrainConfig
        ``gbt_estimators`` (maximum boosting rounds), ``gbt_leaves``, ``gbt_lr``, ``multiclass``.
    rng : int, numpy.random.Generator or None
        Seeds LightGBM's bagging/feature sampling; the same seed gives the same trees.
    n_jobs : {1, 2}, default=1
        LightGBM threads; the machines are shared, so more than 2 is refused.
    early_stopping_rounds : int or None, default=30
        Stop when the validation loss has not improved for this many rounds (None: run all).
        Only ``val`` is used, never ``test``.

    Returns
    -------
    GBTModel

    Raises
    ------
    ConfigError
        ``n_jobs`` outside {1, 2}.
    """
    if n_jobs not in (1, 2):
        raise ConfigError(f"n_jobs must be 1 or 2 on the shared 2-core machines; got {n_jobs!r}.")
    y_train = mlp_targets(data, data.train, multiclass=cfg.multiclass)
    y_val = mlp_targets(data, data.val, multiclass=cfg.multiclass)
    params: dict[str, object] = {
        "learning_rate": cfg.gbt_lr,
        "num_leaves": cfg.gbt_leaves,
        "seed": child_seed(rng) % (2**31 - 1),
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": n_jobs,
        "verbosity": -1,
    }
    if cfg.multiclass:
        params.update(objective="multiclass", num_class=len(data.family_names), metric="multi_logloss")
    else:
        params.update(objective="binary", metric="binary_logloss")
    train_set = lgb.Dataset(data.train.X, label=y_train, free_raw_data=True)
    callbacks = []
    valid_sets = []
    if early_stopping_rounds and len(data.val) > 0:
        valid_sets = [lgb.Dataset(data.val.X, label=y_val, reference=train_set)]
        callbacks.append(lgb.early_stopping(early_stopping_rounds, verbose=False))
    booster = lgb.train(
        params, train_set, num_boost_round=cfg.gbt_estimators, valid_sets=valid_sets, callbacks=callbacks
    )
    log.info("LightGBM stopped at %d of %d rounds", booster.best_iteration or cfg.gbt_estimators, cfg.gbt_estimators)
    return GBTModel(booster)
