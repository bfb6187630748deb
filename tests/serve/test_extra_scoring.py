"""Models trained with the anomaly score / temporal features: save -> load -> score equals the in-memory model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from conftest import shared_path
from privids.artifacts import evaluate_artifact, load_artifact, train_to_artifact
from privids.config import DataConfig, TrainConfig
from privids.data import load_flows
from privids.exceptions import DataError
from privids.features import ANOMALY_FEATURE, table_rows
from privids.serve import Scorer, score_table
from privids.serve.app import create_app

torch.set_num_threads(1)
pytestmark = pytest.mark.shared

IMPROVED = ("data", "cicids2017_improved_engelen")
TRAFFIC = ("data", "cicids2017", "trafficlabelling_reserialized")
MLCVE = ("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
_IDENTIFIERS = ("Source IP", "Src IP", "Timestamp", "Flow ID", "Source Port", "Src Port", "Destination IP", "Dst IP")


def _train(parts: tuple[str, ...], out: Path, cache: Path, **cfg: object):
    settings = {"epochs": 2, "hidden": (16, 16), "batch_size": 256, "gbt_estimators": 20, "gbt_leaves": 7,
                "temporal_windows": (60.0, 600.0), **cfg}  # fmt: skip
    return train_to_artifact(shared_path(*parts), out, train_cfg=TrainConfig(**settings),
                             data_cfg=DataConfig(cache_dir=str(cache)))  # fmt: skip


@pytest.fixture(scope="module")
def improved_mlp(tmp_path_factory: pytest.TempPathFactory):
    """Binary MLP with both extra inputs on the improved CIC-IDS2017 sample (benign + 14 attack labels)."""
    tmp = tmp_path_factory.mktemp("extra-mlp")
    return _train(IMPROVED, tmp / "art", tmp / "cache", anomaly_feature=True, temporal=True)


def _in_memory(run, table, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """The trained in-memory detector's scores on every split row, and where each row sits in ``table``."""
    from privids.features import fit_extra_inputs, prepare_data
    from privids.features.temporal import TemporalFeatures

    meta = json.loads((run.artifact_dir / "metadata.json").read_text())
    cfg = DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["data"]["config"].items()})
    # The training-side preparation, run again here (train-mode table, fitted on train only).
    train_table = load_flows(source, mode="train", nonfinite="impute")
    data = prepare_data(train_table, cfg)
    tcfg = meta["training"]["config"]
    recipe = TemporalFeatures(windows=tuple(tcfg["temporal_windows"])) if tcfg["temporal"] else None
    aug, _ = fit_extra_inputs(data, train_table, anomaly=tcfg["anomaly_feature"], temporal=recipe,
                              n_clusters=tcfg["anomaly_clusters"], rng=tcfg["seed"])  # fmt: skip
    splits = (aug.train, aug.val, aug.test)
    rows = np.concatenate([table_rows(table, s) for s in splits])
    X = np.vstack([s.X for s in splits])
    return run.detector.predict_scores(X), rows


def test_saved_model_scores_a_file_exactly_like_the_in_memory_model(improved_mlp) -> None:
    # Arrange
    art = load_artifact(improved_mlp.artifact_dir)
    table = load_flows(shared_path(*IMPROVED), mode="score")
    # Act
    result = score_table(art, table)
    want, rows = _in_memory(improved_mlp, table, shared_path(*IMPROVED))
    # Assert
    assert (result.status == "scored").all()
    np.testing.assert_array_equal(result.probability[rows], want)
    names = art.feature_names
    assert names[-9] == ANOMALY_FEATURE and names[-8:] == tuple(art.metadata["temporal"]["names"])
    assert not set(_IDENTIFIERS) & set(names)
    assert art.metadata["anomaly"]["kind"] == "benign_kmeans_distance"
    assert sorted(p.name for p in improved_mlp.artifact_dir.iterdir()) == [
        "data_report.json", "metadata.json", "metrics.json", "model.safetensors"]


def test_evaluate_on_the_training_data_reproduces_the_test_metrics(improved_mlp) -> None:
    got = evaluate_artifact(improved_mlp.artifact_dir, shared_path(*IMPROVED))
    assert got["mode"].startswith("test split")
    assert got["binary"] == improved_mlp.metrics["test"]["binary"]


