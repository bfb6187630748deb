"""Training and evaluation runs that end on disk: artifact + ``metrics.json`` (what the CLI calls)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privids._rng import RandomLike
from privids.artifacts.store import ModelArtifact, _jsonable, load_artifact, save_artifact
from privids.config import DataConfig, PrivacyConfig, TrainConfig, config_to_dict
from privids.data.cache import default_cache_dir
from privids.data.dataset import PreparedData, SplitView
from privids.data.labels import binary_target, families_of
from privids.data.loaders import load_flows
from privids.data.table import FlowTable
from privids.evaluation.detectors import FittedDetector, evaluate_detector, train_detector
from privids.exceptions import ArtifactError
from privids.features.extra_inputs import ExtraInputs, apply_extra_inputs, fit_extra_inputs
from privids.features.pipeline import prepare_data
from privids.features.temporal import TemporalFeatures
from privids.privacy.ledger import PrivacyLedger

__all__ = [
    "METRICS_FILE",
    "TrainingRun",
    "detector_metadata",
    "evaluate_artifact",
    "privacy_total",
    "save_detector",
    "train_to_artifact",
    "write_metrics",
]

METRICS_FILE = "metrics.json"


def detector_metadata(
    detector: FittedDetector,
    data: PreparedData,
    *,
    train_cfg: TrainConfig,
    data_cfg: DataConfig | None = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The standard metadata for a detector trained on ``data``.

    Parameters
    ----------
    detector : FittedDetector
    data : PreparedData
        Supplies the feature list, fitted transform, family names and data fingerprint.
    train_cfg : TrainConfig
    data_cfg : DataConfig or None, default=None
        How the data were prepared (lets ``privids evaluate`` rebuild the same split).
    metrics : mapping or None, default=None
        Validation metrics to keep with the model.
    extra : mapping or None, default=None
        Additional keys (e.g. a ``ledger`` list); they override the defaults.
    """
    meta: dict[str, Any] = {
        "task": detector.task,
        "feature_names": list(data.feature_names),
        "transform": data.transform.to_dict(),
        "label_map": {str(i): name for i, name in enumerate(detector.class_names)},
        "family_names": list(data.family_names),
        "labels": list(detector.known_labels),
        "threshold": detector.threshold,
        "threshold_method": detector.threshold_method,
        "training": {
            "config": config_to_dict(train_cfg),
            # A DP-SGD run optimises with the PrivacyConfig (its own optimiser, lr, schedule, epochs,
            # expected batch); TrainConfig then only fixes the architecture and the head.
            "privacy_config": detector.privacy_config,
            "settings": ("privacy_config (DP-SGD optimisation); config: architecture and head only"
                         if detector.privacy_config is not None else "config"),
            "losses": list(detector.train_losses),
            "seconds": round(detector.train_seconds, 3),
        },
        "data": {
            "fingerprint": data.fingerprint,
            "synthetic": data.synthetic,
            "rows": _rows(data),
            "config": config_to_dict(data_cfg) if data_cfg is not None else None,
        },
        "privacy": detector.privacy,
        "ledger": [],
        "metrics": {"val": dict(metrics)} if metrics is not None else {},
        "torch_version": torch.__version__,
    }
    meta.update(extra or {})
    return meta


def save_detector(
    directory: str | Path,
    detector: FittedDetector,
    data: PreparedData,
    *,
    train_cfg: TrainConfig,
    data_cfg: DataConfig | None = None,
    metrics: Mapping[str, Any] | None = None,
    extra_inputs: ExtraInputs | None = None,
) -> Path:
    """:func:`save_artifact` with :func:`detector_metadata` (what ``privids train`` writes).

    ``extra_inputs`` (the recipe :func:`privids.features.fit_extra_inputs` returned for ``data``)
    is stored as JSON under ``metadata["anomaly"]`` / ``metadata["temporal"]``.
    """
    extra = extra_inputs.to_metadata() if extra_inputs is not None else None
    meta = detector_metadata(detector, data, train_cfg=train_cfg, data_cfg=data_cfg, metrics=metrics, extra=extra)
    return save_artifact(directory, model=detector.model, kind=detector.kind, metadata=meta)


def write_metrics(path: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics`` as strict, indented JSON (numpy values converted); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(metrics, indent=2, allow_nan=False, default=_jsonable) + "\n", encoding="utf-8")
    return p


@dataclass(frozen=True)
class TrainingRun:
    """What :func:`train_to_artifact` produced.

    Attributes
    ----------
    artifact_dir : Path
    metrics_path : Path
        ``<artifact_dir>/metrics.json``: validation and test reports.
    detector : FittedDetector
    metrics : dict
        The content of ``metrics.json``.
    extra_inputs : ExtraInputs or None
        The fitted anomaly score / temporal recipe appended to the model inputs (None: none).
    """

    artifact_dir: Path
    metrics_path: Path
    detector: FittedDetector
    metrics: dict[str, Any]
    extra_inputs: ExtraInputs | None = None


