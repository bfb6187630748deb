"""End-to-end tests of privids.report.study on a tiny synthetic demo (real components throughout)."""

from __future__ import annotations

import json

import pytest
import torch

from privids.config import AttackConfig, FederatedConfig, PrivacyConfig, RunConfig, TrainConfig
from privids.exceptions import ConfigError
from privids.report import steps as study_steps
from privids.report.html import SYNTHETIC_BANNER
from privids.report.study import STEPS, run_study

torch.set_num_threads(1)

TINY = RunConfig(
    train=TrainConfig(epochs=2, hidden=(16, 16), batch_size=128, gbt_estimators=40, gbt_leaves=15),
    privacy=PrivacyConfig(epochs=1, batch_size=256),
    federated=FederatedConfig(clients=3, rounds=2, batch_size=128),
    attack=AttackConfig(malicious=((1, 3),), attacks=("label_flip",), defences=("fedavg", "median"),
                        membership_samples=200),
    epsilons=(1.0, 8.0),
)


MESSAGES: list[tuple[str, str]] = []


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return run_study(TINY, out_dir=out, demo_rows=1500, progress=lambda step, msg: MESSAGES.append((step, msg)))


def test_long_steps_report_progress(study):
    assert ("federated", "running: DP-FedAvg round 2/2") in MESSAGES
    cells = [m for s, m in MESSAGES if s == "attacks" and m.startswith("running: ")]
    assert len(cells) == 4  # (none, label_flip) x (fedavg, median), one setting
    assert [s for s, m in MESSAGES if m.startswith("done in")] == list(STEPS)


def test_every_step_runs_and_writes_its_outputs(study):
    status = {s.name: s.status for s in study.steps}
    assert status == {"data": "ok", **{name: "ok" for name in STEPS}}, [s for s in study.steps if s.status != "ok"]
    assert study.synthetic
    html = study.report.read_text(encoding="utf-8")
    assert SYNTHETIC_BANNER in html and 'class="status"' not in html
    assert html.count('src="data:image/png;base64,') >= 10
    models = sorted(p.name for p in (study.out_dir / "models").iterdir())
    assert models == ["dp-fedavg", "dp-sgd-eps8", "fedavg", "gbt", "gbt-multiclass", "mlp"]
    from privids.artifacts import load_artifact

    # The saved model loads back with the threshold the study reported.
    art = load_artifact(study.out_dir / "models" / "mlp")
    m = json.loads(study.metrics.read_text())
    assert art.threshold == pytest.approx(m["centralised"]["mlp"]["metrics"]["threshold"])
    assert json.loads((study.out_dir / "data_report.json").read_text())["totals"]["data_lines"] == 1500
    # The demo files on disk carry the synthetic mark in their names.
    assert all("SYNTHETIC" in p.name for p in (study.out_dir / "demo-data-SYNTHETIC").iterdir())


def test_metrics_json_holds_the_numbers_shown(study):
    m = json.loads(study.metrics.read_text(encoding="utf-8"))
    assert m["synthetic"] is True and m["config"]["epsilons"] == [1.0, 8.0]
    assert m["summary"] == pytest.approx(study.summary)
    f1 = m["centralised"]["mlp"]["metrics"]["f1"]
    assert 0.5 < f1 <= 1.0
    assert f"{f1:.4g}" in study.report.read_text(encoding="utf-8")
    counts = m["data"]["class_counts"]
    assert sum(counts.values()) == sum(m["data"]["report"]["split sizes"].values())
    assert [p["target_epsilon"] for p in m["privacy"]["points"]] == [1.0, 8.0]
    # The multi-class confusion matrix is over the global family list and sums to the test split.
    conf = m["centralised"]["gbt-multiclass"]["confusion"]
    assert conf["labels"][0] == "BENIGN" and len(conf["labels"]) == len(conf["matrix"]) > 2
    assert sum(map(sum, conf["matrix"])) == m["data"]["report"]["split sizes"]["test"]
    assert set(m["attacks"]["matrix"]) == {"none", "label_flip"}
    assert set(m["attacks"]["matrix"]["none"]) == {"fedavg", "median"}
    assert len(m["federated"]["FedAvg"]["history"]["round"]) == 2
    # The membership ROC figure is drawn on the very members/non-members the table scored.
    for row in m["membership"].values():
        assert row["curve_auc"] == pytest.approx(row["auc"], abs=1e-12)


