"""``privids train --anomaly-feature/--temporal`` -> ``privids score`` / ``evaluate`` through the real Typer app."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import shared_path
from privids.artifacts import load_artifact
from privids.cli._app import build_app
from privids.data import load_flows
from privids.data.demo import generate_demo_flows
from privids.serve import score_table

torch.set_num_threads(1)
runner = CliRunner()
IMPROVED = ("data", "cicids2017_improved_engelen")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _invoke(*args: str):
    return runner.invoke(build_app(), list(args), catch_exceptions=False)


@pytest.fixture
def small_gbt(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text("[train]\nmodel = 'gbt'\ngbt_estimators = 20\ngbt_leaves = 7\n", encoding="utf-8")
    return cfg


@pytest.mark.shared
def test_train_with_both_extras_then_score_and_evaluate(tmp_path, small_gbt) -> None:
    # Arrange
    data = shared_path(*IMPROVED)
    out = tmp_path / "model"
    # Act
    trained = _invoke("train", "--data", str(data), "--out", str(out), "--config", str(small_gbt),
                      "--anomaly-feature", "--temporal", "--temporal-windows", "60,600", "--json")
    scored = _invoke("score", str(data), "--model", str(out), "--out", str(tmp_path / "alerts.jsonl"))
    evaluated = _invoke("evaluate", "--model", str(out), "--data", str(data), "--out", str(tmp_path / "m.json"), "--json")
    # Assert
    assert trained.exit_code == 0, trained.output
    metrics = json.loads(trained.output)
    assert metrics["extra_inputs"][0] == "anomaly_benign_distance" and "src_flows_600s" in metrics["extra_inputs"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["config"]["temporal_windows"] == [60.0, 600.0]
    assert meta["temporal"]["windows"] == [60.0, 600.0] and len(meta["anomaly"]["centres"]) == 8
    assert scored.exit_code == 0, scored.output
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    want = score_table(load_artifact(out), load_flows(data, mode="score")).probability
    np.testing.assert_array_equal(np.array([a["probability"] for a in alerts]), want)
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["binary"] == metrics["test"]["binary"]


def test_temporal_on_data_without_identifiers_names_the_columns(tmp_path, small_gbt) -> None:
    generate_demo_flows(600, rng=0, path=tmp_path / "flows.csv")
    result = _invoke("train", "--data", str(tmp_path / "flows.csv"), "--out", str(tmp_path / "x"),
                     "--config", str(small_gbt), "--temporal")
    assert result.exit_code == 2
    assert "Source IP" in result.output and "--temporal" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x" / "metadata.json").exists()


@pytest.mark.parametrize("windows", ["0", "60,x", ","], ids=["zero", "text", "empty"])
def test_bad_windows_are_a_config_error(tmp_path, windows) -> None:
    generate_demo_flows(300, rng=0, path=tmp_path / "flows.csv")
    result = _invoke("train", "--data", str(tmp_path / "flows.csv"), "--out", str(tmp_path / "x"),
                     "--temporal", "--temporal-windows", windows)
    assert result.exit_code == 3 and "--temporal-windows" in result.output


def test_anomaly_feature_from_the_config_file(tmp_path) -> None:
    generate_demo_flows(900, rng=0, path=tmp_path / "flows.csv")
    cfg = tmp_path / "study.toml"
    cfg.write_text("[train]\nmodel = 'gbt'\ngbt_estimators = 10\nanomaly_feature = true\nanomaly_clusters = 3\n")
    result = _invoke("train", "--data", str(tmp_path / "flows.csv"), "--out", str(tmp_path / "m"), "--config", str(cfg))
    assert result.exit_code == 0, result.output
    art = load_artifact(tmp_path / "m")
    assert art.feature_names[-1] == "anomaly_benign_distance" and len(art.metadata["anomaly"]["centres"]) == 3
    assert "temporal" not in art.metadata


@pytest.fixture
def demo_days(tmp_path):
    """Two disjoint demo draws: training flows and unseen flows (MachineLearningCVE header)."""
    train_dir, other_dir = tmp_path / "train", tmp_path / "other"
    generate_demo_flows(2500, rng=3, path=train_dir)
    generate_demo_flows(1200, rng=4, path=other_dir)
    return train_dir, other_dir


def test_explain_works_on_a_model_with_the_anomaly_feature(demo_days, tmp_path, small_gbt):
    """Regression: explain used the flow features only and refused the model's extra input column."""
    train_dir, other_dir = demo_days
    out = tmp_path / "m"
    assert _invoke("train", "--data", str(train_dir), "--out", str(out), "--config", str(small_gbt),
                   "--anomaly-feature").exit_code == 0
    for data in (train_dir, other_dir):
        res = _invoke("explain", "--model", str(out), "--data", str(data), "--top", "3", "--repeats", "1", "--json")
        assert res.exit_code == 0, res.output
        report = json.loads(res.output)
        names = json.dumps(report)
        assert "anomaly_benign_distance" in names


def test_update_fine_tunes_a_dp_model_with_the_anomaly_feature(demo_days, tmp_path):
    """Regression: update built inputs without the extra column, so the MLP saw the wrong width."""
    train_dir, other_dir = demo_days
    out = tmp_path / "dp"
    res = _invoke("train", "--data", str(train_dir), "--out", str(out), "--dp", "--target-epsilon", "2",
                  "--epochs", "1", "--batch-size", "128", "--anomaly-feature")
    assert res.exit_code == 0, res.output
    res = _invoke("update", "--model", str(out), "--data", str(other_dir), "--epsilon", "1", "--budget", "10", "--budget-delta", "1e-3", "--json")
    assert res.exit_code == 0, res.output
    new = load_artifact(tmp_path / "dp-v2")
    assert new.feature_names == load_artifact(out).feature_names
    assert not new.extra_inputs.empty