def train_to_artifact(
    source: str | Path | PreparedData,
    out: str | Path,
    *,
    train_cfg: TrainConfig,
    data_cfg: DataConfig | None = None,
    privacy_cfg: PrivacyConfig | Callable[[int], PrivacyConfig] | None = None,
    rng: RandomLike = None,
    table: FlowTable | None = None,
) -> TrainingRun:
    """Prepare the data, train, pick the threshold on validation, save, and report val + test.

    Parameters
    ----------
    source : str, Path or PreparedData
        Flow files (anything ``privids.features.prepare_data`` reads) or already prepared data.
    out : str or Path
        Artifact directory; ``metrics.json`` and ``data_report.json`` are written beside the model.
    train_cfg : TrainConfig
    data_cfg : DataConfig or None, default=None
        None: ``DataConfig()``. Stored so ``privids evaluate`` can rebuild the same test split.
    privacy_cfg : PrivacyConfig, callable or None, default=None
        Train the MLP with DP-SGD; the spent budget goes into the artifact's ``privacy``. A
        callable receives the training-split size and returns the PrivacyConfig, for settings
        that depend on it (the expected batch, as ``privids.privacy.recipes.tuned_privacy``).
    rng : int, numpy.random.Generator or None, default=None
        None: ``train_cfg.seed``.
    table : FlowTable or None, default=None
        The loaded flows behind a ``PreparedData`` source (needed for ``train_cfg.temporal``).

    Returns
    -------
    TrainingRun

    Raises
    ------
    ConfigError, DataError
        ``train_cfg.temporal`` on data without timestamps and source addresses (the message names
        the missing columns), or ``train_cfg.anomaly_feature`` without benign training flows.

    Notes
    -----
    The test split is scored once, after the model and its threshold are fixed. With
    ``train_cfg.anomaly_feature`` / ``train_cfg.temporal`` the extra inputs are fitted on the
    training split only (see :func:`privids.features.fit_extra_inputs`) and stored as JSON.
    """
    data_cfg = data_cfg or DataConfig()
    seed = train_cfg.seed if rng is None else rng
    extras_wanted = train_cfg.anomaly_feature or train_cfg.temporal
    if isinstance(source, PreparedData):
        data = source
    else:
        if train_cfg.temporal and table is None:
            # Every row is kept at load (impute) so the windows see the whole file, as the scorer
            # will; prepare_data then drops the non-finite rows itself under the drop policy.
            cache = None if not data_cfg.cache else (data_cfg.cache_dir or default_cache_dir())
            table = load_flows(source, mode="train", nonfinite="impute", cache_dir=cache)
        data = prepare_data(table if table is not None else source, data_cfg)
    extras = None
    if extras_wanted:
        recipe = TemporalFeatures(windows=tuple(train_cfg.temporal_windows)) if train_cfg.temporal else None
        data, extras = fit_extra_inputs(data, table, anomaly=train_cfg.anomaly_feature, temporal=recipe,
                                        n_clusters=train_cfg.anomaly_clusters, rng=seed)  # fmt: skip
    if callable(privacy_cfg):
        # The split size is only known here, after loading and splitting.
        privacy_cfg = privacy_cfg(len(data.train))
    detector = train_detector(data, train_cfg, privacy=privacy_cfg, rng=seed)
    val = evaluate_detector(detector, data.val)
    directory = save_detector(out, detector, data, train_cfg=train_cfg, data_cfg=data_cfg, metrics=val,
                              extra_inputs=extras)  # fmt: skip
    test = evaluate_detector(detector, data.test)
    metrics = {
        "model": str(directory),
        "kind": detector.kind,
        "task": detector.task,
        "threshold": detector.threshold,
        "threshold_method": detector.threshold_method,
        "data": {"fingerprint": data.fingerprint, "synthetic": data.synthetic, "rows": _rows(data)},
        "training": {"losses": list(detector.train_losses), "seconds": round(detector.train_seconds, 3)},
        "privacy": detector.privacy,
        "extra_inputs": list(extras.names()) if extras is not None else [],
        "val": val,
        "test": test,
    }
    write_metrics(directory / "data_report.json", data.report)
    path = write_metrics(directory / METRICS_FILE, metrics)
    return TrainingRun(artifact_dir=directory, metrics_path=path, detector=detector, metrics=metrics,
                       extra_inputs=extras)


