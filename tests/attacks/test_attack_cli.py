"""``privids attack poison`` / ``privids attack membership`` on a real CIC-IDS2017 sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import shared_path
from privids.cli._app import build_app

runner = CliRunner()
pytestmark = pytest.mark.shared

TINY = """
[train]
epochs = 2
[privacy]
epochs = 1
batch_size = 128
[federated]
clients = 2
rounds = 1
"""


@pytest.fixture(scope="module")
def sample() -> Path:
    return shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")


def test_poison_json_matrix_on_real_flows(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    res = runner.invoke(build_app(), [
        "attack", "poison", "--data", str(sample), "--attacks", "backdoor", "--defences", "fedavg,krum,bulyan",
        "--settings", "1/3", "--rounds", "1", "--out", str(out), "--json",
    ])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload == json.loads(out.read_text())
    assert payload["synthetic"] is False
    assert "Init_Win_bytes_forward=1337" in payload["trigger"] and "raw feature space" in payload["trigger"]
    cells = {(c["attack"], c["defence"]): c for c in payload["cells"]}
    assert set(cells) == {(a, d) for a in ("none", "backdoor") for d in ("fedavg", "krum", "bulyan")}
    assert "Bulyan needs" in cells[("backdoor", "bulyan")]["error"]
    assert 0.0 <= cells[("backdoor", "krum")]["success"] <= 1.0


def test_poison_tables_and_friendly_errors(sample: Path) -> None:
    res = runner.invoke(build_app(), ["attack", "poison", "--data", str(sample), "--attacks", "sign_flip,backdoor",
                                      "--defences", "fedavg", "--settings", "1/3", "--rounds", "1",
                                      "--trigger", "Destination Port=31337"])
    assert res.exit_code == 0, res.output
    assert "1 of 3 clients malicious" in res.output and "best defence per attack" in res.output
    assert "Destination Port=31337 (raw feature space)" in res.output
    bad = runner.invoke(build_app(), ["attack", "poison", "--data", str(sample), "--settings", "1-5"])
    assert bad.exit_code == 3 and "ATTACKERS/CLIENTS" in bad.output
    bad = runner.invoke(build_app(), ["attack", "poison", "--data", str(sample), "--attacks", "gauss", "--settings", "1/3"])
    assert bad.exit_code == 3 and "unknown attack(s) ['gauss']" in bad.output


def test_membership_json_on_real_flows(sample: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "study.toml"
    cfg.write_text(TINY)
    res = runner.invoke(build_app(), [
        "attack", "membership", "--data", str(sample), "--config", str(cfg), "--n", "100",
        "--models", "non-private,dp-sgd,federated", "--attacks", "loss", "--epsilon", "1", "--json",
    ])
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.output)["rows"]}
    assert set(rows) == {"non-private", "dp-sgd (eps=1)", "federated"}
    dp = rows["dp-sgd (eps=1)"]
    assert dp["epsilon"] == pytest.approx(1.0, rel=0.05) and 0 < dp["delta"] < 1e-3
    assert dp["bound_advantage"] == pytest.approx(0.462, abs=0.01)
    assert rows["non-private"]["epsilon"] is None and rows["non-private"]["bound_advantage"] == 1.0
    assert all(r["n_members"] == 100 for r in rows.values())


def test_membership_rejects_unknown_model(sample: Path) -> None:
    res = runner.invoke(build_app(), ["attack", "membership", "--data", str(sample), "--models", "gbt"])
    assert res.exit_code == 3 and "unknown target model(s) ['gbt']" in res.output


def test_poison_reads_the_attack_section_of_the_config(sample: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "study.toml"
    cfg.write_text('[attack]\nmalicious = [[1, 3]]\nattacks = ["scale"]\ndefences = ["median"]\n')
    res = runner.invoke(build_app(), ["attack", "poison", "--data", str(sample), "--config", str(cfg), "--rounds", "1", "--json"])
    assert res.exit_code == 0, res.output
    cells = json.loads(res.output)["cells"]
    assert {(c["attackers"], c["clients"], c["attack"], c["defence"]) for c in cells} == {(1, 3, "none", "median"), (1, 3, "scale", "median")}
