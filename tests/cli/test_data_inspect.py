"""Tests for ``privids data inspect`` (privids/cli/data.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import shared_path
from privids.cli._app import build_app

pytestmark = pytest.mark.shared


def _run(*args):
    return CliRunner().invoke(build_app(), ["data", "inspect", *args], env={"COLUMNS": "220"})


def test_json_report_has_files_labels_repairs_and_split(tmp_path):
    path = shared_path("cases/06-cicids2018-repeated-header-rows/Thursday-01-03-2018_sample_repeated_header.csv")
    res = _run(str(path), "--json", "--cache-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["files"][0]["repeated_headers"] == {"count": 2, "lines": [6, 12]}
    assert rep["totals"]["label_counts"] == {"BENIGN": 8, "Infiltration": 2}
    assert rep["totals"]["dropped"] == {"non-finite feature (Infinity/NaN/empty)": 2}
    assert sum(rep["split"]["sizes"].values()) == 10


def test_table_output_names_the_quirks(tmp_path):
    res = _run(str(shared_path("cases/05-trailing-empty-rows/trailing_empty.csv")), "--cache-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "12 (line 10, 11, 12, ...)" in res.output
    assert "stratified split: train" in res.output


def test_unlabelled_file_fails_cleanly_in_train_mode_and_inspects_as_score(tmp_path):
    path = shared_path("cases/03-leading-space-headers/flows_no_label_for_scoring.csv")
    res = _run(str(path), "--cache-dir", str(tmp_path))
    assert res.exit_code == 2 and "no 'Label' column found" in res.output and "Traceback" not in res.output
    res = _run(str(path), "--score", "--json", "--cache-dir", str(tmp_path))
    assert res.exit_code == 0 and json.loads(res.output)["totals"]["rows"] == 6
