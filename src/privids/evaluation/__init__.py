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

from privids.evaluation.importance import DROPPED_CONSTANT, FeatureImportance, agreement, gain_importance, importance_by_name, permutation_importance, stripped_names, top_k_table
from privids.evaluation.shap_importance import sampled_shap_importance, tree_shap_importance
from privids.evaluation.importance_plot import plot_importance
from privids.evaluation.explain import ExplainReport, ExplainableModel, constant_features, explain_artifact, explain_detector, fit_reference_tree
from privids.evaluation.zero_day import FamilyHoldoutTable, fitter_names, leave_one_family_out, register_fitter
from privids.evaluation.feature_impact import feature_impact

__all__ = [
    "BENIGN",
    "BINARY_CLASSES",
    "DROPPED_CONSTANT",
    "Detector",
    "ExplainReport",
    "ExplainableModel",
    "FamilyHoldoutTable",
    "FeatureImportance",
    "FittedDetector",
    "NO_SUPPORT",
    "THRESHOLD_METHODS",
    "agreement",
    "attack_scores",
    "binary_report",
    "choose_threshold",
    "constant_features",
    "evaluate_detector",
    "explain_artifact",
    "explain_detector",
    "feature_impact",
    "fit_reference_tree",
    "fitter_names",
    "gain_importance",
    "importance_by_name",
    "leave_one_family_out",
    "multiclass_report",
    "operating_points",
    "permutation_importance",
    "plot_importance",
    "raw_scores",
    "register_fitter",
    "sampled_shap_importance",
    "stripped_names",
    "top_k_table",
    "train_detector",
    "tree_shap_importance",
]
