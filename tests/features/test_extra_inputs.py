"""Extra model inputs: fitted on the training split only, temporal over the whole table, JSON state."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import make_synthetic

from privids.data.dataset import PreparedData, SplitView
from privids.data.table import FlowTable
from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.features.anomaly import ANOMALY_FEATURE, fit_benign_distance
from privids.features.extra_inputs import (
    ExtraInputs,
    apply_extra_inputs,
    fit_extra_inputs,
    flow_seconds,
    table_rows,
)
from privids.features.temporal import TEMPORAL_RAW_COLUMNS, TemporalFeatures

_FLAGS = TEMPORAL_RAW_COLUMNS  # Destination Port, SYN, RST, Total Backward Packets
_NAMES = ("Flow Duration", *_FLAGS)


def _table(n: int = 60, seed: int = 0) -> FlowTable:
    """Raw flows of three sources over 5 minutes, many sharing a timestamp, with some failed handshakes."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64("2017-07-07T15:00:00", "s")
    ts = t0 + np.sort(rng.integers(0, 300, n)).astype("timedelta64[s]")
    X = np.column_stack([
        rng.exponential(100.0, n),                      # Flow Duration
        rng.choice([22.0, 80.0, 443.0, 8080.0], n),     # Destination Port
        (rng.random(n) < 0.4).astype(float),            # SYN Flag Count
        (rng.random(n) < 0.2).astype(float),            # RST Flag Count
        rng.integers(0, 3, n).astype(float),            # Total Backward Packets
    ]).astype(np.float32)  # fmt: skip
    meta = {
        "timestamp": ts,
        "src_ip": rng.choice(np.array(["10.0.0.1", "10.0.0.2", "172.16.0.1"], dtype=object), n),
        "source_file": np.array(["a.csv"] * n, dtype=object),
        "source_line": np.arange(2, n + 2),
    }
    labels = np.where(rng.random(n) < 0.3, "PortScan", "BENIGN").astype(object)
    return FlowTable(X=X, feature_names=_NAMES, labels=labels, meta=meta)


def _prepared(table: FlowTable, keep: np.ndarray) -> PreparedData:
    """Splits over the kept rows only (as after dedup), X = the raw duration (identity 'transform')."""
    from conftest import IdentityTransform

    rows = np.flatnonzero(keep)
    parts = np.array_split(rows, 3)

    def view(r: np.ndarray) -> SplitView:
        y = (table.labels[r] != "BENIGN").astype(np.int64)
        return SplitView(X=table.X[r][:, :1].copy(), y=y, labels=table.labels[r], families=table.labels[r],
                         meta={k: v[r] for k, v in table.meta.items()})

    return PreparedData(train=view(parts[0]), val=view(parts[1]), test=view(parts[2]), feature_names=("Flow Duration",),
                        transform=IdentityTransform(("Flow Duration",)), family_names=("BENIGN", "PortScan"),
                        fingerprint="t")  # fmt: skip


def _oracle(table: FlowTable, window: float) -> np.ndarray:
    """Brute force over every flow of the table: same source, within the window, not later in (time, row) order."""
    t = table.meta["timestamp"].astype(np.int64).astype(float)
    src, X = table.meta["src_ip"], table.X.astype(float)
    failed = (X[:, 3] > 0) | ((X[:, 2] > 0) & (X[:, 4] <= 0))
    out = []
    for i in range(len(t)):
        js = [j for j in range(len(t)) if src[j] == src[i] and t[i] - window < t[j] and (t[j], j) <= (t[i], i)]
        span = max(t[i] - min(t[j] for j in js), 1.0)
        out.append([np.log1p(len(js)), np.log1p(len(js) / span), np.log1p(len({X[j, 1] for j in js})),
                    sum(failed[j] for j in js) / len(js)])  # fmt: skip
    return np.array(out, dtype=np.float32)


def test_temporal_history_is_the_whole_table_not_only_kept_rows() -> None:
    # Arrange: a third of the rows is dropped from the splits (duplicates, non-finite rows ...),
    # but a scorer given the same file sees them, so training must count them too.
    table = _table()
    keep = np.arange(len(table)) % 3 != 0
    data = _prepared(table, keep)
    recipe = TemporalFeatures(windows=(30.0,))
    # Act
    aug, extras = fit_extra_inputs(data, table, temporal=recipe)
    # Assert
    want = _oracle(table, 30.0)
    for split in (aug.train, aug.val, aug.test):
        rows = table_rows(table, split)
        np.testing.assert_allclose(split.X[:, 1:], want[rows], rtol=1e-6)
        np.testing.assert_array_equal(split.X[:, 0], table.X[rows, 0])
    assert aug.feature_names == ("Flow Duration", *recipe.names())
    assert extras.anomaly is None and extras.temporal == recipe
    assert not {"timestamp", "src_ip", "Source IP", "Timestamp"} & set(aug.feature_names)


def test_scoring_path_with_text_timestamps_equals_the_training_path() -> None:
    # Arrange: the API receives timestamps as text and raw columns as float64.
    table = _table(seed=1)
    extras = ExtraInputs(temporal=TemporalFeatures(windows=(30.0, 120.0)))
    text = np.array([str(v).replace("T", " ") for v in table.meta["timestamp"]], dtype=object)
    # Act
    got = extras.temporal_matrix(table.X.astype(np.float64), _NAMES, timestamps=flow_seconds(text),
                                 sources=table.meta["src_ip"])  # fmt: skip
    # Assert
    np.testing.assert_array_equal(got, extras.table_temporal(table))


