"""Tests for ``privids config show``: TOML that reads back into the same RunConfig."""

from __future__ import annotations

import tomllib

from typer.testing import CliRunner

from privids.cli._app import build_app
from privids.config import RunConfig, load_run_config

runner = CliRunner()


def test_defaults_round_trip_through_toml(tmp_path):
    res = runner.invoke(build_app(), ["config", "show"])
    assert res.exit_code == 0, res.output
    parsed = tomllib.loads(res.output)
    assert set(parsed) >= {"data", "train", "privacy", "federated", "attack", "seed", "epsilons"}
    p = tmp_path / "shown.toml"
    p.write_text(res.output)
    assert load_run_config(p) == RunConfig()


def test_file_values_are_merged_and_shown(tmp_path):
    src = tmp_path / "study.toml"
    src.write_text('seed = 7\nepsilons = [1.0, 3.0]\n[train]\nhidden = [32, 16]\n[federated]\npartition = "dirichlet:0.3"\n')
    res = runner.invoke(build_app(), ["config", "show", "--config", str(src)])
    assert res.exit_code == 0, res.output
    parsed = tomllib.loads(res.output)
    assert parsed["seed"] == 7 and parsed["train"]["hidden"] == [32, 16]
    assert parsed["federated"]["partition"] == "dirichlet:0.3"
    assert parsed["train"]["epochs"] == RunConfig().train.epochs  # defaults filled in
    back = tmp_path / "back.toml"
    back.write_text(res.output)
    assert load_run_config(back) == load_run_config(src)


def test_bad_config_is_one_line_and_exit_code_3(tmp_path):
    src = tmp_path / "study.toml"
    src.write_text("[train]\nbogus = 1\n")
    res = runner.invoke(build_app(), ["config", "show", "--config", str(src)])
    assert res.exit_code == 3
    assert "Traceback" not in res.output
