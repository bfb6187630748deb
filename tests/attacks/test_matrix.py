"""The attack x defence matrix: structure, references, and the undefended vs defended contrast."""

from __future__ import annotations

import json
import math

import pytest

from conftest import make_synthetic
from privids.attacks.matrix import run_poisoning_matrix
from privids.config import FederatedConfig
from privids.exceptions import ConfigError


@pytest.fixture(scope="module")
def matrix():  # type: ignore[no-untyped-def]
    data = make_synthetic(n=1200, seed=4)
    return run_poisoning_matrix(
        data, attacks=("sign_flip", "backdoor"), defences=("fedavg", "krum", "bulyan", "dp-krum"),
        settings=((1, 5),), rounds=3, fed=FederatedConfig(local_epochs=1, lr=0.01, batch_size=32),
        dp_policy="refuse", rng=0,
    )


def test_matrix_has_every_cell(matrix) -> None:  # type: ignore[no-untyped-def]
    assert len(matrix.cells) == 3 * 4  # (none + 2 attacks) x 4 defences
    assert matrix.reference_f1["1/5"] == matrix.cell(1, 5, "none", "fedavg").f1


def test_impossible_cells_carry_the_reason(matrix) -> None:  # type: ignore[no-untyped-def]
    bul = matrix.cell(1, 5, "backdoor", "bulyan")
    assert "Bulyan needs" in bul.error and math.isnan(bul.f1)
    dpk = matrix.cell(1, 5, "none", "dp-krum")
    assert "dp_policy='refuse'" in dpk.error


def test_undefended_fedavg_is_broken_and_krum_holds(matrix) -> None:  # type: ignore[no-untyped-def]
    ref = matrix.reference_f1["1/5"]
    assert matrix.cell(1, 5, "sign_flip", "fedavg").f1 < ref - 0.2
    assert matrix.cell(1, 5, "sign_flip", "fedavg").success > 0.3
    assert matrix.cell(1, 5, "backdoor", "fedavg").success > matrix.cell(1, 5, "none", "fedavg").triggered_benign + 0.3
    krum = matrix.cell(1, 5, "backdoor", "krum")
    assert krum.success <= matrix.cell(1, 5, "none", "fedavg").triggered_benign + 0.05
    assert krum.top_suspect_hit_rate == 1.0 and krum.attacker_suspicion > 2 > krum.honest_suspicion
    # Per round, the operator sees the malicious organisation on top.
    assert len(krum.suspicion_by_round) == matrix.rounds
    assert all(max(range(5), key=lambda i: r[i]) == krum.malicious_ids[0] for r in krum.suspicion_by_round)


def test_best_defence_summary_and_json(matrix) -> None:  # type: ignore[no-untyped-def]
    best = {row["attack"]: row for row in matrix.best_defences()}
    assert best["sign_flip"]["best_defence"] == "krum"
    assert best["backdoor"]["best_defence"] == "krum"
    assert best["backdoor"]["fedavg_success"] > best["backdoor"]["success"]
    kb = matrix.cell(1, 5, "backdoor", "krum")
    assert kb.natural_rate == matrix.cell(1, 5, "none", "krum").triggered_benign
    text = json.dumps(matrix.to_dict())  # nan must not leak into JSON
    assert "NaN" not in text and '"error": "Bulyan needs' in text
    with pytest.raises(ConfigError, match="no cell"):
        matrix.cell(2, 10, "none", "fedavg")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"attacks": ("gauss",)}, r"unknown attack\(s\) \['gauss'\]"),
        ({"defences": ("fltrust",)}, r"defence\(s\) \['fltrust'\]"),
        ({"settings": ((0, 5),)}, r"1 <= attackers < clients; got \(0, 5\)"),
    ],
    ids=["attack", "defence", "setting"],
)
def test_matrix_validates_before_running(kwargs, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        run_poisoning_matrix(make_synthetic(n=100), rounds=1, **kwargs)


def test_best_backdoor_defence_must_keep_the_detector_usable() -> None:
    # Arrange: Krum "wins" on success only by wrecking F1; Multi-Krum keeps F1 and stops the backdoor.
    from privids.attacks.matrix import MatrixCell, PoisoningMatrix

    cells = (
        MatrixCell(1, 5, "backdoor", "fedavg", f1=0.985, success=1.0),
        MatrixCell(1, 5, "backdoor", "krum", f1=0.60, success=0.0),
        MatrixCell(1, 5, "backdoor", "multikrum", f1=0.978, success=0.01),
        MatrixCell(1, 5, "backdoor", "median", f1=0.980, success=0.02),
    )
    mat = PoisoningMatrix(cells=cells, trigger="t", rounds=1, reference_f1={"1/5": 0.985})
    # Act
    (row,) = mat.best_defences()
    # Assert
    assert row["best_defence"] == "multikrum" and row["target_met"] is True
    assert row["fedavg_success"] == 1.0
    strict = mat.best_defences(f1_tolerance=0.001)[0]
    assert strict["best_defence"] == "fedavg" and strict["target_met"] is False  # only FedAvg keeps F1 that close