def privacy_total(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """Composed privacy of the model line from the stored ledger, or None without a ledger.

    ``metadata["privacy"]`` is the last release only; an updated model's guarantee is the
    ledger's total (see :mod:`privids.privacy.ledger`).

    Returns
    -------
    dict or None
        ``epsilon``, ``delta``, ``rule``, ``releases`` (count), ``disjoint`` and ``levels``.
    """
    raw = metadata.get("ledger")
    if not isinstance(raw, Mapping) or not raw:
        return None
    led = PrivacyLedger.from_dict(raw)
    tot = led.totals()
    return {"epsilon": tot.epsilon, "delta": tot.delta, "rule": tot.rule, "releases": len(led.releases),
            "disjoint": led.disjoint, "levels": sorted({r.level for r in led.releases}),
            "budget": {"epsilon": led.budget_epsilon, "delta": led.budget_delta}}


def _rows(data: PreparedData) -> dict[str, int]:
    return {"train": len(data.train), "val": len(data.val), "test": len(data.test)}


def _stored_data_config(artifact: ModelArtifact) -> DataConfig:
    stored = (artifact.metadata.get("data") or {}).get("config") or {}
    try:
        return DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})
    except TypeError as e:
        raise ArtifactError(f"stored data config of {artifact.path} is not a DataConfig: {e}; re-train.") from e


def evaluate_artifact(model_dir: str | Path, source: str | Path, *, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a saved model on flow files, without ever scoring rows it was trained on.

    Parameters
    ----------
    model_dir : str or Path
        Artifact directory written by :func:`train_to_artifact` / ``privids train``.
    source : str or Path
        Labelled flow files.
    cache_dir : str, Path or None, default=None
        Parquet cache for reading (None: the data config's, else ``~/.cache/privids``).

    Returns
    -------
    dict
        ``model``, ``data``, ``fingerprint``, ``rows_evaluated``, ``mode`` and the reports
        ``binary`` / ``multiclass`` (see :func:`privids.evaluation.detectors.evaluate_detector`).

    Notes
    -----
    When ``source`` has the training data's content fingerprint, the stored data config rebuilds
    the same split and only its *test* part is scored (the stored transform must match the
    rebuilt one). Any other data is scored in full with the stored transform (never refitted);
    non-finite cells are kept and handled by the transform, as in scoring. Overlap between
    other files and the training files cannot be checked from the artifact, and the mode says
    so. For an updated model (one with a ``parent``) no rows are called held out: its fine-tune
    data may overlap any file. ``privacy_total`` is the ledger's composed total (None without
    a ledger); ``privacy`` is the last release only.

    Raises
    ------
    ArtifactError
        The training data's split can no longer be rebuilt identically.
    """
    artifact = load_artifact(model_dir)
    data_cfg = _stored_data_config(artifact)
    cache = cache_dir if cache_dir is not None else (data_cfg.cache_dir or default_cache_dir())
    table = load_flows(source, mode="train", nonfinite="impute", cache_dir=cache)
    trained_on = (artifact.metadata.get("data") or {}).get("fingerprint")
    updated = bool(artifact.metadata.get("parent"))
    extras = artifact.extra_inputs
    if table.fingerprint and table.fingerprint == trained_on:
        data = prepare_data(table if extras.temporal is not None else source, data_cfg)
        if data.transform.to_dict() != artifact.metadata["transform"]:
            raise ArtifactError(
                f"{source} is the training data of {artifact.path}, but its rebuilt transform differs from the stored "
                "one (data-layer change?); got a different split; re-train before evaluating on this data."
            )
        split = apply_extra_inputs(data, table, extras).test
        mode = "test split of the training data (same fingerprint, same split)"
        if updated:
            # The fine-tune data of `privids update` are other files whose overlap with this split
            # is unknown, so these rows can no longer be called held out.
            mode = ("test split of the original training data, NOT held out: the model was fine-tuned afterwards "
                    "(privids update) on other flows whose overlap with these rows is not checked")
    else:
        labels = np.asarray(table.labels).astype(str)
        X = artifact.model_inputs(table)
        split = SplitView(X=X, y=binary_target(labels), labels=labels, families=families_of(labels))
        # A new fingerprint only proves the file differs (one file of the training folder has its own).
        mode = ("all rows (different content fingerprint from the training data; overlap with the training "
                + ("and update " if updated else "") + "flows is not checked)")
    return {
        "model": str(artifact.path),
        "data": str(source),
        "fingerprint": table.fingerprint,
        "mode": mode,
        "rows_evaluated": len(split),
        "kind": artifact.kind,
        "task": artifact.task,
        "threshold": artifact.threshold,
        "privacy": artifact.privacy,
        "privacy_total": privacy_total(artifact.metadata),
        **evaluate_detector(artifact, split),
    }
