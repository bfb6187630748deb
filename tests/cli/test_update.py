"""``privids update`` through the real Typer app: a new version, the ledger, and refusal over budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from conftest import shared_path
from privids.artifacts import load_artifact
from privids.cli._app import build_app

torch.set_num_threads(1)
pytestmark = pytest.mark.shared
runner = CliRunner()
DDOS = ("data", "cicids2017", "machinelearningcve", "friday_ddos_sample_pecord.csv")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real DP artifact (epsilon about 2), trained on the shared PortScan sample."""
    from privids.artifacts import save_detector
    from privids.config import DataConfig, PrivacyConfig, TrainConfig
    from privids.evaluation.detectors import train_detector
    from privids.features import prepare_data

    data = prepare_data(shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv"),
                        DataConfig(), rng=0)
    cfg = TrainConfig(hidden=(16, 16))
    det = train_detector(data, cfg, privacy=PrivacyConfig(target_epsilon=2.0, batch_size=128, epochs=2, lr=0.1), rng=0)
    return save_detector(tmp_path_factory.mktemp("cli-upd") / "detector", det, data, train_cfg=cfg)


def test_update_then_refuse_over_budget(model_dir: Path) -> None:
    app = build_app()
    data = str(shared_path(*DDOS))
    # First update opens a parallel (--disjoint) ledger (budget 3) and writes detector-v2 next to the base model.
    r = runner.invoke(app, ["update", "--model", str(model_dir), "--data", data, "--epsilon", "1.0", "--budget", "3",
                            "--budget-delta", "1e-3", "--disjoint", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    v2 = model_dir.parent / "detector-v2"
    assert out["out"] == str(v2) and out["version"] == 2 and len(out["ledger"]["releases"]) == 2
    assert load_artifact(v2).metadata["ledger"] == out["ledger"]
    # Same data again: 0.99 already spent there + 2.5 > 3, refused with exit code 4 and nothing written.
    r2 = runner.invoke(app, ["update", "--model", str(v2), "--data", data, "--epsilon", "2.5"])
    assert r2.exit_code == 4 and "lifetime budget" in r2.output and "Traceback" not in r2.output
    assert not (model_dir.parent / "detector-v3").exists()
    # A smaller release fits and prints the ledger table.
    r3 = runner.invoke(app, ["update", "--model", str(v2), "--data", data, "--epsilon", "0.5"])
    assert r3.exit_code == 0, r3.output
    assert "composed total" in r3.output and (model_dir.parent / "detector-v3").is_dir()
    led = load_artifact(model_dir.parent / "detector-v3").metadata["ledger"]
    assert len(led["releases"]) == 3 and led["total"]["epsilon"] == pytest.approx(
        max(led["releases"][0]["epsilon"], led["releases"][1]["epsilon"] + led["releases"][2]["epsilon"]))


def test_first_update_without_budget_is_a_config_error(model_dir: Path, tmp_path: Path) -> None:
    r = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS)),
                                    "--epsilon", "0.5", "--out", str(tmp_path / "v2")])
    assert r.exit_code == 3 and "--budget" in r.output and not (tmp_path / "v2").exists()


def test_epsilon_is_required(model_dir: Path) -> None:
    r = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS))])
    assert r.exit_code == 2 and "--epsilon" in r.output


def test_default_ledger_is_sequential_across_datasets(model_dir: Path, tmp_path: Path) -> None:
    # Initial eps ~2.0 on PortScan + 1.5 on DDoS: parallel would give 2.0, sequential gives 3.5 > 3.
    # Sequential is the default: a different fingerprint does not prove the flows are disjoint.
    r = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS)),
                                    "--epsilon", "1.5", "--budget", "3", "--budget-delta", "1e-3",
                                    "--out", str(tmp_path / "v2")])
    assert r.exit_code == 4 and "sequentially composed epsilon" in r.output and not (tmp_path / "v2").exists()
    ok = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS)),
                                     "--epsilon", "0.5", "--budget", "3", "--budget-delta", "1e-3",
                                     "--out", str(tmp_path / "v2b"), "--json"])
    assert ok.exit_code == 0, ok.output
    led = json.loads(ok.output)["ledger"]
    assert led["disjoint"] is False and led["total"]["rule"] == "sequential"
    assert led["total"]["epsilon"] == pytest.approx(sum(r["epsilon"] for r in led["releases"]))


