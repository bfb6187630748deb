"""privids.data: read flow files in every supported schema, report their quirks, split them."""

from __future__ import annotations

from privids.data.dataset import FeatureTransform, PreparedData, SplitView
from privids.data.labels import FAMILIES, attack_family, binary_target, canonical_label
from privids.data.loaders import load_flows
from privids.data.report import DataReport, FileReport
from privids.data.schema import CANONICAL_FEATURES
from privids.data.table import FlowTable

from privids.data.demo import CLASS_DAYS, CLASS_MIX, DEMO_TAG, DemoFlows, generate_demo_flows, load_demo_stats
from privids.data.download import ARCHIVES, ArchiveSpec, DownloadResult, download_dataset, extract_archive, fetch, verify_archive

__all__ = [
    "ARCHIVES",
    "ArchiveSpec",
    "CANONICAL_FEATURES",
    "CLASS_DAYS",
    "CLASS_MIX",
    "DEMO_TAG",
    "DataReport",
    "DemoFlows",
    "DownloadResult",
    "FAMILIES",
    "FeatureTransform",
    "FileReport",
    "FlowTable",
    "PreparedData",
    "SplitView",
    "attack_family",
    "binary_target",
    "canonical_label",
    "download_dataset",
    "extract_archive",
    "fetch",
    "generate_demo_flows",
    "load_demo_stats",
    "load_flows",
    "verify_archive",
]
