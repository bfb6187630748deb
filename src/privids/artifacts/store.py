"""Saving and loading model artifacts: safetensors or LightGBM text weights plus JSON metadata.

Layout of an artifact directory::

    metadata.json         everything needed to score and to audit (see save_artifact)
    model.safetensors     FlowMLP weights (kind "mlp"), tensors only
    model.lgb.txt         LightGBM text model (kind "gbt")

Both weight formats are parsed, not executed, so loading an artifact cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import privids
from privids.data.dataset import FeatureTransform
from privids.evaluation.detectors import raw_scores
from privids.evaluation.metrics import attack_scores
from privids.exceptions import ArtifactError
from privids.models.gbt import GBTModel
from privids.models.mlp import FlowMLP

__all__ = [
    "ARTIFACT_FORMAT",
    "METADATA_FILE",
    "ModelArtifact",
    "load_artifact",
    "save_artifact",
]

ARTIFACT_FORMAT = "privids-artifact/1"
METADATA_FILE = "metadata.json"
_REQUIRED = ("feature_names", "transform", "label_map", "threshold", "task")
_UNSAFE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".joblib", ".bin", ".ckpt")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _save_mlp(model: Any, directory: Path) -> tuple[str, dict[str, Any]]:
    # An Opacus GradSampleModule keeps the real network in ._module; store the plain weights.
    net = getattr(model, "_module", model)
    if not isinstance(net, FlowMLP):
        raise ArtifactError(f"kind 'mlp' needs a FlowMLP; got {type(net).__name__}; pass kind='gbt' for trees.")
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    name = "model.safetensors"
    save_file(tensors, str(directory / name), metadata={"format": "privids-flowmlp"})
    arch = {"n_features": net.n_features, "hidden": list(net.hidden), "n_outputs": net.n_outputs}
    return name, arch


def _load_mlp(path: Path, arch: Mapping[str, Any]) -> FlowMLP:
    try:
        tensors = load_file(str(path))
        net = FlowMLP(int(arch["n_features"]), hidden=tuple(arch["hidden"]), n_outputs=int(arch["n_outputs"]))
        net.load_state_dict(tensors, strict=True)
    except (SafetensorError, KeyError, RuntimeError, TypeError, ValueError) as e:
        raise ArtifactError(f"cannot load MLP weights from {path}: {e}; the artifact is corrupt or edited.") from e
    return net.eval()


def _save_gbt(model: Any, directory: Path) -> tuple[str, dict[str, Any]]:
    if not isinstance(model, GBTModel):
        raise ArtifactError(f"kind 'gbt' needs a GBTModel; got {type(model).__name__}; pass kind='mlp' for the MLP.")
    name = "model.lgb.txt"
    (directory / name).write_text(model.to_string(), encoding="utf-8")
    return name, {"n_features": model.n_features, "n_outputs": model.n_outputs}


def _load_gbt(path: Path, arch: Mapping[str, Any]) -> GBTModel:
    return GBTModel.from_string(path.read_text(encoding="utf-8"))


_FORMATS: dict[str, tuple[Callable[[Any, Path], tuple[str, dict[str, Any]]], Callable[[Path, Mapping[str, Any]], Any]]] = {
    "gbt": (_save_gbt, _load_gbt),
    "mlp": (_save_mlp, _load_mlp),
}


@dataclass(frozen=True)
class ModelArtifact:
    """A loaded model plus its metadata; scores transformed rows like the model it was saved from.

    Attributes
    ----------
    kind : {"mlp", "gbt"}
    model : FlowMLP or GBTModel
    metadata : dict
        The parsed ``metadata.json`` (see :func:`save_artifact`).
    path : Path
        The artifact directory.
    """

    kind: str
    model: Any
    metadata: dict[str, Any] = field(repr=False)
    path: Path

    @property
    def task(self) -> str:
        """``"binary"`` or ``"multiclass"``."""
        return str(self.metadata["task"])

    @property
    def class_names(self) -> tuple[str, ...]:
        """Output index -> class name (the stored label map)."""
        label_map = self.metadata["label_map"]
        return tuple(label_map[str(i)] for i in range(len(label_map)))

    @property
    def threshold(self) -> float:
        """Attack-score threshold chosen on the validation split at training time."""
        return float(self.metadata["threshold"])

    @property
    def known_labels(self) -> tuple[str, ...]:
        """Canonical labels seen in training."""
        return tuple(self.metadata.get("labels", ()))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Model input columns, in order."""
        return tuple(self.metadata["feature_names"])

    @property
    def privacy(self) -> dict[str, Any] | None:
        """``PrivacySpent.to_dict()`` of a DP model, None for non-private training."""
        return self.metadata.get("privacy")

    @cached_property
    def transform(self) -> FeatureTransform:
        """The fitted feature transform, rebuilt from ``metadata["transform"]``.

        Raises
        ------
        ArtifactError
            The stored parameters cannot be rebuilt by ``privids.features.FlowTransform``.
        """
        params = self.metadata["transform"]
        try:
            from privids.features import FlowTransform  # the data layer owns the transform format

            return FlowTransform.from_dict(params)
        except (ImportError, AttributeError, KeyError, TypeError, ValueError) as e:
            kind = params.get("kind", "?") if isinstance(params, dict) else type(params).__name__
            raise ArtifactError(
                f"cannot rebuild the feature transform of {self.path} (kind {kind!r}): {e}; "
                "re-train the artifact with this privids version."
            ) from e

    @cached_property
    def extra_inputs(self) -> Any:
        """The stored :class:`privids.features.ExtraInputs` (anomaly score, temporal windows).

        Empty for a model trained on the scaled flow features alone.

        Raises
        ------
        ArtifactError
            A stored state that cannot be rebuilt, or a feature list that does not end with the
            extra columns.
        """
        from privids.features.extra_inputs import ExtraInputs

        extras = ExtraInputs.from_metadata(self.metadata)
        names = extras.names()
        if names and self.feature_names[-len(names) :] != names:
            raise ArtifactError(
                f"{self.path}: stored feature list must end with the extra inputs {list(names)}; got "
                f"{list(self.feature_names[-len(names):])}; the metadata was edited; re-train."
            )
        return extras

    @property
    def flow_feature_names(self) -> tuple[str, ...]:
        """The scaled flow features (model inputs before the extra ones), in order."""
        k = len(self.extra_inputs.names())
        return self.feature_names[: len(self.feature_names) - k]

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Raw flow columns a scorer reads (``feature_names`` for a model without extra inputs)."""
        extras = self.extra_inputs
        return self.feature_names if extras.empty else extras.raw_columns(self.flow_feature_names)

    def model_inputs(self, table: Any) -> np.ndarray:
        """Model input matrix for every row of a loaded flow table (stored transform + extra inputs).

        Temporal windows run over all rows of ``table`` in arrival order, so select rows *after*
        this call (``artifact.model_inputs(table)[keep]``) to keep every flow in the history.

        Raises
        ------
        SchemaError, DataError
            The table lacks a stored feature, or timestamps/source addresses a temporal model needs.
        """
        X = self.transform.transform(table.matrix(self.flow_feature_names))
        extras = self.extra_inputs
        return X if extras.empty else extras.append(X, temporal=extras.table_temporal(table))

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """Raw scores for already transformed rows: P(attack) ``(n,)`` or class probabilities ``(n, K)``."""
        return raw_scores(self.model, X)

    def attack_scores(self, X: np.ndarray) -> np.ndarray:
        """P(attack) for transformed rows, also for a multi-class head (``1 - P(BENIGN)``)."""
        raw = self.predict_scores(X)
        return attack_scores(raw, class_names=self.class_names) if self.task == "multiclass" else raw


def save_artifact(directory: str | Path, *, model: Any, kind: str, metadata: Mapping[str, Any]) -> Path:
    """Write ``model`` and its metadata to ``directory`` (created if needed).

    Parameters
    ----------
    directory : str or Path
    model : FlowMLP or GBTModel
    kind : {"mlp", "gbt"}
    metadata : mapping
        Must hold ``feature_names``, ``transform`` (``transform.to_dict()``), ``label_map``
        (``{"0": "BENIGN", ...}``), ``threshold`` and ``task``. Usually built by
        :func:`detector_metadata`. ``privacy`` defaults to None (non-private) and ``ledger``
        to ``[]`` (room for continual-learning releases); ``format``, ``kind``,
        ``privids_version``, ``created``, ``model`` (architecture) and ``weights`` (file name and
        SHA-256) are filled in here.

    Returns
    -------
    Path
        The artifact directory.

    Raises
    ------
    ArtifactError
        Unknown kind, a model of the wrong type, missing keys or values that are not strict JSON.
    """
    if kind not in _FORMATS:
        raise ArtifactError(f"kind must be one of {sorted(_FORMATS)}; got {kind!r}.")
    missing = [k for k in _REQUIRED if k not in metadata]
    if missing:
        raise ArtifactError(f"artifact metadata is missing {missing}; got keys {sorted(metadata)}; use detector_metadata().")
    out = Path(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Everything is written to a sibling temp directory and moved into place only once complete:
    # a failure (bad metadata, full disk) never leaves a half-written artifact at ``out``.
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_artifact(work, model=model, kind=kind, metadata=metadata)
        if not out.exists():
            os.replace(work, out)
        else:
            # An existing directory (e.g. one the caller created): move the files in, metadata last.
            names = sorted(p.name for p in work.iterdir())
            for name in [n for n in names if n != METADATA_FILE] + [METADATA_FILE]:
                os.replace(work / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _write_artifact(out: Path, *, model: Any, kind: str, metadata: Mapping[str, Any]) -> None:
    meta: dict[str, Any] = {"privacy": None, "ledger": [], **metadata}
    weights, arch = _FORMATS[kind][0](model, out)
    if arch["n_features"] != len(meta["feature_names"]):
        raise ArtifactError(
            f"model has {arch['n_features']} inputs but the feature list has {len(meta['feature_names'])}; "
            "save the model with the data it was trained on."
        )
    meta.update(
        format=ARTIFACT_FORMAT,
        kind=kind,
        privids_version=privids.__version__,
        created=meta.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
        model=arch,
        weights={"file": weights, "sha256": _sha256(out / weights)},
    )
    try:
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False, default=_jsonable)
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"artifact metadata must be strict JSON: {e}; convert the value or drop it.") from e
    (out / METADATA_FILE).write_text(text + "\n", encoding="utf-8")


def load_artifact(directory: str | Path) -> ModelArtifact:
    """Load an artifact written by :func:`save_artifact`; never unpickles anything.

    Raises
    ------
    ArtifactError
        No metadata (including a pickle/torch.save checkpoint, which is refused), another
        format, unknown kind, a weight file whose SHA-256 differs from the recorded one, or
        weights that do not fit the recorded architecture.
    """
    path = Path(directory)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        found = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        unsafe = [f for f in found if f.endswith(_UNSAFE_SUFFIXES)]
        hint = (
            f"found {unsafe}: pickle-based checkpoints are refused because loading them can run code"
            if unsafe
            else f"found {found or 'nothing'}"
        )
        raise ArtifactError(f"no privids artifact at {path} ({hint}); create one with `privids train --out DIR`.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"cannot read {meta_path}: {e}; the artifact is corrupt.") from e
    if not isinstance(meta, dict) or meta.get("format") != ARTIFACT_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ArtifactError(f"{meta_path} is not a {ARTIFACT_FORMAT} artifact; got format {got!r}; re-train it.")
    kind = meta.get("kind")
    if kind not in _FORMATS:
        raise ArtifactError(f"artifact kind must be one of {sorted(_FORMATS)}; got {kind!r}.")
    weights = path / str(meta["weights"]["file"])
    if not weights.is_file():
        raise ArtifactError(f"artifact weights {weights} are missing; copy the whole artifact directory.")
    digest = _sha256(weights)
    if digest != meta["weights"]["sha256"]:
        raise ArtifactError(
            f"weights {weights.name} do not match the recorded SHA-256 (got {digest[:12]}..., expected "
            f"{str(meta['weights']['sha256'])[:12]}...); the file was changed or replaced; restore or re-train."
        )
    model = _FORMATS[kind][1](weights, meta["model"])
    return ModelArtifact(kind=kind, model=model, metadata=meta, path=path)
