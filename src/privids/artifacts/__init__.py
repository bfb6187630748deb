"""Model artifacts: safetensors / LightGBM-text weights plus JSON metadata (never pickle), and runs."""

from privids.artifacts.runs import (
    METRICS_FILE,
    TrainingRun,
    detector_metadata,
    evaluate_artifact,
    save_detector,
    train_to_artifact,
    write_metrics,
)
from privids.artifacts.store import ARTIFACT_FORMAT, METADATA_FILE, ModelArtifact, load_artifact, save_artifact

__all__ = [
    "ARTIFACT_FORMAT",
    "METADATA_FILE",
    "METRICS_FILE",
    "ModelArtifact",
    "TrainingRun",
    "detector_metadata",
    "evaluate_artifact",
    "load_artifact",
    "save_artifact",
    "save_detector",
    "train_to_artifact",
    "write_metrics",
]
