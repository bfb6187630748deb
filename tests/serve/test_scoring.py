"""Scorer: one result per row, in order, against a brute-force NumPy forward pass."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.models.mlp import build_mlp
from privids.models.predict import predict_scores
from privids.serve.scoring import Scorer, write_alerts


class _Affine:
    """A fitted-looking transform: (x - mean) / scale with NaN -> 0 and inf capped at +-5."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean, self.scale = mean, scale
        self.calls = 0

    def transform(self, raw: np.ndarray) -> np.ndarray:
        self.calls += 1
        z = (np.asarray(raw, dtype=np.float64) - self.mean) / self.scale
        z = np.where(np.isnan(z), 0.0, z)
        return np.clip(z, -5, 5).astype(np.float32)


def _numpy_forward(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Oracle: the MLP evaluated one row at a time with plain NumPy (float64)."""
    layers = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    out = []
    for x in X.astype(np.float64):
        h = x
        for k, lin in enumerate(layers):
            h = lin.weight.detach().double().numpy() @ h + lin.bias.detach().double().numpy()
            if k < len(layers) - 1:
                h = np.maximum(h, 0)
        out.append(h)
    return np.array(out)


@pytest.fixture
def binary_scorer() -> tuple[Scorer, torch.nn.Module, _Affine]:
    model = build_mlp(4, hidden=(8,), seed=3)
    tf = _Affine(np.array([1.0, 2.0, 0.0, 0.0]), np.array([2.0, 1.0, 1.0, 3.0]))
    scorer = Scorer(feature_names=("a", "b", "c", "d"), transform=tf, predict=lambda X: predict_scores(model, X),
                    threshold=0.5)
    return scorer, model, tf


def test_binary_scores_match_oracle_and_keep_every_row(binary_scorer) -> None:
    # Arrange: 6 rows, row 2 has inf/NaN (capped by the transform), row 4 flagged by the loader.
    scorer, model, tf = binary_scorer
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(6, 4)) * 3
    raw[2, 0], raw[2, 3] = np.inf, np.nan
    status = ["", "", "", "", "line 6: 'abc' in Flow Duration is not a number", ""]
    # Act
    res = scorer.score_matrix(raw, row_status=status, identifiers={"src_ip": np.array(list("uvwxyz"), dtype=object)})
    # Assert
    assert len(res) == 6 and res.row.tolist() == list(range(6))
    logits = _numpy_forward(model, tf.transform(raw))[:, 0]
    expected = 1 / (1 + np.exp(-logits))
    ok = [0, 1, 2, 3, 5]
    np.testing.assert_allclose(res.probability[ok], expected[ok], rtol=1e-5)
    assert math.isnan(res.probability[4])
    assert res.status.tolist() == ["scored"] * 4 + ["unscorable", "scored"]
    assert res.verdict[4] == "unscored" and "not a number" in res.reason[4]
    assert "Flow" not in res.reason[2] and "a=inf" in res.reason[2] and "d=nan" in res.reason[2]
    assert res.verdict[ok].tolist() == ["attack" if p >= 0.5 else "benign" for p in expected[ok]]
    assert res.to_records()[1]["src_ip"] == "v" and res.to_records()[4]["probability"] is None


def test_threshold_decides_verdict(binary_scorer) -> None:
    scorer, model, _ = binary_scorer
    raw = np.random.default_rng(1).normal(size=(50, 4)) * 4
    p = scorer.score_matrix(raw).probability
    t = float(np.median(p))
    res = Scorer(scorer.feature_names, scorer.transform, scorer.predict, threshold=t).score_matrix(raw)
    assert (res.verdict == "attack").sum() == (p >= t).sum() == 25


def test_non_finite_after_transform_is_unscorable_not_dropped() -> None:
    class Leaky:
        def transform(self, raw: np.ndarray) -> np.ndarray:
            return np.asarray(raw, dtype=np.float32)

    model = build_mlp(2, hidden=(4,), seed=0)
    sc = Scorer(("x", "y"), Leaky(), lambda X: predict_scores(model, X), 0.5)
    res = sc.score_matrix(np.array([[0.0, 1.0], [np.inf, 0.0], [1.0, 1.0]]))
    assert res.status.tolist() == ["scored", "unscorable", "scored"]
    assert res.reason[1] == "non-finite after the stored transform: x"


def test_family_head_reports_attack_family_and_p_attack() -> None:
    # Class probabilities fixed by hand: P(attack) = 1 - P(BENIGN), family = best attack class.
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.45, 0.5, 0.05]])
    sc = Scorer(("x",), _Affine(np.zeros(1), np.ones(1)), lambda X: probs[: len(X)], 0.5,
                family_names=("BENIGN", "DoS", "PortScan"))
    res = sc.score_matrix(np.zeros((3, 1)))
    np.testing.assert_allclose(res.probability, [0.3, 0.9, 0.55])
    assert res.verdict.tolist() == ["benign", "attack", "attack"]
    assert res.family is not None and res.family.tolist() == ["BENIGN", "PortScan", "DoS"]


def test_validation_errors(binary_scorer) -> None:
    scorer, _, _ = binary_scorer
    with pytest.raises(DataError, match=r"shape \(n, 4\)"):
        scorer.score_matrix(np.zeros((3, 5)))
    with pytest.raises(DataError, match="one entry per row"):
        scorer.score_matrix(np.zeros((3, 4)), row_status=["", ""])
    with pytest.raises(ArtifactError, match=r"threshold must be in \[0, 1\]"):
        Scorer(("a",), None, lambda X: X, 1.5)
    with pytest.raises(ArtifactError, match="'BENIGN' class"):
        Scorer(("a",), None, lambda X: X, 0.5, family_names=("DoS", "DDoS"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"], ids=["jsonl", "csv"])
def test_write_alerts_round_trip(binary_scorer, tmp_path, fmt: str) -> None:
    scorer, _, _ = binary_scorer
    raw = np.random.default_rng(2).normal(size=(5, 4))
    res = scorer.score_matrix(raw, row_status=["", "bad cell", "", "", ""],
                              identifiers={"timestamp": np.array(["2017-07-07T10:00:00"] * 5, dtype="datetime64[s]")})
    written = write_alerts(res, tmp_path / f"alerts.{fmt}")
    text = (tmp_path / f"alerts.{fmt}").read_text()
    assert written == str(tmp_path / f"alerts.{fmt}")
    if fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert [r["row"] for r in rows] == list(range(5))
        assert rows[1]["probability"] is None and rows[1]["reason"] == "bad cell"
        assert rows[0]["timestamp"] == "2017-07-07T10:00:00"
        np.testing.assert_allclose([r["probability"] for r in rows if r["probability"] is not None],
                                   res.probability[[0, 2, 3, 4]])
    else:
        lines = text.splitlines()
        assert lines[0].split(",")[:3] == ["timestamp", "row", "status"] and len(lines) == 6
    with pytest.raises(ConfigError, match="--format must be one of"):
        write_alerts(res, tmp_path / "x.jsonl", fmt="xml")


def test_block_transform_equals_one_call(binary_scorer) -> None:
    # 10,000 rows span several transform blocks; one unscorable row in the middle shifts the gather.
    scorer, model, tf = binary_scorer
    raw = np.random.default_rng(5).normal(size=(10_000, 4))
    status = np.full(10_000, "", dtype=object)
    status[5000] = "bad cell"
    res = scorer.score_matrix(raw, row_status=status)
    expected = predict_scores(model, tf.transform(raw))
    keep = np.arange(10_000) != 5000
    np.testing.assert_array_equal(res.probability[keep], expected[keep])
    assert np.isnan(res.probability[5000]) and res.counts()["unscored"] == 1


def test_identifier_columns_become_json_safe_values(binary_scorer) -> None:
    scorer, _, _ = binary_scorer
    ids = {
        "src_port": np.array([80.0, np.nan, 443.0]),
        "flow_id": np.array(["a", None, np.nan], dtype=object),
        "src_ip": np.array([1, "10.0.0.1", None], dtype=object),
        "timestamp": np.array(["2017-07-07T10:00:00", "NaT", "2017-07-07T10:00:01"], dtype="datetime64[s]"),
    }
    recs = scorer.score_matrix(np.zeros((3, 4)), identifiers=ids).to_records()
    assert [r["src_port"] for r in recs] == [80, None, 443]
    assert [r["flow_id"] for r in recs] == ["a", None, None]
    assert [r["src_ip"] for r in recs] == ["1", "10.0.0.1", None]
    assert [r["timestamp"] for r in recs] == ["2017-07-07T10:00:00", None, "2017-07-07T10:00:01"]
    assert json.loads(json.dumps(recs)) == recs