def test_flow_seconds_reads_text_like_the_loader() -> None:
    # The TrafficLabelling 12-hour clock: "3:56" on 7/7/2017 is 15:56; ISO text and datetimes agree.
    got = flow_seconds(np.array(["7/7/2017 3:56", "2017-07-07 15:56:00", None, ""], dtype=object))
    want = np.datetime64("2017-07-07T15:56:00", "s").astype(np.int64)
    assert got[:2].tolist() == [want, want]
    assert np.isnan(got[2:]).all()
    assert flow_seconds(np.array([np.datetime64("2017-07-07T15:56:00", "s")]))[0] == want


def test_anomaly_is_fitted_on_benign_training_rows_only() -> None:
    # Arrange
    data = make_synthetic(n=400, seed=3)
    # Act
    aug, extras = fit_extra_inputs(data, anomaly=True, n_clusters=3, rng=5)
    # Changing every validation/test row and every training attack row must not move the fitted state.
    noisy = dataclasses.replace(
        data,
        val=dataclasses.replace(data.val, X=data.val.X + 100.0),
        test=dataclasses.replace(data.test, X=data.test.X * -3.0),
        train=dataclasses.replace(data.train, X=np.where(data.train.y[:, None] == 1, 50.0, data.train.X).astype(np.float32)),
    )  # fmt: skip
    _, again = fit_extra_inputs(noisy, anomaly=True, n_clusters=3, rng=5)
    # Assert
    oracle = fit_benign_distance(data.train.X, data.train.y, n_clusters=3, feature_names=data.feature_names, rng=5)
    assert json.dumps(extras.anomaly.to_dict()) == json.dumps(oracle.to_dict()) == json.dumps(again.anomaly.to_dict())
    assert aug.feature_names == (*data.feature_names, ANOMALY_FEATURE)
    np.testing.assert_array_equal(aug.test.X[:, -1], oracle.transform(data.test.X))


def test_anomaly_score_of_a_row_does_not_depend_on_its_batch() -> None:
    # A one-flow API request must score like the same flow inside a large file.
    data = make_synthetic(n=400, seed=4)
    score = fit_benign_distance(data.train.X, data.train.y, n_clusters=4, rng=0)
    X = np.vstack([data.test.X] * 40)
    whole = score.transform(X)
    one_by_one = np.array([score.transform(X[i : i + 1])[0] for i in range(0, len(X), 97)])
    np.testing.assert_array_equal(whole[::97], one_by_one)
    brute = np.log1p(np.sqrt(((X[:, None, :] - score.centres_[None]) ** 2).sum(-1)).min(1) / score.scale_)
    np.testing.assert_allclose(whole, brute, rtol=1e-6)


def test_metadata_round_trip_is_strict_json_and_rebuilds_the_same_columns() -> None:
    # Arrange
    table = _table(seed=2)
    data = _prepared(table, np.ones(len(table), dtype=bool))
    aug, extras = fit_extra_inputs(data, table, anomaly=True, temporal=TemporalFeatures(windows=(60.0,)), rng=0)
    # Act
    meta = json.loads(json.dumps(extras.to_metadata(), allow_nan=False))
    rebuilt = ExtraInputs.from_metadata(meta)
    again = apply_extra_inputs(data, table, rebuilt)
    # Assert
    assert sorted(meta) == ["anomaly", "temporal"]
    for a, b in ((aug.train, again.train), (aug.val, again.val), (aug.test, again.test)):
        np.testing.assert_array_equal(a.X, b.X)
    assert rebuilt.names() == (ANOMALY_FEATURE, *TemporalFeatures(windows=(60.0,)).names())
    assert ExtraInputs.from_metadata({"anomaly": None}).empty
    with pytest.raises(ArtifactError, match="kind"):
        ExtraInputs.from_metadata({"temporal": {"kind": "other"}})


def test_missing_identifiers_name_the_columns_and_no_table_is_refused() -> None:
    table = _table()
    data = _prepared(table, np.ones(len(table), dtype=bool))
    no_ip = dataclasses.replace(table, meta={k: v for k, v in table.meta.items() if k != "src_ip"})
    no_time = dataclasses.replace(table, meta={**table.meta, "timestamp": np.full(len(table), np.datetime64("NaT"), "datetime64[s]")})
    with pytest.raises(DataError, match=r"Source IP"):
        fit_extra_inputs(data, no_ip, temporal=TemporalFeatures())
    with pytest.raises(DataError, match=r"Timestamp"):
        fit_extra_inputs(data, no_time, temporal=TemporalFeatures())
    with pytest.raises(ConfigError, match="table=None"):
        fit_extra_inputs(data, None, temporal=TemporalFeatures())


def test_split_rows_from_other_data_are_refused() -> None:
    table = _table()
    other = dataclasses.replace(table, meta={**table.meta, "source_file": np.array(["b.csv"] * len(table), dtype=object)})
    data = _prepared(other, np.ones(len(table), dtype=bool))
    with pytest.raises(DataError, match="not in the flow table"):
        table_rows(table, data.train)


def test_append_checks_the_temporal_block() -> None:
    extras = ExtraInputs(temporal=TemporalFeatures(windows=(60.0,)))
    with pytest.raises(DataError, match="4 temporal columns"):
        extras.append(np.zeros((3, 2)), temporal=np.zeros((3, 2)))
    assert ExtraInputs().append(np.ones((2, 2))).shape == (2, 2)
    assert extras.raw_columns(("Flow Duration", "RST Flag Count")) == (
        "Flow Duration", "RST Flag Count", "Destination Port", "SYN Flag Count", "Total Backward Packets")
