"""``privids run`` through the CLI: config file, step subset, synthetic notice, outputs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from privids.cli._app import build_app

TOML = """
seed = 3
[train]
epochs = 1
hidden = [8]
gbt_estimators = 20
"""


def test_run_writes_report_and_says_synthetic(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text(TOML)
    out = tmp_path / "run"
    res = CliRunner().invoke(build_app(), ["run", "--config", str(cfg), "--out", str(out), "--only", "centralised"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Synthetic data" in text and "SYNTHETIC demo data" in text
    assert "mlp test F1" in text and "report.html" in text
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["seed"] == 3 and m["config"]["train"]["hidden"] == [8]
    assert {s["name"]: s["status"] for s in m["steps"]}["privacy"] == "skipped"
    assert (out / "report.html").stat().st_size > 10_000


def test_run_json_summary_and_bad_step(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text(TOML)
    bad = CliRunner().invoke(build_app(), ["run", "--config", str(cfg), "--out", str(tmp_path / "x"), "--only", "nope"])
    assert bad.exit_code == 3 and "unknown study step" in bad.output
    res = CliRunner().invoke(build_app(), ["run", "--config", str(cfg), "--out", str(tmp_path / "j"), "--only",
                                           "centralised", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["synthetic"] is True and out["steps"]["centralised"] == "ok" and "mlp test F1" in out["summary"]
