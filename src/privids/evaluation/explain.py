"""One explanation run: permutation, gain and SHAP importance, their top-k table, agreement and chart."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from privids._rng import RandomLike, as_generator, child_seed
from privids.config import DataConfig
from privids.data.cache import default_cache_dir
from privids.data.dataset import PreparedData, SplitView
from privids.data.labels import binary_target, families_of
from privids.data.loaders import load_flows
from privids.data.schema import CANONICAL_FEATURES
from privids.data.table import FlowTable
from privids.evaluation.importance import (
    FeatureImportance,
    agreement,
    gain_importance,
    permutation_importance,
    top_k_table,
)
from privids.evaluation.importance_plot import plot_importance
from privids.evaluation.shap_importance import sampled_shap_importance, tree_shap_importance
from privids.exceptions import DataError
from privids.features.extra_inputs import apply_extra_inputs
from privids.features.pipeline import prepare_data

__all__ = [
    "ExplainReport",
    "ExplainableModel",
    "constant_features",
    "explain_artifact",
    "explain_detector",
    "fit_reference_tree",
]

Scorer = Callable[[np.ndarray], np.ndarray]

# Report keys under which the data layer may list the constant columns it dropped.
_CONSTANT_KEYS = ("constant_columns", "dropped_constant", "constant")


@dataclass(frozen=True)
class ExplainReport:
    """Everything ``privids explain`` shows and saves.

    Attributes
    ----------
    importances : tuple of FeatureImportance
        ``permutation``, ``gain`` and ``shap``, in that order.
    top : tuple of dict
        The top-``k`` table (see :func:`privids.evaluation.importance.top_k_table`).
    agreement : tuple of dict
        Pairwise overlap and Spearman correlation.
    k : int
    notes : tuple of str
        Caveats (e.g. that the gain came from a reference tree, not the explained model).
    dropped : tuple of str
        Constant features removed before training, shown as "dropped (constant)".
    """

    importances: tuple[FeatureImportance, ...]
    top: tuple[dict[str, Any], ...]
    agreement: tuple[dict[str, Any], ...]
    k: int
    notes: tuple[str, ...] = ()
    dropped: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (every number finite; dropped features carry the marker string)."""
        return {
            "top_k": self.k,
            "top": list(self.top),
            "agreement": list(self.agreement),
            "methods": [imp.to_dict() for imp in self.importances],
            "dropped": list(self.dropped),
            "notes": list(self.notes),
        }

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``importance.json`` and ``importance.png`` into ``out_dir``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js = out / "importance.json"
        js.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        png = plot_importance(self.importances, out / "importance.png", top=self.k)
        return {"json": js, "chart": png}


def constant_features(report: Mapping[str, Any]) -> tuple[str, ...]:
    """Constant columns the data layer dropped, read from a data report (empty when not listed).

    ``prepare_data`` records them under ``report["features"]["constant"]``.
    """
    nested = report.get("features")
    if isinstance(nested, Mapping) and isinstance(nested.get("constant"), Sequence):
        return tuple(str(v) for v in nested["constant"])
    for key in _CONSTANT_KEYS:
        value = report.get(key)
        if isinstance(value, Mapping):
            return tuple(str(v) for v in value)
        if isinstance(value, Sequence) and not isinstance(value, str):
            return tuple(str(v) for v in value)
    return ()


def fit_reference_tree(X: np.ndarray, y: np.ndarray, *, n_estimators: int = 100, rng: RandomLike = None) -> Any:
    """Fit a small, seeded LightGBM booster whose gain importance stands in for a model without gains.

    Parameters
    ----------
    X : ndarray, shape (n, F)
        Training features.
    y : ndarray of int, shape (n,)
    n_estimators : int, default=100
    rng : int, numpy.random.Generator or None, default=None

    Returns
    -------
    lightgbm.Booster

    Raises
    ------
    DataError
        Training rows from a single class.
    """
    import lightgbm as lgb

    if np.unique(y).size < 2:
        raise DataError(
            f"a reference tree needs BENIGN and attack training rows; got only class {np.unique(y).tolist()}; "
            "use a dataset with both classes."
        )
    seed = child_seed(rng) % (2**31 - 1)
    params = {
        "objective": "binary",
        "num_leaves": 31,
        "learning_rate": 0.1,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "deterministic": True,
        "seed": seed,
        "verbose": -1,
    }
    return lgb.train(params, lgb.Dataset(np.asarray(X, dtype=np.float64), label=y), num_boost_round=n_estimators)