def test_first_update_fits_default_budget_delta(model_dir: Path, tmp_path: Path) -> None:
    # No --budget-delta and no --delta: the lifetime delta default must admit the default 1/(10 n).
    ok = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS)),
                                     "--epsilon", "0.5", "--budget", "4", "--out", str(tmp_path / "v2"), "--json"])
    assert ok.exit_code == 0, ok.output
    led = json.loads(ok.output)["ledger"]
    assert led["budget"]["delta"] == pytest.approx(10 * max(r["delta"] for r in led["releases"]))
    assert all(r["level"] == "record" for r in led["releases"])
    # A delta over the lifetime delta names the flags to change.
    r = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS)),
                                    "--epsilon", "0.5", "--budget", "4", "--budget-delta", "2e-4", "--delta", "1e-4",
                                    "--out", str(tmp_path / "v2b")])
    assert r.exit_code == 4 and "--delta" in r.output and "--budget-delta" in r.output


def test_update_on_the_training_data_is_refused(model_dir: Path, tmp_path: Path) -> None:
    train = shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
    r = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(train), "--epsilon", "0.5",
                                    "--budget", "4", "--out", str(tmp_path / "v2")])
    assert r.exit_code == 2 and "training-data fingerprint" in r.output and "new flows" in r.output
    assert not (tmp_path / "v2").exists()


@pytest.fixture(scope="module")
def updated_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli-upd-eval") / "v2"
    r = runner.invoke(build_app(), ["update", "--model", str(model_dir), "--data", str(shared_path(*DDOS)),
                                    "--epsilon", "0.5", "--budget", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_evaluate_and_score_print_the_composed_total(updated_dir: Path, tmp_path: Path) -> None:
    led = load_artifact(updated_dir).metadata["ledger"]
    metrics = tmp_path / "m.json"
    r = runner.invoke(build_app(), ["evaluate", "--model", str(updated_dir), "--data", str(shared_path(*DDOS)),
                                    "--out", str(metrics)])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "composed total" in flat and "2 release(s)" in flat and "rule sequential" in flat and "last release" in flat
    total = json.loads(metrics.read_text())["privacy_total"]
    assert total["epsilon"] == pytest.approx(led["total"]["epsilon"]) and total["releases"] == 2
    s = runner.invoke(build_app(), ["score", str(shared_path(*DDOS)), "--model", str(updated_dir)])
    assert s.exit_code == 0, s.output
    assert "composed total" in " ".join(s.output.split()) and "last release" in s.output


def test_evaluate_never_calls_rows_held_out_after_an_update(tmp_path: Path) -> None:
    from privids.artifacts import evaluate_artifact, train_to_artifact
    from privids.config import DataConfig, PrivacyConfig, TrainConfig

    train = shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
    # A base model with a stored data config, so `evaluate` can rebuild its test split.
    base = train_to_artifact(train, tmp_path / "base", train_cfg=TrainConfig(hidden=(16,)), data_cfg=DataConfig(),
                             privacy_cfg=PrivacyConfig(target_epsilon=2.0, batch_size=128, epochs=1, lr=0.1),
                             rng=0).artifact_dir
    r = runner.invoke(build_app(), ["update", "--model", str(base), "--data", str(shared_path(*DDOS)),
                                    "--epsilon", "0.5", "--budget", "4", "--out", str(tmp_path / "v2")])
    assert r.exit_code == 0, r.output
    assert "NOT held out" in evaluate_artifact(tmp_path / "v2", train)["mode"]
    assert "NOT held out" not in evaluate_artifact(base, train)["mode"]
    other = evaluate_artifact(base, shared_path(*DDOS))["mode"]
    assert "overlap with the training flows is not checked" in other and "not seen" not in other


def test_dp_metadata_records_the_settings_that_ran(model_dir: Path) -> None:
    training = load_artifact(model_dir).metadata["training"]
    assert training["privacy_config"]["lr"] == 0.1 and training["privacy_config"]["epochs"] == 2
    assert training["privacy_config"]["batch_size"] == 128 and training["settings"].startswith("privacy_config")
