"""``privids train --dp`` option checks: the expected batch on small data, one source of sigma."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from privids.cli._app import build_app
from privids.data.demo import generate_demo_flows


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    # About 1000 training flows: far fewer than the study's expected batch of 2048.
    path = tmp_path_factory.mktemp("flows") / "train.csv"
    generate_demo_flows(1500, rng=0, path=path)
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _invoke(*args: str):
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def test_study_batch_is_capped_on_small_data_and_the_output_says_so(small, tmp_path):
    res = _invoke("train", "--data", str(small), "--out", str(tmp_path / "m"), "--dp", "--epochs", "1", "--json")
    assert res.exit_code == 0, res.output
    privacy = json.loads(res.stdout)["privacy"]
    n = privacy["n_records"]
    # Poisson rate q = 1 / ceil(n / batch) for the capped batch n // 6.
    assert privacy["sample_rate"] == pytest.approx(1 / math.ceil(n / (n // 6)))
    assert f"DP expected batch lowered from 2048 to {n // 6}" in " ".join(res.stderr.split())


def test_a_given_batch_larger_than_the_data_is_refused_naming_the_flag(small, tmp_path):
    res = _invoke("train", "--data", str(small), "--out", str(tmp_path / "m"), "--dp", "--epochs", "1",
                  "--batch-size", "5000")
    assert res.exit_code == 4
    shown = " ".join(res.output.split())
    assert "got --batch-size 5000" in shown and "Pass --batch-size" in shown and "Traceback" not in shown


def test_noise_multiplier_and_target_epsilon_together_are_refused(small, tmp_path):
    res = _invoke("train", "--data", str(small), "--out", str(tmp_path / "m"), "--dp",
                  "--noise-multiplier", "1.0", "--target-epsilon", "2")
    assert res.exit_code == 3
    shown = " ".join(res.output.split())
    assert "--noise-multiplier and --target-epsilon both set sigma" in shown and "Give only one" in shown
    assert not (tmp_path / "m").exists()
