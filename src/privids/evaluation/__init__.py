"""Honest evaluation: detection metrics, validation-only thresholds, detector training and reports."""

from privids.evaluation.detectors import (
    BINARY_CLASSES,
    Detector,
    FittedDetector,
    evaluate_detector,
    raw_scores,
    train_detector,
)
from privids.evaluation.metrics import BENIGN, NO_SUPPORT, attack_scores, binary_report, multiclass_report
from privids.evaluation.thresholds import THRESHOLD_METHODS, choose_threshold, operating_points

__all__ = [
    "BENIGN",
    "BINARY_CLASSES",
    "Detector",
    "FittedDetector",
    "NO_SUPPORT",
    "THRESHOLD_METHODS",
    "attack_scores",
    "binary_report",
    "choose_threshold",
    "evaluate_detector",
    "multiclass_report",
    "operating_points",
    "raw_scores",
    "train_detector",
]
