"""The trade-off study: metrics against scikit-learn, thresholds against brute force, budgets met."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_synthetic
from sklearn.metrics import confusion_matrix, f1_score, recall_score

from privids.config import PrivacyConfig, TrainConfig
from privids.exceptions import ConfigError, DataError
from privids.privacy.tradeoff import detection_metrics, f1_threshold, run_tradeoff
from privids.privacy.tradeoff_plot import plot_tradeoff


def _scored(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.array(["BENIGN", "DDoS", "PortScan", "Web Attack - XSS"]), size=n, p=[0.6, 0.2, 0.15, 0.05])
    y = (labels != "BENIGN").astype(np.int64)
    scores = np.round(np.clip(0.35 * y + rng.normal(0.3, 0.2, n), 0, 1), 2)  # rounding creates ties
    return y, scores, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_threshold_is_the_brute_force_best(seed: int) -> None:
    # Arrange
    y, s, _ = _scored(seed)
    best = max(f1_score(y, s >= t) for t in np.unique(s))
    # Act
    t = f1_threshold(y, s)
    # Assert
    assert f1_score(y, s >= t) == pytest.approx(best)


def test_f1_threshold_needs_attacks() -> None:
    with pytest.raises(DataError, match="no attacks"):
        f1_threshold(np.zeros(5, dtype=int), np.linspace(0, 1, 5))


def test_detection_metrics_match_sklearn_and_a_label_loop() -> None:
    # Arrange
    y, s, labels = _scored(3)
    t = 0.5
    # Act
    m = detection_metrics(y, s, labels, threshold=t)
    # Assert
    pred = s >= t
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["fpr"] == pytest.approx(fp / (fp + tn))
    for name in ("DDoS", "PortScan", "Web Attack - XSS"):
        rows = [i for i in range(len(y)) if labels[i] == name]
        assert m["per_label_support"][name] == len(rows)
        assert m["per_label_recall"][name] == pytest.approx(sum(pred[i] for i in rows) / len(rows))
    assert "BENIGN" not in m["per_label_recall"]


@pytest.fixture(scope="module")
def study():
    data = make_synthetic(n=1200, seed=4)
    privacy = PrivacyConfig(batch_size=64, epochs=3, lr=2.0, max_grad_norm=0.5)
    train = TrainConfig(epochs=3)
    return run_tradeoff(data, epsilons=(8, 1), train=train, privacy=privacy, rng=0)


def test_tradeoff_trains_baseline_and_one_model_per_budget(study) -> None:
    assert [p.target_epsilon for p in study.points] == [None, 1.0, 8.0]
    for p in study.points[1:]:
        assert p.target_epsilon - 0.011 <= p.spent.epsilon <= p.target_epsilon
        assert p.spent.recompute_epsilon() == pytest.approx(p.spent.epsilon)
    # More budget, less noise.
    assert study.points[1].spent.noise_multiplier > study.points[2].spent.noise_multiplier
    assert study.baseline.test["f1"] > 0.8
    assert study.n_train == 840 and study.synthetic


def test_tradeoff_rows_and_json(study) -> None:
    rows = study.rows()
    assert rows[0]["model"] == "non-private" and rows[0]["f1_gap_points"] == 0
    assert {f"recall[{n}]" for n in study.attack_labels} <= set(rows[1])
    support = study.baseline.test["per_label_support"]
    assert [support[n] for n in study.attack_labels] == sorted(support.values())  # rarest first
    again = json.loads(json.dumps(study.to_dict()))
    assert again["points"][1]["spent"]["steps"] == study.points[1].spent.steps


def test_tradeoff_plot_writes_a_png(study, tmp_path) -> None:
    path = plot_tradeoff(study, tmp_path / "fig" / "tradeoff.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_tradeoff_refuses_empty_budgets() -> None:
    with pytest.raises(ConfigError, match="positive"):
        run_tradeoff(make_synthetic(), epsilons=(), train=TrainConfig(), privacy=PrivacyConfig(), rng=0)