def test_json_api_rebuilds_the_extra_inputs_from_the_request(improved_mlp) -> None:
    # Arrange: 40 flows of the file as JSON objects with their Timestamp and Source IP as text.
    art = load_artifact(improved_mlp.artifact_dir)
    scorer = Scorer.from_artifact(art)
    table = load_flows(shared_path(*IMPROVED), mode="score").take(np.arange(3000, 3040))
    raw = table.matrix(scorer.feature_names)
    stamps = [str(v).replace("T", " ") for v in table.meta["timestamp"]]
    flows = [{**{n: float(v) for n, v in zip(scorer.feature_names, row, strict=True)},
              "Timestamp": ts, "Source IP": str(ip)}
             for row, ts, ip in zip(raw.tolist(), stamps, table.meta["src_ip"], strict=True)]  # fmt: skip
    client = TestClient(create_app(art))
    # Act
    resp = client.post("/score", json=flows)
    flows[5]["Timestamp"] = None
    one_missing = client.post("/score", json=flows).json()["results"]
    no_ids = client.post("/score", json=[{k: v for k, v in f.items() if k not in ("Timestamp", "Source IP")}
                                         for f in flows[:3]])  # fmt: skip
    # Assert: the request is its own history, exactly like scoring the same 40 rows as a file.
    want = score_table(art, table).probability
    got = np.array([r["probability"] for r in resp.json()["results"]])
    assert resp.status_code == 200
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert one_missing[5]["status"] == "unscorable" and "timestamp" in one_missing[5]["reason"]
    assert sum(r["status"] == "scored" for r in one_missing) == 39
    assert no_ids.status_code == 422 and "Timestamp and Source IP" in no_ids.json()["detail"]["error"]


def test_scoring_a_file_without_timestamps_names_the_missing_columns(improved_mlp) -> None:
    art = load_artifact(improved_mlp.artifact_dir)
    with pytest.raises(DataError, match="src_ip"):
        score_table(art, load_flows(shared_path(*MLCVE), mode="score"))


def test_traffic_labelling_flows_are_scored_from_their_own_timestamps_and_sources(tmp_path) -> None:
    # Arrange: the TrafficLabelling sample has no benign flows to train on, so a temporal model
    # trained on the improved sample scores its four files (one history, 12-hour clock fixed).
    run = _train(IMPROVED, tmp_path / "art", tmp_path / "cache", model="gbt", temporal=True)
    art = load_artifact(run.artifact_dir)
    table = load_flows(shared_path(*TRAFFIC), mode="score")
    # Act
    result = score_table(art, table)
    # Assert: oracle = the training-side functions on the train-mode table of the same files.
    from privids.features import temporal_from_table
    from privids.features.temporal import TemporalFeatures

    train_table = load_flows(shared_path(*TRAFFIC), mode="train", nonfinite="impute")
    flow = art.flow_feature_names
    X = art.transform.transform(train_table.matrix(flow))
    T = temporal_from_table(train_table, TemporalFeatures(windows=(60.0, 600.0)))
    want = run.detector.predict_scores(np.hstack([X, T]))
    np.testing.assert_array_equal(result.probability, want)
    assert "anomaly" not in art.metadata and art.metadata["temporal"]["windows"] == [60.0, 600.0]
    assert (T[:, 0] > 0).all() and len(set(table.meta["src_ip"])) == 1  # one NAT address: per-capture counts
    assert not set(_IDENTIFIERS) & set(art.feature_names)


def test_anomaly_needs_benign_training_flows(tmp_path) -> None:
    with pytest.raises(DataError, match="0 benign rows"):
        _train(TRAFFIC, tmp_path / "art", tmp_path / "cache", model="gbt", anomaly_feature=True)


def test_model_without_extras_scores_as_before(tmp_path) -> None:
    # Arrange
    run = _train(MLCVE, tmp_path / "art", tmp_path / "cache", model="gbt")
    art = load_artifact(run.artifact_dir)
    table = load_flows(shared_path(*MLCVE), mode="score")
    # Act
    scorer = Scorer.from_artifact(art)
    result = score_table(art, table, scorer=scorer)
    # Assert: the raw columns are the stored features and the scores the plain model's.
    assert scorer.extras is None and scorer.feature_names == art.feature_names
    assert "anomaly" not in art.metadata and "temporal" not in art.metadata
    plain = art.transform.transform(table.matrix(art.feature_names))
    want = art.predict_scores(plain)
    np.testing.assert_array_equal(result.probability, want)
    np.testing.assert_array_equal(art.model_inputs(table), plain)
    assert art.input_columns == art.flow_feature_names == art.feature_names
    assert math.isclose(art.threshold, run.detector.threshold)


def test_evaluate_on_other_data_computes_the_windows_from_those_files(improved_mlp) -> None:
    # Arrange: the TrafficLabelling folder was never seen; every flow is an attack.
    art = load_artifact(improved_mlp.artifact_dir)
    # Act
    got = evaluate_artifact(improved_mlp.artifact_dir, shared_path(*TRAFFIC))
    # Assert: the recall equals the share of attack verdicts of the scorer on the same files.
    verdicts = score_table(art, load_flows(shared_path(*TRAFFIC), mode="score")).verdict
    assert got["mode"].startswith("all rows") and got["rows_evaluated"] == len(verdicts)
    assert got["binary"]["recall"] == pytest.approx(float(np.mean(verdicts == "attack")), abs=1e-12)
