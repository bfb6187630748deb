"""Scoring files end to end: the bug-report cases give one result per flow, in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from privids.artifacts import load_artifact
from privids.data import load_flows
from privids.serve.tables import score_csv_bytes, score_path
from serve_fixtures import dp_artifact_dir, gbt_artifact_dir, multiclass_artifact_dir  # noqa: F401

pytestmark = pytest.mark.shared


@pytest.mark.parametrize(
    ("parts", "n"),
    [
        (("cases", "01-inf-nan-flow-rates", "flows_inf_nan.csv"), 10),
        (("cases", "06-cicids2018-repeated-header-rows", "Thursday-01-03-2018_sample_repeated_header.csv"), 12),
        (("cases", "09-constant-zero-columns", "scoring_nonzero_in_constant_cols.csv"), 2),
        (("cases", "03-leading-space-headers", "flows_no_label_for_scoring.csv"), 6),
        (("cases", "05-trailing-empty-rows", "missing_label_mid_file.csv"), 5),
        (("cases", "08-negative-sentinel-values", "negatives.csv"), 8),
    ],
    ids=["01-inf-nan", "06-repeated-header", "09-constant-cols", "03-no-label", "05-missing-label", "08-negatives"],
)
def test_cases_give_one_result_per_flow(dp_artifact_dir: Path, parts: tuple[str, ...], n: int) -> None:
    # Arrange
    art = load_artifact(dp_artifact_dir)
    path = shared_path(*parts)
    # Act
    res = score_path(art, path)
    # Assert: count, order (source lines strictly increasing), finite probabilities for every flow.
    assert len(res) == n
    lines = res.identifiers["source_line"].astype(int)
    assert (np.diff(lines) > 0).all()
    assert res.status.tolist() == ["scored"] * n and np.isfinite(res.probability).all()


def test_case01_scores_equal_stored_transform_then_model(dp_artifact_dir: Path) -> None:
    # Oracle: the artifact's own transform and model applied by hand, no refit on the scored file.
    art = load_artifact(dp_artifact_dir)
    path = shared_path("cases", "01-inf-nan-flow-rates", "flows_inf_nan.csv")
    res = score_path(art, path)
    raw = load_flows(path, mode="score").matrix(art.feature_names)
    expected = art.predict_scores(art.transform.transform(raw))
    np.testing.assert_allclose(res.probability, expected, rtol=1e-12)
    assert res.verdict.tolist() == ["attack" if p >= art.threshold else "benign" for p in expected]
    # Lines 4, 5, 7, 9 (rows 2, 3, 5, 7) have Infinity/NaN rates: scored, with a note saying so.
    flagged = [i for i, r in enumerate(res.reason) if r]
    assert flagged == [2, 3, 5, 7] and "Flow Packets/s=inf" in res.reason[2]


def test_raw_and_stripped_headers_score_identically(dp_artifact_dir: Path) -> None:
    art = load_artifact(dp_artifact_dir)
    a = score_path(art, shared_path("cases", "03-leading-space-headers", "flows_raw_header.csv"))
    b = score_path(art, shared_path("cases", "03-leading-space-headers", "flows_stripped_header.csv"))
    np.testing.assert_array_equal(a.probability, b.probability)
    assert not any(c.startswith(" ") for c in a.to_arrow().column_names)


def test_bad_cell_is_reported_not_dropped(dp_artifact_dir: Path, tmp_path: Path) -> None:
    # Arrange: the case-01 file with line 3's Flow Duration replaced by text.
    src = shared_path("cases", "01-inf-nan-flow-rates", "flows_inf_nan.csv").read_text().splitlines()
    cells = src[2].split(",")
    cells[1] = "abc"
    src[2] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(src) + "\n")
    # Act
    res = score_path(load_artifact(dp_artifact_dir), bad)
    # Assert
    assert len(res) == 10 and res.status[1] == "unscorable" and res.verdict[1] == "unscored"
    assert "Flow Duration" in res.reason[1] and np.isnan(res.probability[1])
    assert (res.status[[0] + list(range(2, 10))] == "scored").all()


def test_csv_bytes_match_file_scoring(dp_artifact_dir: Path) -> None:
    art = load_artifact(dp_artifact_dir)
    path = shared_path("cases", "06-cicids2018-repeated-header-rows", "Thursday-01-03-2018_sample_repeated_header.csv")
    a, b = score_path(art, path), score_csv_bytes(art, path.read_bytes())
    np.testing.assert_array_equal(a.probability, b.probability)
    assert b.identifiers["timestamp"][0] == a.identifiers["timestamp"][0]


def test_multiclass_family_is_best_attack_class(multiclass_artifact_dir: Path) -> None:
    art = load_artifact(multiclass_artifact_dir)
    path = shared_path("data", "cicids2017", "machinelearningcve_reserialized", "multiclass_1000_mahdieslaminet.csv")
    res = score_path(art, path)
    probs = art.predict_scores(art.transform.transform(load_flows(path, mode="score").matrix(art.feature_names)))
    names = np.array(art.class_names, dtype=object)
    b = list(names).index("BENIGN")
    np.testing.assert_allclose(res.probability, art.attack_scores(art.transform.transform(
        load_flows(path, mode="score").matrix(art.feature_names))), rtol=1e-12)
    attack_cols = [j for j in range(len(names)) if j != b]
    best = names[attack_cols][probs[:, attack_cols].argmax(axis=1)]
    is_attack = res.verdict == "attack"
    assert res.family is not None and len(res) == 1000
    assert (res.family[is_attack] == best[is_attack]).all() and (res.family[~is_attack] == "BENIGN").all()


def test_tree_model_scores_through_the_same_path(gbt_artifact_dir: Path) -> None:
    art = load_artifact(gbt_artifact_dir)
    path = shared_path("cases", "06-cicids2018-repeated-header-rows", "Thursday-01-03-2018_sample_repeated_header.csv")
    res = score_path(art, path)
    expected = art.predict_scores(art.transform.transform(load_flows(path, mode="score").matrix(art.feature_names)))
    assert art.kind == "gbt" and len(res) == 12
    np.testing.assert_allclose(res.probability, expected, rtol=1e-12)