def test_same_seed_same_numbers(study, tmp_path):
    again = run_study(TINY, out_dir=tmp_path / "again", demo_rows=1500, steps_to_run=["centralised", "federated"])
    a = json.loads(study.metrics.read_text())
    b = json.loads(again.metrics.read_text())
    for m in (a, b):
        for kind in ("mlp", "gbt"):
            m["centralised"][kind]["metrics"].pop("train_seconds")  # wall-clock, not a result
    assert a["centralised"]["mlp"]["metrics"] == b["centralised"]["mlp"]["metrics"]
    assert a["centralised"]["mlp"]["roc"] == b["centralised"]["mlp"]["roc"]
    assert a["centralised"]["gbt"]["metrics"]["roc_auc"] == b["centralised"]["gbt"]["metrics"]["roc_auc"]
    for m in (a, b):
        for run in m["federated"].values():
            run.pop("artifact")  # output paths differ between the two runs
    assert a["federated"] == b["federated"]


def test_a_failing_step_is_reported_and_the_rest_still_run(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated crash in the federation")

    monkeypatch.setattr(study_steps, "federated_step", broken)
    res = run_study(TINY, out_dir=tmp_path, demo_rows=600, steps_to_run=["centralised", "federated"])
    status = {s.name: s.status for s in res.steps}
    assert status["federated"] == "failed" and status["centralised"] == "ok" and status["attacks"] == "skipped"
    html = res.report.read_text(encoding="utf-8")
    assert "simulated crash in the federation" in html
    m = json.loads(res.metrics.read_text())
    assert m["federated"] == {"not_run": "failed: RuntimeError: simulated crash in the federation"}


def test_unknown_step_is_refused():
    with pytest.raises(ConfigError, match=r"unknown study step\(s\) \['nope'\]; allowed: \['centralised'"):
        run_study(TINY, out_dir="/nonexistent", steps_to_run=["nope"])


def test_real_samples_run_without_the_synthetic_banner(tmp_path):
    from conftest import shared_path

    src = shared_path("data", "cicids2017", "machinelearningcve")
    res = run_study(TINY, out_dir=tmp_path, data_path=src, steps_to_run=["centralised"])
    assert not res.synthetic
    html = res.report.read_text(encoding="utf-8")
    assert SYNTHETIC_BANNER not in html and str(src) in html
    m = json.loads(res.metrics.read_text())
    # The four byte-exact files hold 13,600 BENIGN and 4,180 attack rows before cleaning (README counts).
    counts = m["data"]["class_counts"]
    assert set(counts) == {"BENIGN", "DDoS", "PortScan", "Web Attack - Brute Force", "Web Attack - XSS",
                           "Web Attack - Sql Injection"}
    assert sum(counts.values()) <= 13_600 + 4_180
    assert m["centralised"]["gbt"]["metrics"]["roc_auc"] > 0.95


def test_dp_fedavg_note_states_the_noise_against_the_clipped_signal():
    """sigma 1, C 1, 5 organisations, 9,281 weights: std 0.2 per weight, noise norm 0.2 * sqrt(9281) = 19.3."""
    from privids.config import FederatedConfig
    from privids.report.steps import _dp_fedavg_note

    note = _dp_fedavg_note(FederatedConfig(clients=5, dp_noise_multiplier=1.0, dp_clipping_norm=1.0), 9281)
    assert "= 0.2 to every one of the 9,281 weights" in note
    assert "norm about 19.3" in note and "client-level" in note
