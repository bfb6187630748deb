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
