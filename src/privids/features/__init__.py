"""privids.features: the fitted flow transform and the load-to-splits pipeline."""

from __future__ import annotations

from privids.features.pipeline import choose_features, data_report, prepare_data
from privids.features.transforms import FlowTransform

__all__ = ["FlowTransform", "choose_features", "data_report", "prepare_data"]
