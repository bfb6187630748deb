"""privids.features: the fitted flow transform and the load-to-splits pipeline."""

from __future__ import annotations

from privids.features.pipeline import choose_features, data_report, prepare_data
from privids.features.transforms import FlowTransform

from privids.features.anomaly import ANOMALY_FEATURE, BenignDistanceScore, fit_benign_distance, with_anomaly
from privids.features.extra_inputs import ExtraInputs, apply_extra_inputs, fit_extra_inputs, flow_seconds, table_rows
from privids.features.temporal import TEMPORAL_RAW_COLUMNS, TemporalFeatures, failed_handshake, temporal_from_table, temporal_inputs, timestamps_to_seconds, window_stats, with_temporal

__all__ = [
    "ANOMALY_FEATURE",
    "BenignDistanceScore",
    "ExtraInputs",
    "FlowTransform",
    "TEMPORAL_RAW_COLUMNS",
    "TemporalFeatures",
    "apply_extra_inputs",
    "choose_features",
    "data_report",
    "failed_handshake",
    "fit_benign_distance",
    "fit_extra_inputs",
    "flow_seconds",
    "prepare_data",
    "table_rows",
    "temporal_from_table",
    "temporal_inputs",
    "timestamps_to_seconds",
    "window_stats",
    "with_anomaly",
    "with_temporal",
]
