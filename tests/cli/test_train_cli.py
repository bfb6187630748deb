"""End-to-end tests of ``privids train`` and ``privids evaluate`` on generated CIC-IDS2017-layout CSVs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from privids.artifacts import load_artifact
from privids.cli._app import build_app
from privids.data.demo import generate_demo_flows

runner = CliRunner()


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    root = tmp_path_factory.mktemp("flows")
    generate_demo_flows(1500, rng=0, path=root / "train.csv")
    generate_demo_flows(600, rng=1, path=root / "other.csv")
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # The Parquet cache defaults to ~/.cache/privids; tests keep it in their own folder.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _invoke(*args: str):
    return runner.invoke(build_app(), list(args), catch_exceptions=False)


def test_train_then_evaluate_on_the_same_data_scores_the_same_test_split(flows, tmp_path):
    # Arrange / Act
    out = tmp_path / "gbt"
    trained = _invoke("train", "--model", "gbt", "--data", str(flows / "train.csv"), "--out", str(out))
    evaluated = _invoke("evaluate", "--model", str(out), "--data", str(flows / "train.csv"),
                        "--out", str(tmp_path / "eval.json"))
    # Assert
    assert trained.exit_code == 0, trained.output
    assert evaluated.exit_code == 0, evaluated.output
    assert "F1" in trained.output and "detection rate per attack label" in trained.output
    train_metrics = json.loads((out / "metrics.json").read_text())
    eval_metrics = json.loads((tmp_path / "eval.json").read_text())
    assert eval_metrics["mode"].startswith("test split")
    assert eval_metrics["binary"] == train_metrics["test"]["binary"]
    assert eval_metrics["rows_evaluated"] == train_metrics["data"]["rows"]["test"]
    assert sorted(p.name for p in out.iterdir()) == ["data_report.json", "metadata.json", "metrics.json", "model.lgb.txt"]


def test_evaluate_on_other_data_scores_every_row(flows, tmp_path):
    out = tmp_path / "mlp"
    assert _invoke("train", "--data", str(flows / "train.csv"), "--out", str(out), "--epochs", "2").exit_code == 0
    result = _invoke("evaluate", "--model", str(out), "--data", str(flows / "other.csv"),
                     "--out", str(tmp_path / "m.json"), "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["mode"].startswith("all rows") and metrics["rows_evaluated"] == 600
    assert metrics["threshold"] == load_artifact(out).threshold
    assert metrics["privacy"] is None


def test_train_json_multiclass_and_reference_settings(flows, tmp_path):
    out = tmp_path / "ref"
    result = _invoke("train", "--data", str(flows / "train.csv"), "--out", str(out), "--reference",
                     "--multiclass", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["task"] == "multiclass" and metrics["test"]["multiclass"]["macro_rule"]
    cfg = load_artifact(out).metadata["training"]["config"]
    assert (cfg["optimizer"], cfg["lr"], cfg["batch_size"], cfg["epochs"]) == ("sgd", 0.01, 256, 5)
    assert len(metrics["training"]["losses"]) == 5


def test_dp_flags_reach_dp_sgd_and_the_artifact(flows, tmp_path):
    out = tmp_path / "dp"
    result = _invoke("train", "--data", str(flows / "train.csv"), "--out", str(out), "--dp",
                     "--target-epsilon", "3", "--epochs", "1", "--batch-size", "128", "--accountant", "rdp", "--json")
    assert result.exit_code == 0, result.output
    privacy = load_artifact(out).privacy
    assert privacy is not None and privacy["epsilon"] == pytest.approx(3.0, rel=0.05)
    assert privacy["accountant"] == "rdp" and privacy["epochs"] == 1
    assert json.loads(result.output)["privacy"] == privacy


def test_reference_dp_run_uses_the_notebook_settings_and_reports_their_epsilon(flows, tmp_path):
    """--dp --reference: sigma 1.1, C 1.0, batch 256, 5 epochs, delta 1e-5; epsilon recomputable."""
    import math

    from privids.privacy import epsilon_for

    out = tmp_path / "ref"
    result = _invoke("train", "--data", str(flows / "train.csv"), "--out", str(out), "--dp", "--reference", "--json")
    assert result.exit_code == 0, result.output
    p = load_artifact(out).privacy
    n = p["n_records"]
    assert (p["noise_multiplier"], p["max_grad_norm"], p["delta"], p["epochs"]) == (1.1, 1.0, 1e-5, 5)
    assert p["sample_rate"] == pytest.approx(1 / math.ceil(n / 256))
    assert p["steps"] == 5 * math.ceil(n / 256)
    again = epsilon_for(sample_rate=p["sample_rate"], noise_multiplier=1.1, steps=p["steps"], delta=1e-5, accountant="rdp")
    assert p["epsilon"] == pytest.approx(again, rel=1e-9)


@pytest.mark.parametrize(
    ("args", "code", "match"),
    [
        (["train", "--model", "svm"], 3, "train.model must be one of"),
        (["train", "--hidden", "64,x"], 3, "--hidden must be comma-separated"),
        (["train", "--model", "gbt", "--dp"], 3, "DP-SGD trains the MLP only"),
        (["train", "--noise-multiplier", "1.0"], 3, "--noise-multiplier only apply to DP-SGD"),
    ],
    ids=["model", "hidden", "dp-gbt", "dp-flag-without-dp"],
)
def test_bad_train_options_give_one_line_and_exit_code(flows, tmp_path, args, code, match):
    result = _invoke(*args, "--data", str(flows / "train.csv"), "--out", str(tmp_path / "x"))
    assert result.exit_code == code
    assert match in result.output and "Traceback" not in result.output


def test_evaluate_refuses_a_directory_without_an_artifact(flows, tmp_path):
    result = _invoke("evaluate", "--model", str(tmp_path), "--data", str(flows / "other.csv"))
    assert result.exit_code == 5 and "no privids artifact" in result.output


def test_config_file_is_read_and_flags_override_it(flows, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text('[train]\nepochs = 1\nhidden = [16]\nthreshold = "fpr"\ntarget_fpr = 0.02\n')
    out = tmp_path / "cfg"
    result = _invoke("train", "--config", str(study), "--data", str(flows / "train.csv"), "--out", str(out),
                     "--epochs", "2")
    assert result.exit_code == 0, result.output
    meta = load_artifact(out).metadata
    assert meta["model"]["hidden"] == [16] and meta["training"]["config"]["epochs"] == 2
    assert meta["threshold_method"] == "fpr<=0.02"
    assert json.loads((out / "metrics.json").read_text())["val"]["binary"]["fpr"] <= 0.02
