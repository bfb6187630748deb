"""privids.data: read flow files in every supported schema, report their quirks, split them."""

from __future__ import annotations

from privids.data.dataset import FeatureTransform, PreparedData, SplitView
from privids.data.labels import FAMILIES, attack_family, binary_target, canonical_label
from privids.data.loaders import load_flows
from privids.data.report import DataReport, FileReport
from privids.data.schema import CANONICAL_FEATURES
from privids.data.table import FlowTable

__all__ = [
    "CANONICAL_FEATURES",
    "DataReport",
    "FAMILIES",
    "FeatureTransform",
    "FileReport",
    "FlowTable",
    "PreparedData",
    "SplitView",
    "attack_family",
    "binary_target",
    "canonical_label",
    "load_flows",
]
