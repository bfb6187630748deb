"""``privids score`` through the real Typer app: one alert per flow, files and stdout, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import shared_path
from privids.cli._app import build_app

torch.set_num_threads(1)
pytestmark = pytest.mark.shared

CASE01 = ("cases", "01-inf-nan-flow-rates", "flows_inf_nan.csv")
CASE06 = ("cases", "06-cicids2018-repeated-header-rows", "Thursday-01-03-2018_sample_repeated_header.csv")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real DP artifact, trained on the shared PortScan sample."""
    from privids.artifacts import save_detector
    from privids.config import DataConfig, PrivacyConfig, TrainConfig
    from privids.evaluation.detectors import train_detector
    from privids.features import prepare_data

    data = prepare_data(shared_path("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv"),
                        DataConfig(), rng=0)
    cfg = TrainConfig(hidden=(16, 16))
    det = train_detector(data, cfg, privacy=PrivacyConfig(target_epsilon=2.0, batch_size=128, epochs=2, lr=0.1), rng=0)
    return save_detector(tmp_path_factory.mktemp("cli-score-art"), det, data, train_cfg=cfg)


def test_jsonl_file_has_one_alert_per_flow(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    r = runner.invoke(build_app(), ["score", str(shared_path(*CASE01)), "--model", str(model_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and [x["source_line"] for x in rows] == list(range(2, 12))
    assert all(0.0 <= x["probability"] <= 1.0 for x in rows) and "10 flows scored" in r.output


def test_csv_output_and_json_summary(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "alerts.csv"
    r = runner.invoke(build_app(), ["score", str(shared_path(*CASE06)), "--model", str(model_dir), "--out", str(out),
                                    "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 == summary["rows"] and sum(summary["counts"].values()) == 12
    assert rows[0]["timestamp"].startswith("2018-03-01") and {"protocol", "probability", "verdict"} <= set(rows[0])


def test_stdout_matches_file(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    app = build_app()
    runner.invoke(app, ["score", str(shared_path(*CASE01)), "--model", str(model_dir), "--out", str(out)])
    r = runner.invoke(app, ["score", str(shared_path(*CASE01)), "--model", str(model_dir), "--out", "-"])
    assert r.exit_code == 0
    a = [json.loads(x)["probability"] for x in out.read_text().splitlines()]
    b = [json.loads(x)["probability"] for x in r.stdout.splitlines()]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("args", "code", "match"),
    [
        (["--format", "xml", "--out", "x.xml"], 3, "--format must be one of"),
        (["--model", "/nonexistent-model"], 5, "no privids artifact"),
    ],
    ids=["bad-format", "no-model"],
)
def test_errors_are_one_line_with_exit_code(model_dir: Path, tmp_path: Path, args: list[str], code: int,
                                            match: str) -> None:
    base = ["score", str(shared_path(*CASE01)), "--model", str(model_dir)]
    if "--model" in args:
        base = base[:2]
    argv = [a if a != "x.xml" else str(tmp_path / "x.xml") for a in base + args]
    r = runner.invoke(build_app(), argv)
    assert r.exit_code == code and match in r.output and "Traceback" not in r.output
