"""Tests for privids.evaluation.metrics against brute-force loops and hand-computed values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import f1_score

from privids.evaluation.metrics import NO_SUPPORT, attack_scores, binary_report, multiclass_report
from privids.exceptions import DataError


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    # Probability that a random attack outscores a random benign flow (ties count half).
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def _brute_ap(y: np.ndarray, s: np.ndarray) -> float:
    # Mean of precision@k over the ranks k of the attacks (scores are distinct here).
    order = np.argsort(-s)
    hits, total = 0, 0.0
    for k, i in enumerate(order, start=1):
        if y[i] == 1:
            hits += 1
            total += hits / k
    return total / y.sum()


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    y = (rng.random(120) < 0.4).astype(np.int64)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, s


def test_binary_report_matches_brute_force(scored):
    # Arrange
    y, s = scored
    t = 0.5
    tp = sum(1 for yi, si in zip(y, s, strict=True) if yi == 1 and si >= t)
    fp = sum(1 for yi, si in zip(y, s, strict=True) if yi == 0 and si >= t)
    fn = sum(1 for yi, si in zip(y, s, strict=True) if yi == 1 and si < t)
    tn = sum(1 for yi, si in zip(y, s, strict=True) if yi == 0 and si < t)
    # Act
    r = binary_report(y, s, threshold=t)
    # Assert
    assert r["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert r["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert r["accuracy"] == pytest.approx((tp + tn) / len(y))
    assert r["precision"] == pytest.approx(tp / (tp + fp))
    assert r["recall"] == pytest.approx(tp / (tp + fn))
    assert r["fpr"] == pytest.approx(fp / (fp + tn))
    p, rc = tp / (tp + fp), tp / (tp + fn)
    assert r["f1"] == pytest.approx(2 * p * rc / (p + rc))
    assert r["roc_auc"] == pytest.approx(_brute_auc(y, s))
    assert r["pr_auc"] == pytest.approx(_brute_ap(y, s))
    assert r["support"] == {"benign": int((y == 0).sum()), "attack": int(y.sum())}


def test_binary_report_hand_computed():
    r = binary_report([0, 0, 0, 1, 1], [0.1, 0.7, 0.2, 0.8, 0.3], threshold=0.5)
    assert r["confusion"] == {"tn": 2, "fp": 1, "fn": 1, "tp": 1}
    assert r["accuracy"] == pytest.approx(0.6)
    assert r["f1"] == pytest.approx(0.5)
    assert r["fpr"] == pytest.approx(1 / 3)
    # Pairs (attack, benign): 0.8 beats all 3, 0.3 beats 0.1 and 0.2 -> 5 of 6.
    assert r["roc_auc"] == pytest.approx(5 / 6)


def test_per_label_detection_rate_and_no_support():
    # Arrange
    y = np.array([0, 0, 1, 1, 1, 1])
    labels = np.array(["BENIGN", "BENIGN", "DDoS", "DDoS", "PortScan", "DDoS"])
    s = np.array([0.1, 0.9, 0.8, 0.2, 0.95, 0.7])
    # Act
    r = binary_report(y, s, threshold=0.5, labels=labels, known_labels=["BENIGN", "DDoS", "Heartbleed", "PortScan"])
    # Assert
    per = r["per_label"]
    assert set(per) == {"DDoS", "Heartbleed", "PortScan"}  # BENIGN's rate is the FPR
    assert per["DDoS"] == {"support": 3, "detected": 2, "detection_rate": pytest.approx(2 / 3)}
    assert per["PortScan"]["detection_rate"] == 1.0
    assert per["Heartbleed"] == {"support": 0, "detected": 0, "detection_rate": NO_SUPPORT}
    assert r["fpr"] == 0.5


def test_single_class_gives_undefined_not_zero():
    r = binary_report([1, 1, 1], [0.9, 0.2, 0.7], threshold=0.5)
    assert r["roc_auc"] is None and r["pr_auc"] is None and r["fpr"] is None
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["notes"]
    nothing_flagged = binary_report([0, 1], [0.1, 0.2], threshold=0.5)
    assert nothing_flagged["precision"] is None and nothing_flagged["f1"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": ["BENIGN", "DDoS"], "scores": [0.1, 0.9]}, "integer 0/1"),
        ({"y_true": [0, 2], "scores": [0.1, 0.9]}, "0 \\(BENIGN\\) / 1"),
        ({"y_true": [0, 1], "scores": [[0.1, 0.9], [0.3, 0.7]]}, "attack_scores"),
        ({"y_true": [0, 1], "scores": [0.1]}, "one per row"),
        ({"y_true": [0, 1], "scores": [0.1, np.nan]}, "finite"),
        ({"y_true": [0, 1], "scores": [0.1, 0.9], "labels": ["DDoS", "DDoS"]}, "y_true=0"),
        ({"y_true": [1, 1], "scores": [0.1, 0.9], "labels": ["BENIGN", "DDoS"]}, "mismatched"),
    ],
    ids=["string-targets", "non-binary", "2d-scores", "length", "nan", "attack-label-on-benign", "benign-on-attack"],
)
def test_binary_report_refuses_bad_input(kwargs, match):
    with pytest.raises(DataError, match=match):
        binary_report(threshold=0.5, **kwargs)


def test_multiclass_report_hand_computed():
    # Arrange: PortScan has no support; DDoS is half right.
    names = ["BENIGN", "DDoS", "PortScan"]
    true = np.array(["BENIGN", "BENIGN", "DDoS", "DDoS"])
    pred = np.array([0, 2, 1, 0])
    # Act
    r = multiclass_report(true, pred, class_names=names)
    # Assert: BENIGN tp1 fp1 fn1 -> F1 0.5; DDoS tp1 fp0 fn1 -> F1 2/3.
    assert r["per_class"]["BENIGN"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["DDoS"]["f1"] == pytest.approx(2 / 3)
    assert r["per_class"]["PortScan"]["recall"] == NO_SUPPORT
    assert r["per_class"]["PortScan"]["precision"] == 0.0  # predicted once, wrongly
    assert r["excluded_from_macro"] == ["PortScan"]
    assert r["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert r["confusion_matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
    assert r["accuracy"] == 0.5


def test_multiclass_macro_f1_matches_sklearn_on_supported_classes():
    rng = np.random.default_rng(5)
    names = ["BENIGN", "Bot", "DDoS", "DoS", "PortScan"]
    ti = rng.choice([0, 2, 3, 4], size=200, p=[0.6, 0.2, 0.1, 0.1])  # "Bot" never occurs
    proba = rng.dirichlet(np.ones(5), size=200)
    proba[np.arange(200), ti] += 0.5 * rng.random(200)
    pred = proba.argmax(axis=1)
    r = multiclass_report(np.array(names)[ti], proba, class_names=names)
    expected = f1_score(ti, pred, labels=[0, 2, 3, 4], average="macro")
    assert r["macro_f1"] == pytest.approx(expected)
    assert r["excluded_from_macro"] == ["Bot"]


@pytest.mark.parametrize(
    ("true", "pred", "match"),
    [
        ([0, 1], [0, 1], "class names"),
        (["BENIGN", "Heartbleed"], [0, 1], "not in the model's label map"),
        (["BENIGN", "DDoS"], [0, 5], "must lie in"),
        (["BENIGN", "DDoS"], ["BENIGN", "DDoS"], "integer class indices"),
    ],
    ids=["int-true", "unknown-class", "index-range", "string-pred"],
)
def test_multiclass_report_never_mixes_names_and_indices(true, pred, match):
    with pytest.raises(DataError, match=match):
        multiclass_report(np.array(true), np.array(pred), class_names=["BENIGN", "DDoS"])


def test_attack_scores_is_one_minus_benign():
    p = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    np.testing.assert_allclose(attack_scores(p, class_names=["DDoS", "BENIGN", "PortScan"]), [0.5, 0.95])
    with pytest.raises(DataError, match="must contain 'BENIGN'"):
        attack_scores(p, class_names=["a", "b", "c"])