def explain_detector(
    scorer: Scorer,
    data: PreparedData,
    *,
    booster: Any = None,
    tree_shap: bool = True,
    threshold: float = 0.5,
    top: int = 5,
    metric: str = "roc_auc",
    n_repeats: int = 5,
    max_rows: int | None = 5000,
    shap_rows: int = 100,
    shap_background: int = 50,
    dropped: Sequence[str] | None = None,
    rng: RandomLike = None,
) -> ExplainReport:
    """Explain a detector on the test split by permutation, tree gain and SHAP, and compare them.

    Parameters
    ----------
    scorer : callable
        ``X (n, F) -> P(attack) (n,)`` of the model being explained (MLP, DP-MLP or tree).
    data : PreparedData
        Splits transformed with the model's own stored transform and feature list.
    booster : lightgbm.Booster or None, default=None
        The model's trees when it is a tree model; then gain and TreeSHAP describe the model itself.
        None (an MLP): gain comes from a reference LightGBM fitted on the training split and SHAP
        from the sampled permutation explainer.
    tree_shap : bool, default=True
        Use exact TreeSHAP on ``booster``; False (e.g. a multi-class booster, whose attack score is
        ``1 - P(BENIGN)`` rather than one tree output) uses the sampled explainer on ``scorer``.
    threshold : float, default=0.5
        The model's decision threshold (used by ``metric="f1"``).
    top : int, default=5
    metric : {"roc_auc", "f1"}, default="roc_auc"
        What the permutation importance measures the drop of.
    n_repeats : int, default=5
    max_rows : int or None, default=5000
        Test rows used for permutation importance and TreeSHAP.
    shap_rows, shap_background : int, default=100, 50
        Rows explained and background rows for the sampled explainer.
    dropped : sequence of str or None, default=None
        Constant features dropped before training; None reads them from ``data.report``.
    rng : int, numpy.random.Generator or None, default=None

    Returns
    -------
    ExplainReport

    Raises
    ------
    DataError
        An empty test split, or one without both classes for ``metric="roc_auc"``.
    """
    gen = as_generator(rng)
    test, train = data.test, data.train
    if len(test) == 0:
        raise DataError("explain needs a non-empty test split; got 0 rows; use a larger dataset or test fraction.")
    names = tuple(data.feature_names)
    drop = tuple(constant_features(data.report) if dropped is None else dropped)
    notes: list[str] = []
    perm = permutation_importance(
        scorer, test.X, test.y, feature_names=names, metric=metric, threshold=threshold,
        n_repeats=n_repeats, max_rows=max_rows, dropped=drop, rng=gen,
    )
    if booster is None:
        tree = fit_reference_tree(train.X, train.y, rng=gen)
        notes.append("gain is from a reference LightGBM fitted on the training split (the explained model has no trees)")
    else:
        tree = booster
    if booster is not None and tree_shap:
        shap_imp = tree_shap_importance(booster, test.X, feature_names=names, max_rows=max_rows, dropped=drop, rng=gen)
    else:
        shap_imp = sampled_shap_importance(
            scorer, test.X, background=train.X, feature_names=names, n_background=shap_background,
            n_explain=shap_rows, dropped=drop, rng=gen,
        )
    inner = getattr(tree, "booster_", tree)
    gain = gain_importance(inner.feature_importance(importance_type="gain"), feature_names=names, dropped=drop)
    results = (perm, gain, shap_imp)
    return ExplainReport(
        importances=results,
        top=tuple(top_k_table(results, k=top)),
        agreement=tuple(agreement(results, k=top)),
        k=top,
        notes=tuple(notes),
        dropped=drop,
    )


class ExplainableModel(Protocol):
    """What :func:`explain_artifact` needs from a loaded model (``privids.artifacts.ModelArtifact``)."""

    kind: str
    model: Any
    metadata: dict[str, Any]

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    @property
    def threshold(self) -> float: ...

    @property
    def task(self) -> str: ...

    @property
    def transform(self) -> Any: ...

    def attack_scores(self, X: np.ndarray) -> np.ndarray: ...


def _stored_data_config(metadata: Mapping[str, Any]) -> DataConfig:
    stored = (metadata.get("data") or {}).get("config")
    if not stored:
        return DataConfig()
    known = {f.name for f in dataclasses.fields(DataConfig)}
    return DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in known})


def _not_in_model(model: ExplainableModel, cfg: DataConfig) -> list[str]:
    # The data layer keeps every canonical feature except constant ones (and the port when off).
    chosen = set(model.feature_names)
    return [n for n in CANONICAL_FEATURES if n not in chosen and (cfg.use_destination_port or n != "Destination Port")]


