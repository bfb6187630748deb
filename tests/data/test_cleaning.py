"""Tests for privids.data.cleaning: duplicates against a brute-force oracle, constant columns."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_path
from privids.data import load_flows
from privids.data.cleaning import constant_columns, drop_duplicates
from privids.data.table import FlowTable


def _table(X, labels):
    n = len(labels)
    meta = {"source_line": np.arange(2, n + 2), "source_file": np.full(n, "t.csv", dtype=object)}
    return FlowTable(X=np.asarray(X, np.float32), feature_names=("a", "b"), labels=np.array(labels, dtype=object), meta=meta)


def _oracle(X, labels):
    seen, keep = set(), []
    for i, (row, lab) in enumerate(zip(X.tolist(), labels, strict=True)):
        key = (tuple(row), lab)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return keep


def test_dedup_matches_brute_force_on_seeded_data():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 3, size=(400, 2)).astype(np.float32)
    labels = rng.choice(["BENIGN", "DDoS"], size=400).tolist()
    out, info = drop_duplicates(_table(X, labels))
    keep = _oracle(X, labels)
    np.testing.assert_array_equal(out.meta["source_line"], np.array(keep) + 2)
    assert info["removed"] == 400 - len(keep)
    # 9 distinct feature rows; those seen with both labels conflict
    pairs = {(tuple(r), lab) for r, lab in zip(X.tolist(), labels, strict=True)}
    feats = [f for f, _ in pairs]
    conflicting = {f for f in feats if feats.count(f) > 1}
    assert info["conflicting_groups"] == len(conflicting)
    assert info["conflicting_rows"] == sum(1 for f, _ in pairs if f in conflicting)


def test_negative_zero_equals_zero_and_conflicts_are_kept():
    X = [[0.0, 1.0], [-0.0, 1.0], [0.0, 1.0], [5.0, 5.0]]
    out, info = drop_duplicates(_table(X, ["BENIGN", "BENIGN", "DDoS", "DDoS"]))
    assert out.labels.tolist() == ["BENIGN", "DDoS", "DDoS"]
    assert info == {"removed": 1, "removed_per_label": {"BENIGN": 1}, "conflicting_groups": 1, "conflicting_rows": 2}


@pytest.mark.shared
def test_case09_exactly_the_nine_constant_columns():
    t = load_flows(shared_path("cases/09-constant-zero-columns/constant_cols.csv"))
    assert constant_columns(t.X, t.feature_names) == [
        "Bwd PSH Flags", "Bwd URG Flags", "Fwd Avg Bytes/Bulk", "Fwd Avg Packets/Bulk", "Fwd Avg Bulk Rate",
        "Bwd Avg Bytes/Bulk", "Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate", "min_seg_size_forward",
    ]  # fmt: skip
