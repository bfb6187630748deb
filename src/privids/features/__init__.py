"""privids.features: the fitted flow transform and the load-to-splits pipeline."""

from __future__ import annotations

from privids.features.pipeline import choose_features, data_report, prepare_data
from privids.features.transforms import FlowTransform

from privids.features.anomaly import ANOMALY_FEATURE, BenignDistanceScore, fit_benign_distance, with_anomaly
from privids.features.temporal import TemporalFeatures, failed_handshake, temporal_from_table, temporal_inputs, timestamps_to_seconds, window_stats, with_temporal

__all__ = [
    "ANOMALY_FEATURE",
    "BenignDistanceScore",
    "FlowTransform",
    "TemporalFeatures",
    "choose_features",
    "data_report",
    "failed_handshake",
    "fit_benign_distance",
    "prepare_data",
    "temporal_from_table",
    "temporal_inputs",
    "timestamps_to_seconds",
    "window_stats",
    "with_anomaly",
    "with_temporal",
]
