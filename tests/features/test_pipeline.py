"""Tests for privids.features.pipeline.prepare_data on the real samples and the cases."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from conftest import shared_path
from privids.config import DataConfig
from privids.data import CANONICAL_FEATURES, load_flows
from privids.features import FlowTransform, prepare_data

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def mlcve(tmp_path_factory):
    cfg = DataConfig(cache_dir=str(tmp_path_factory.mktemp("cache")))
    return prepare_data(shared_path("data/cicids2017/machinelearningcve"), cfg)


def test_real_samples_prepare_into_finite_splits(mlcve):
    d = mlcve
    r = d.report
    assert r["totals"]["rows"] == 17765 and r["totals"]["dropped"] == {"non-finite feature (Infinity/NaN/empty)": 15}
    assert r["duplicates"]["removed"] == 202
    n = len(d.train) + len(d.val) + len(d.test)
    assert n == 17765 - 202 == r["rows"]["after_cleaning"]
    assert r["split"]["sizes"] == {"train": len(d.train), "val": len(d.val), "test": len(d.test)}
    assert abs(len(d.train) / n - 0.70) < 0.01 and abs(len(d.test) / n - 0.15) < 0.01
    for s in (d.train, d.val, d.test):
        assert s.X.dtype == np.float32 and np.isfinite(s.X).all() and s.X.shape[1] == len(d.feature_names)
        assert s.y.dtype == np.int64 and np.array_equal(s.y, (s.labels != "BENIGN").astype(np.int64))
        assert set(s.meta) >= {"day", "source_file", "source_line", "timestamp"}
    assert d.family_names == ("BENIGN", "DDoS", "PortScan", "Web Attack")
    assert set(Counter(d.test.labels)) == set(Counter(d.train.labels))
    assert "Destination Port" in d.feature_names
    assert not set(r["features"]["constant"]) & set(d.feature_names)
    assert d.fingerprint == load_flows(shared_path("data/cicids2017/machinelearningcve")).fingerprint


def test_transform_is_fitted_on_train_only(mlcve):
    d = mlcve
    # Standardised training columns have mean 0 and std 1; validation does not.
    X = d.train.X.astype(np.float64)
    assert np.allclose(X.mean(axis=0), 0, atol=1e-4)
    # A column constant in train (but not overall) keeps scale 1 and maps to 0.
    expected_std = np.where(np.array(d.transform.scale) == 1.0, 0.0, 1.0)
    assert np.allclose(X.std(axis=0), expected_std, atol=1e-4)
    assert not np.allclose(d.val.X.astype(np.float64).mean(axis=0), 0, atol=1e-3)
    again = FlowTransform.from_dict(d.transform.to_dict())
    table = load_flows(shared_path("data/cicids2017/machinelearningcve"), mode="score")
    out = again.transform(table.matrix(d.feature_names))
    assert out.shape == (17780, len(d.feature_names)) and np.isfinite(out).all()


def test_port_can_be_left_out_and_impute_keeps_nonfinite_rows(tmp_path):
    path = shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv")
    d = prepare_data(path, DataConfig(use_destination_port=False, nonfinite="impute", cache_dir=str(tmp_path)))
    assert "Destination Port" not in d.feature_names
    assert len(d.train) + len(d.val) + len(d.test) == 10
    assert all(np.isfinite(s.X).all() for s in (d.train, d.val, d.test))


def test_case11_rare_classes_stay_in_train_and_are_reported(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="privids.features.pipeline"):
        d = prepare_data(shared_path("cases/11-rare-classes-split/rare_classes.csv"), DataConfig(cache_dir=str(tmp_path)))
    assert "Heartbleed" in caplog.text and "train-only" in caplog.text
    split = d.report["split"]
    assert split["rare"] == {"Heartbleed": 1, "Web Attack - Sql Injection": 1}
    assert {"BENIGN", "DDoS", "Infiltration"} <= set(d.test.labels)
    assert {"Heartbleed", "Web Attack - Sql Injection"} <= set(d.train.labels)
    assert d.family_names == ("BENIGN", "DDoS", "Heartbleed", "Infiltration", "Web Attack")


def test_time_split_trains_on_earlier_days(tmp_path):
    d = prepare_data(shared_path("data/cicids2017/machinelearningcve"), DataConfig(split="time", cache_dir=str(tmp_path)))
    assert d.report["split"]["kind"] == "time"
    assert set(d.test.meta["day"]) == {"friday"} and "thursday" in set(d.train.meta["day"])


def test_flowtable_source_and_case09_feature_list(tmp_path):
    t = load_flows(shared_path("cases/09-constant-zero-columns/constant_cols.csv"))
    d = prepare_data(t, DataConfig(dedup=False))
    assert len(d.feature_names) == len(CANONICAL_FEATURES) - 9
    assert d.report["features"]["constant"][-1] == "min_seg_size_forward"


def test_drop_at_load_or_at_prepare_gives_the_same_data(mlcve, tmp_path):
    """A table loaded with every row kept, prepared with the drop policy, equals the usual path."""
    table = load_flows(shared_path("data/cicids2017/machinelearningcve"), nonfinite="impute")
    again = prepare_data(table, DataConfig())
    assert again.report["nonfinite_removed"]["removed"] == 15
    assert again.transform.to_dict() == mlcve.transform.to_dict()
    for a, b in ((again.train, mlcve.train), (again.val, mlcve.val), (again.test, mlcve.test)):
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.meta["source_line"], b.meta["source_line"])
