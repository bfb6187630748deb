"""Tests for privids.data.demo: synthetic flows from committed per-class statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import shared_path
from privids.data.demo import (
    CLASS_DAYS,
    CLASS_MIX,
    DEMO_TAG,
    demo_class_counts,
    generate_demo_flows,
    load_demo_stats,
)
from privids.exceptions import ConfigError


@pytest.fixture(scope="module")
def flows():
    return generate_demo_flows(12_000, rng=7)


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    stripped = [c.strip() for c in frame.columns]
    return frame.iloc[:, stripped.index(name)].to_numpy(dtype=np.float64)


def test_header_is_the_raw_machinelearningcve_header(flows):
    # Arrange: the header line of a byte-exact original file is the oracle.
    real = shared_path("data", "cicids2017", "machinelearningcve", "friday_ddos_sample_pecord.csv")
    header = real.read_text(encoding="utf-8").splitlines()[0].split(",")
    # Assert
    assert list(flows.frame.columns) == header
    assert len(header) == 79 and [h.strip() for h in header].count("Fwd Header Length") == 2
    dup = [i for i, h in enumerate(header) if h.strip() == "Fwd Header Length"]
    assert np.array_equal(flows.frame.iloc[:, dup[0]], flows.frame.iloc[:, dup[1]])


def test_class_mix_and_days(flows):
    counts = flows.frame.iloc[:, -1].value_counts().to_dict()
    assert counts == demo_class_counts(12_000)
    assert set(counts) == set(CLASS_MIX)
    assert min(counts.values()) >= 10 and counts["BENIGN"] / len(flows) > 0.6
    labels = flows.labels
    for label, day in CLASS_DAYS.items():
        assert set(flows.day[labels == label]) == {day}, label
    assert set(flows.day[labels == "BENIGN"]) == {"monday", "tuesday", "wednesday", "thursday", "friday"}
    assert set(flows.day[flows.day == "monday"]) and set(labels[flows.day == "monday"]) == {"BENIGN"}


@pytest.mark.parametrize("label", ["BENIGN", "DDoS", "PortScan", "DoS Hulk", "FTP-Patator"], ids=str)
def test_per_class_medians_match_the_stats(flows, label):
    # Arrange
    st = load_demo_stats()
    entry = st["classes"][label]
    rows = flows.frame[flows.labels == label]
    # Act / Assert: the sample median of m >= 200 rows sits at a probability level within
    # 0.5 +- 0.1 (over 5 standard errors), so it lies between the 40 % and 60 % knots.
    for j, name in enumerate(st["features"]):
        q = entry["quantiles"][j]
        knots = np.asarray(q if isinstance(q, list) else [q] * 21, dtype=np.float64)
        col = _col(rows, name)
        med = np.median(col[np.isfinite(col)])
        unit = 1.0 if entry["integer"][j] else 1e-9
        assert knots[8] - unit <= med <= knots[12] + unit, (label, name, med, knots[8:13])


def test_medians_track_the_real_samples(flows):
    # Oracle independent of the JSON: medians of the real DDoS rows in a byte-exact file.
    real = pd.read_csv(shared_path("data", "cicids2017", "machinelearningcve", "friday_ddos_sample_pecord.csv"))
    real.columns = [c.strip() for c in real.columns]
    ddos_real = real[real["Label"] == "DDoS"]
    ddos_gen = flows.frame[flows.labels == "DDoS"]
    for name in ["Destination Port", "Total Fwd Packets", "Init_Win_bytes_forward", "Fwd Packet Length Max"]:
        r, g = np.median(ddos_real[name]), np.median(_col(ddos_gen, name))
        assert abs(r - g) <= 0.05 * abs(r) + 1.0, (name, r, g)


def test_rank_correlations_follow_the_real_benign_rows(flows):
    real = pd.read_csv(
        shared_path("data", "cicids2017", "machinelearningcve", "friday_ddos_head_rows1-5000_paris-svg.csv")
    )
    real.columns = [c.strip() for c in real.columns]
    gen = flows.frame[flows.labels == "BENIGN"]
    pairs = [("Total Fwd Packets", "Total Length of Fwd Packets"), ("Flow Duration", "Flow IAT Max")]
    for a, b in pairs:
        rho_real = sps.spearmanr(real[a], real[b]).statistic
        rho_gen = sps.spearmanr(_col(gen, a), _col(gen, b)).statistic
        assert rho_real > 0.5 and abs(rho_real - rho_gen) < 0.2, (a, b, rho_real, rho_gen)


def test_demo_is_learnable(flows):
    # Arrange: finite features, binary target.
    X = flows.frame.iloc[:, :-1].to_numpy(dtype=np.float64)
    X = np.sign(X) * np.log1p(np.abs(np.nan_to_num(X, posinf=1e9)))
    y = (flows.labels != "BENIGN").astype(int)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    # Act
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(Xtr, ytr)
    auc = roc_auc_score(yte, model.predict_proba(Xte)[:, 1])
    # Assert: separable, yet not trivially perfect for a linear model.
    assert auc > 0.9


def test_same_seed_same_flows_and_other_seed_differs():
    a = generate_demo_flows(400, rng=3)
    b = generate_demo_flows(400, rng=3)
    c = generate_demo_flows(400, rng=4)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert np.array_equal(a.day, b.day)
    assert not a.frame.equals(c.frame)


def test_written_files_are_marked_synthetic_and_keep_raw_bytes(tmp_path):
    flows = generate_demo_flows(600, rng=1, path=tmp_path / "demo")
    names = sorted(p.name for p in flows.paths)
    assert names == sorted(f"{d.capitalize()}-WorkingHours.{DEMO_TAG}.csv" for d in set(flows.day))
    assert all("SYNTHETIC" in n for n in names) and flows.synthetic
    total = 0
    for p in flows.paths:
        lines = p.read_text(encoding="utf-8").splitlines()
        assert lines[0].split(",") == list(flows.frame.columns)
        day = p.name.split("-")[0].lower()
        labels = {ln.rsplit(",", 1)[1] for ln in lines[1:]}
        assert labels <= {"BENIGN"} | {c for c, d in CLASS_DAYS.items() if d == day}
        total += len(lines) - 1
    assert total == 600
    single = generate_demo_flows(300, rng=1, path=tmp_path / "one.csv")
    assert single.paths == (tmp_path / "one.csv",)


def test_infinity_is_spelled_like_the_originals(tmp_path):
    flows = generate_demo_flows(20_000, rng=0, path=tmp_path / "x.csv")
    rates = _col(flows.frame, "Flow Bytes/s")
    n_inf = int(np.isinf(rates).sum())
    assert n_inf > 0
    text = (tmp_path / "x.csv").read_text(encoding="utf-8")
    assert text.count("Infinity") == 2 * n_inf and "inf," not in text


def test_too_small_n_is_refused_with_the_minimum():
    with pytest.raises(ConfigError, match=r"at least 150 .* got n=20"):
        generate_demo_flows(20, rng=0)


def test_loads_through_the_normal_loader(tmp_path):
    data = pytest.importorskip("privids.data")
    if not hasattr(data, "load_flows"):
        pytest.skip("privids.data.load_flows has not landed yet")
    flows = generate_demo_flows(1500, rng=2, path=tmp_path / "demo")
    table = data.load_flows(tmp_path / "demo", cache_dir=tmp_path / "cache")
    finite = np.isfinite(_col(flows.frame, "Flow Bytes/s"))
    # Rows with Infinity rates are dropped by the default policy; every other row arrives intact.
    expected = pd.Series(flows.labels[finite]).value_counts().to_dict()
    assert pd.Series(table.labels).value_counts().to_dict() == expected
    assert set(np.unique(table.meta["day"])) == set(flows.day)
