"""``privids tradeoff`` end to end on a real CIC-IDS2017 sample, and its error exit codes."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import shared_path
from typer.testing import CliRunner

from privids.cli._app import build_app

_FAST = """
[train]
epochs = 2
[privacy]
epochs = 3
batch_size = 128
lr = 2.0
max_grad_norm = 0.5
"""


@pytest.mark.shared
def test_tradeoff_writes_table_json_and_figure(tmp_path) -> None:
    # Arrange
    data = shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
    cfg = tmp_path / "study.toml"
    cfg.write_text(_FAST, encoding="utf-8")
    out = tmp_path / "out"
    # Act
    res = CliRunner().invoke(
        build_app(), ["tradeoff", "--data", str(data), "--epsilons", "1,4", "--out", str(out), "--config", str(cfg), "--json"]
    )
    # Assert
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout.strip().splitlines()[-1])
    eps = [p["epsilon"] for p in payload["points"]]
    assert eps[0] is None and 0.98 < eps[1] <= 1.0 and 3.98 < eps[2] <= 4.0
    assert payload["attack_labels"] == ["PortScan"]
    spent = payload["points"][1]["spent"]
    assert spent["n_records"] == payload["n_train"] and spent["delta"] == pytest.approx(1 / (10 * payload["n_train"]))
    with (out / "tradeoff.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["non-private", "DP eps=1", "DP eps=4"]
    assert (out / "tradeoff.png").stat().st_size > 10_000


@pytest.mark.parametrize("eps", ["a,b", "0,1", ""], ids=["not-numbers", "zero", "empty"])
def test_tradeoff_bad_epsilons_exit_with_config_code(tmp_path, eps: str) -> None:
    data = tmp_path / "none.csv"
    data.write_text("x\n", encoding="utf-8")
    res = CliRunner().invoke(build_app(), ["tradeoff", "--data", str(data), "--epsilons", eps, "--out", str(tmp_path)])
    assert res.exit_code == 3
    assert "--epsilons" in res.output


@pytest.mark.shared
def test_tradeoff_without_config_uses_the_tuned_recipe_scaled_to_the_data(tmp_path) -> None:
    data = shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
    res = CliRunner().invoke(build_app(), ["tradeoff", "--data", str(data), "--epsilons", "2", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout.strip().splitlines()[-1])
    spent = payload["points"][1]["spent"]
    assert payload["privacy"]["lr_schedule"] == "cosine" and payload["privacy"]["epochs"] == 60
    assert payload["privacy"]["batch_size"] == payload["n_train"] // 6
    assert 1.98 < spent["epsilon"] <= 2.0
