"""Tests for privids.data.splits: per-class shares, the rare-class policy, time order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conftest import shared_path
from privids.data import load_flows
from privids.data.splits import stratified_split, time_split
from privids.exceptions import DataError


def test_split_is_a_partition_with_per_class_shares():
    labels = np.array(["BENIGN"] * 700 + ["DDoS"] * 200 + ["PortScan"] * 100, dtype=object)
    tr, va, te, _ = stratified_split(labels, rng=42)
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(1000))
    for lab, n in (("BENIGN", 700), ("DDoS", 200), ("PortScan", 100)):
        got = [int((labels[i] == lab).sum()) for i in (tr, va, te)]
        assert got == [n - 2 * round(0.15 * n), round(0.15 * n), round(0.15 * n)]


def test_same_seed_same_split_other_seed_other_split():
    labels = np.array(["a", "b"] * 50, dtype=object)
    assert all(np.array_equal(x, y) for x, y in zip(stratified_split(labels, rng=42)[:3], stratified_split(labels, rng=42)[:3]))
    assert not np.array_equal(stratified_split(labels, rng=42)[0], stratified_split(labels, rng=7)[0])


@pytest.mark.shared
def test_case11_rare_classes_follow_the_declared_policy():
    t = load_flows(shared_path("cases/11-rare-classes-split/rare_classes.csv"))
    assert dict(Counter(t.labels)) == {"BENIGN": 20, "DDoS": 6, "Infiltration": 2, "Heartbleed": 1,
                                       "Web Attack - Sql Injection": 1}  # fmt: skip
    tr, va, te, info = stratified_split(t.labels, (0.8, 0.0001, 0.1999), rng=42)
    assert info["rare"] == {"Heartbleed": 1, "Web Attack - Sql Injection": 1}
    for lab in ("BENIGN", "DDoS", "Infiltration"):
        assert lab in set(t.labels[tr]) and lab in set(t.labels[te])
    assert {"Heartbleed", "Web Attack - Sql Injection"} <= set(t.labels[tr])
    assert not {"Heartbleed", "Web Attack - Sql Injection"} & set(t.labels[te])
    with pytest.raises(DataError, match=r"\{'Heartbleed': 1, 'Web Attack - Sql Injection': 1\}.*rare_classes\.csv.*rare_policy"):
        stratified_split(t.labels, rng=42, rare_policy="error",
                         sources={"Heartbleed": ["rare_classes.csv"], "Web Attack - Sql Injection": ["rare_classes.csv"]})
    tr, va, te, _ = stratified_split(t.labels, rng=42, rare_policy="drop")
    assert len(tr) + len(va) + len(te) == 28


def test_time_split_puts_the_latest_flows_in_test():
    n = 20
    ts = np.array("2017-07-03T09:00:00", dtype="datetime64[s]") + np.arange(n)[::-1] * 3600
    meta = {"timestamp": ts, "day": np.full(n, "monday", dtype=object),
            "source_file": np.full(n, "f.csv", dtype=object), "source_line": np.arange(2, n + 2)}  # fmt: skip
    tr, va, te, info = time_split(meta)
    assert ts[tr].max() < ts[va].min() and ts[va].max() < ts[te].min()
    assert (len(tr), len(va), len(te)) == (14, 3, 3)


def test_time_split_without_timestamps_follows_weekdays():
    days = np.array(["friday", "monday", "wednesday", "tuesday", "thursday"] * 4, dtype=object)
    meta = {"timestamp": np.full(20, np.datetime64("NaT"), dtype="datetime64[s]"), "day": days,
            "source_file": np.full(20, "f.csv", dtype=object), "source_line": np.arange(2, 22)}  # fmt: skip
    tr, va, te, info = time_split(meta)
    assert set(days[te]) == {"friday"} and set(days[tr]) <= {"monday", "tuesday", "wednesday", "thursday"}


def test_absent_classes_do_not_change_the_split():
    labels = np.array(["BENIGN"] * 50 + ["DDoS"] * 30, dtype=object)
    codes = np.array([0] * 50 + [2] * 30)
    a = stratified_split(labels, rng=42)[:3]
    b = stratified_split(codes, rng=42, classes=np.array(["BENIGN", "Bot", "DDoS"], dtype=object))[:3]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
