"""Per-source window features: brute-force oracle, no look-ahead, identifiers never features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.features.temporal import (
    TemporalFeatures,
    failed_handshake,
    temporal_inputs,
    timestamps_to_seconds,
    window_stats,
)


def _flows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Integer seconds on a small range, so many flows share a timestamp (as with minute-resolution CIC files).
    t = rng.integers(0, 40, n).astype(np.float64)
    src = rng.choice(np.array(["10.0.0.1", "10.0.0.2", "172.16.0.1"]), n)
    ports = rng.choice(np.array([22, 80, 443, 8080, 21]), n)
    failed = rng.random(n) < 0.3
    return t, src, ports, failed


def _oracle(t, src, ports, failed, window):
    """Brute force: for each flow, scan every other flow and keep the causal, same-source ones."""
    n = len(t)
    out = {"flows": np.zeros(n), "distinct_dst_ports": np.zeros(n), "failed_share": np.zeros(n), "rate": np.zeros(n)}
    for i in range(n):
        js = [j for j in range(n) if src[j] == src[i] and t[i] - window < t[j] and (t[j], j) <= (t[i], i)]
        out["flows"][i] = len(js)
        out["distinct_dst_ports"][i] = len({ports[j] for j in js})
        out["failed_share"][i] = sum(bool(failed[j]) for j in js) / len(js)
        out["rate"][i] = len(js) / max(t[i] - min(t[j] for j in js), 1.0)
    return out


@pytest.mark.parametrize("window", [1.0, 5.0, 12.5, 100.0], ids=["w1", "w5", "w12.5", "w100"])
def test_window_stats_match_brute_force(window: float) -> None:
    # Arrange
    t, src, ports, failed = _flows(150, seed=3)
    # Act
    got = window_stats(t, src, ports, failed, window=window)
    want = _oracle(t, src, ports, failed, window)
    # Assert
    for key, values in want.items():
        np.testing.assert_allclose(got[key], values, err_msg=key)


def test_hand_computed_example() -> None:
    # Two sources; b's flows never count for a; the flow at t=10 sees only t in (0, 10] with window 10.
    t = np.array([0.0, 5.0, 10.0, 10.0, 3.0])
    src = np.array(["a", "a", "a", "a", "b"])
    ports = np.array([80, 81, 82, 82, 80])
    failed = np.array([True, False, False, True, True])
    s = window_stats(t, src, ports, failed, window=10.0)
    assert s["flows"].tolist() == [1, 2, 2, 3, 1]
    assert s["distinct_dst_ports"].tolist() == [1, 2, 2, 2, 1]
    np.testing.assert_allclose(s["failed_share"], [1.0, 0.5, 0.0, 1 / 3, 1.0])
    # burst rate: flows / max(span since the window's first flow, 1 s)
    np.testing.assert_allclose(s["rate"], [1.0, 2 / 5, 2 / 5, 3 / 5, 1.0])


def test_appending_future_flows_never_changes_past_values() -> None:
    # Arrange: past flows, then later flows, including ones that share the last past timestamp.
    t, src, ports, failed = _flows(120, seed=5)
    feats = TemporalFeatures(windows=(3.0, 20.0))
    past = feats.compute(t, src, ports, failed)
    t2, src2, ports2, failed2 = _flows(80, seed=6)
    t2 = t2 + t.max()  # every new flow is at or after the latest past flow (ties included)
    # Act
    full = feats.compute(np.r_[t, t2], np.r_[src, src2], np.r_[ports, ports2], np.r_[failed, failed2])
    # Assert
    np.testing.assert_array_equal(full[: len(t)], past)
    assert not np.array_equal(full[len(t):], feats.compute(t2, src2, ports2, failed2))  # the new rows did use history


def test_values_do_not_depend_on_row_order_of_past_flows_with_distinct_times() -> None:
    t = np.arange(30, dtype=np.float64)
    rng = np.random.default_rng(0)
    src = rng.choice(np.array(["x", "y"]), 30)
    ports = rng.integers(0, 4, 30)
    failed = rng.random(30) < 0.5
    perm = rng.permutation(30)
    a = TemporalFeatures(windows=(7.0,)).compute(t, src, ports, failed)
    b = TemporalFeatures(windows=(7.0,)).compute(t[perm], src[perm], ports[perm], failed[perm])
    np.testing.assert_array_equal(a[perm], b)


def test_identifiers_never_become_features() -> None:
    feats = TemporalFeatures(windows=(60.0, 300.0))
    names = feats.names()
    assert len(names) == 8 and len(set(names)) == 8
    for bad in ("ip", "port", "timestamp", "flow id"):
        assert all(bad not in n.lower() or n.startswith("src_distinct_dst_ports") for n in names)
    t, src, ports, failed = _flows(50, seed=1)
    X = feats.compute(t, src, ports, failed)
    assert X.shape == (50, 8) and X.dtype == np.float32 and np.isfinite(X).all()
    # Renaming every source address (a bijection) leaves the features unchanged: the address itself is not encoded.
    renamed = np.array([f"host-{s[::-1]}" for s in src])
    np.testing.assert_array_equal(feats.compute(t, renamed, ports, failed), X)


def test_roundtrip_json() -> None:
    feats = TemporalFeatures(windows=(10.0, 120.0))
    back = TemporalFeatures.from_dict(json.loads(json.dumps(feats.to_dict())))
    assert back == feats and back.names() == feats.names()
    with pytest.raises(ArtifactError, match="kind"):
        TemporalFeatures.from_dict({"kind": "other", "version": 1, "windows": [1]})


def test_validation_errors() -> None:
    with pytest.raises(ConfigError, match="positive"):
        TemporalFeatures(windows=(0.0,))
    with pytest.raises(ConfigError, match="positive"):
        window_stats(np.zeros(2), np.array(["a", "a"]), np.zeros(2), np.zeros(2, bool), window=-1)
    with pytest.raises(DataError, match="shape"):
        window_stats(np.zeros(3), np.array(["a", "a"]), np.zeros(3), np.zeros(3, bool), window=1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["7/7/2017 3:56", "7/7/2017 3:57"], [0.0, 60.0]),
        (["2017-07-07 18:08:57.763666", "2017-07-07 18:08:58.763666"], [0.0, 1.0]),
    ],
    ids=["trafficlabelling-minutes", "improved-microseconds"],
)
def test_timestamp_strings(raw: list[str], expected: list[float]) -> None:
    s = timestamps_to_seconds(np.array(raw, dtype=object))
    np.testing.assert_allclose(s - s[0], expected)


def test_timestamps_unparseable() -> None:
    with pytest.raises(DataError, match="cannot parse"):
        timestamps_to_seconds(np.array(["not a time", "x"], dtype=object))


def test_failed_handshake_rule() -> None:
    got = failed_handshake(syn=np.array([1, 1, 0, 0]), rst=np.array([0, 0, 2, 0]), bwd_packets=np.array([0, 5, 5, 0]))
    assert got.tolist() == [True, False, True, False]


def test_temporal_inputs_reads_flags_through_a_monotone_transform() -> None:
    # Arrange: a standardising transform (monotone increasing), applied to raw counts.
    names = ("Destination Port", "SYN Flag Count", "RST Flag Count", "Total Backward Packets", "Flow Duration")
    raw = np.array([[80, 1, 0, 0, 5], [443, 1, 0, 3, 7], [80, 0, 1, 2, 1], [22, 0, 0, 0, 9]], dtype=np.float64)
    mu, sd = raw.mean(0), raw.std(0)

    def transform(a: np.ndarray) -> np.ndarray:
        return ((np.log1p(a) - np.log1p(mu)) / sd).astype(np.float32)

    meta = {"timestamp": np.array([0.0, 1.0, 2.0, 3.0]), "src_ip": np.array(["a", "a", "b", "a"])}
    # Act
    t, src, ports, failed = temporal_inputs(transform(raw), meta, feature_names=names, zero_point=transform(np.zeros((1, 5)))[0])
    # Assert
    assert failed.tolist() == failed_handshake(syn=raw[:, 1], rst=raw[:, 2], bwd_packets=raw[:, 3]).tolist()
    assert len(np.unique(ports)) == 3
    with pytest.raises(DataError, match="timestamps and source addresses"):
        temporal_inputs(raw, {"day": np.zeros(4)}, feature_names=names, zero_point=np.zeros(5))


def _improved_sample(cache):
    from privids.config import DataConfig
    from privids.data.loaders import load_flows
    from privids.features.pipeline import prepare_data

    path = shared_path("data", "cicids2017_improved_engelen")
    data = prepare_data(path, DataConfig(cache_dir=str(cache)))
    return data, load_flows(path, mode="train"), path


@pytest.mark.shared
def test_training_and_scoring_paths_agree_on_real_flows(tmp_path) -> None:
    # Arrange: the prepared splits (scaled X, flags recovered through the transform) and the raw
    # table of the same files (flags read directly) as the independent oracle.
    from privids.features.temporal import temporal_from_table, with_temporal

    data, table, _ = _improved_sample(tmp_path)
    recipe = TemporalFeatures(windows=(60.0, 600.0))
    aug = with_temporal(data, recipe)
    # Rows kept by prepare_data, in split order, located in the raw table by (file, line).
    where = {(f, int(n)): i for i, (f, n) in enumerate(zip(table.meta["source_file"], table.meta["source_line"], strict=True))}
    rows = np.array([where[(f, int(n))] for s in (data.train, data.val, data.test)
                     for f, n in zip(s.meta["source_file"], s.meta["source_line"], strict=True)])
    # Act: the scoring path on exactly those raw rows.
    want = temporal_from_table(table.take(rows), recipe)
    got = np.vstack([aug.train.X, aug.val.X, aug.test.X])[:, len(data.feature_names):]
    # Assert
    np.testing.assert_array_equal(got, want)
    assert aug.feature_names[len(data.feature_names):] == recipe.names()
    assert got[:, 3].max() > 0  # some failed handshakes were found (PortScan)
    for ident in ("Source IP", "Src IP", "Timestamp", "Flow ID", "Source Port", "Src Port", "Destination IP", "Dst IP"):
        assert ident not in aug.feature_names


@pytest.mark.shared
def test_schemas_without_timestamps_are_refused_with_a_fix(tmp_path) -> None:
    from privids.config import DataConfig
    from privids.features.pipeline import prepare_data
    from privids.features.temporal import with_temporal

    path = shared_path("data", "cse_cic_ids2018", "multiclass_1000_mahdieslaminet.csv")
    data = prepare_data(path, DataConfig(cache_dir=str(tmp_path)))
    with pytest.raises(DataError, match="TrafficLabelling or improved"):
        with_temporal(data)