def _whole_file(model: ExplainableModel, table: FlowTable, cfg: DataConfig) -> PreparedData:
    # Not the training data as a whole (overlap is not checked): every labelled row is evaluation data, transformed with the
    # model's own stored transform (never refitted; it caps Infinity and fills NaN itself).
    if table.labels is None:
        raise DataError("explain needs labelled flows; got no label column; pass a labelled file.")
    keep = table.labels != ""
    if not keep.any():
        raise DataError("explain needs labelled flows; got only empty labels; pass a labelled file.")
    labels = table.labels[keep]
    if hasattr(model, "model_inputs"):
        # Stored transform plus any extra inputs; temporal windows need every row, so select after.
        X = np.asarray(model.model_inputs(table))[keep]
    else:
        X = model.transform.transform(table.matrix(model.feature_names)[keep])
    view = SplitView(X=X, y=binary_target(labels), labels=labels, families=families_of(labels))
    return PreparedData(
        train=view, val=view, test=view, feature_names=tuple(model.feature_names), transform=model.transform,
        family_names=tuple(sorted(set(view.families))), fingerprint=table.fingerprint,
        report={"features": {"constant": _not_in_model(model, cfg)}},
    )


def explain_artifact(
    model: ExplainableModel,
    data_path: str | Path,
    *,
    top: int = 5,
    metric: str = "roc_auc",
    n_repeats: int = 5,
    shap_rows: int = 100,
    rng: RandomLike = None,
) -> ExplainReport:
    """Explain a stored model on labelled flows: its own test split when ``data_path`` is its training data.

    When ``data_path`` holds the data the model was trained on (rebuilding the split with the
    stored data settings reproduces the stored feature list and transform exactly), the *test*
    split is explained. Otherwise every labelled flow in ``data_path`` is used, scaled with the
    model's stored transform; overlap with the training flows (e.g. one file of the training
    folder) is not checked.

    Parameters
    ----------
    model : ModelArtifact
        From ``privids.artifacts.load_artifact`` (MLP, DP-MLP or LightGBM; binary or multi-class).
    data_path : str or Path
        Labelled flow file(s).
    top : int, default=5
    metric : {"roc_auc", "f1"}, default="roc_auc"
    n_repeats : int, default=5
    shap_rows : int, default=100
    rng : int, numpy.random.Generator or None, default=None

    Returns
    -------
    ExplainReport

    Raises
    ------
    DataError
        Unlabelled or unusable flows.
    """
    cfg = _stored_data_config(model.metadata)
    # Keep every row at load time: the training policy (drop or impute) is applied by prepare_data
    # on the training data, and unseen flows go through the stored transform.
    # Same cache resolution as prepare_data, so the content fingerprint is computed the same way.
    cache = None if not getattr(cfg, "cache", True) else (cfg.cache_dir if cfg.cache_dir is not None else default_cache_dir())
    table = load_flows(data_path, mode="train", nonfinite="impute", cache_dir=cache)
    # The training data is recognised by its result, not its name or hash: rebuilding the split
    # with the stored settings gives exactly the stored transform (fitted on the training rows).
    same = False
    try:
        data = prepare_data(table, cfg)
        extras = getattr(model, "extra_inputs", None)
        flow_names = tuple(getattr(model, "flow_feature_names", model.feature_names))
        same = tuple(data.feature_names) == flow_names and data.transform.to_dict() == model.metadata.get("transform")
        if same and extras is not None and not extras.empty:
            data = apply_extra_inputs(data, table, extras)
    except DataError:
        pass  # too small or single-class to split: certainly not the data the model was trained on
    note = "explained on the model's own test split (rebuilt from the stored data settings)"
    if not same:
        data = _whole_file(model, table, cfg)
        # A different result only proves the file differs: one file of the training folder also lands here.
        note = ("explained on every labelled flow in the file (different content from the training data; overlap "
                "with the training flows is not checked); the SHAP background and any reference tree come from "
                "these same flows")
    booster = getattr(model.model, "booster_", None) if model.kind == "gbt" else None
    report = explain_detector(
        model.attack_scores, data, booster=booster, tree_shap=model.task == "binary", threshold=model.threshold,
        top=top, metric=metric, n_repeats=n_repeats, shap_rows=shap_rows, rng=rng,
    )
    return dataclasses.replace(report, notes=(note, *report.notes))
