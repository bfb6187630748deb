"""Tests for privids.evaluation.detectors: validation-only thresholds and split evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import make_synthetic

from privids.config import PrivacyConfig, TrainConfig
from privids.evaluation.detectors import evaluate_detector, train_detector
from privids.evaluation.metrics import binary_report
from privids.evaluation.thresholds import choose_threshold
from privids.exceptions import ConfigError, DataError


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n=800, seed=3)


@pytest.mark.parametrize("method", ["f1", "fpr"], ids=["f1", "fpr"])
def test_threshold_comes_from_validation_scores(data, method):
    cfg = TrainConfig(epochs=3, threshold=method, target_fpr=0.05)
    det = train_detector(data, cfg, rng=0)
    expected = choose_threshold(data.val.y, det.predict_scores(data.val.X), method=method, target_fpr=0.05)
    assert det.threshold == expected
    assert len(det.train_losses) == 3 and det.privacy is None


def test_evaluation_applies_the_stored_threshold(data):
    det = train_detector(data, TrainConfig(model="gbt", gbt_estimators=30), rng=0)
    out = evaluate_detector(det, data.test)
    direct = binary_report(data.test.y, det.predict_scores(data.test.X), threshold=det.threshold,
                           labels=data.test.labels, known_labels=det.known_labels)
    assert out["binary"] == direct and out["multiclass"] is None
    assert out["binary"]["f1"] > 0.85


def test_multiclass_evaluation_counts_unseen_families(data):
    det = train_detector(data, TrainConfig(model="gbt", gbt_estimators=20, multiclass=True), rng=0)
    fams = data.test.families.copy()
    fams[:3] = "Heartbleed"
    out = evaluate_detector(det, dataclasses.replace(data.test, families=fams))
    assert out["multiclass"]["unknown_families"] == {"Heartbleed": 3}
    assert out["multiclass"]["n"] == len(data.test) - 3
    assert 0 <= out["binary"]["f1"] <= 1


def test_dp_is_for_the_mlp_only(data):
    with pytest.raises(ConfigError, match="DP-SGD trains the MLP only"):
        train_detector(data, TrainConfig(model="gbt"), privacy=PrivacyConfig(), rng=0)


def test_same_seed_same_detector(data):
    a = train_detector(data, TrainConfig(epochs=1), rng=5)
    b = train_detector(data, TrainConfig(epochs=1), rng=5)
    np.testing.assert_array_equal(a.predict_scores(data.test.X), b.predict_scores(data.test.X))
    assert a.threshold == b.threshold


@pytest.mark.shared
def test_case_11_rare_classes_are_reported_not_zeroed(tmp_path):
    # Case 11: Heartbleed and Sql Injection have one flow each, kept in train only.
    from conftest import shared_path

    from privids.config import DataConfig
    from privids.features import prepare_data

    path = shared_path("cases", "11-rare-classes-split", "rare_classes.csv")
    data = prepare_data(path, DataConfig(cache_dir=str(tmp_path)))
    det = train_detector(data, TrainConfig(model="gbt", multiclass=True, gbt_estimators=20), rng=0)
    out = evaluate_detector(det, data.test)
    per_label = out["binary"]["per_label"]
    assert per_label["Heartbleed"]["detection_rate"] == "n/a (support 0)"
    assert per_label["Web Attack - Sql Injection"]["detection_rate"] == "n/a (support 0)"
    mc = out["multiclass"]
    assert {"Heartbleed", "Web Attack"} <= set(mc["excluded_from_macro"])
    supported = [row["f1"] for row in mc["per_class"].values() if row["support"] > 0]
    assert mc["macro_f1"] == pytest.approx(sum(supported) / len(supported))


@pytest.mark.parametrize("keep", [0, 1], ids=["benign-only", "attack-only"])
def test_single_class_training_split_is_refused(data, keep):
    # All-attack data (e.g. the reserialized attack captures) used to "train" to F1 0.999.
    rows = data.train.y == keep
    train = dataclasses.replace(data.train, X=data.train.X[rows], y=data.train.y[rows],
                                labels=data.train.labels[rows], families=data.train.families[rows])
    missing = "attack" if keep == 0 else "BENIGN"
    with pytest.raises(DataError, match=f"needs both benign and attack flows.*no {missing} flows"):
        train_detector(dataclasses.replace(data, train=train), TrainConfig(epochs=1), rng=0)


def test_multiclass_head_needs_two_families_not_benign(data):
    # Attack-only captures still train a family head (DDoS vs PortScan ...); one family does not.
    attacks = data.train.y == 1
    fams = data.train.families[attacks]
    two = fams == fams[0]
    two[np.flatnonzero(fams != fams[0])[:50]] = True
    keep = np.flatnonzero(attacks)[two]
    train = dataclasses.replace(data.train, X=data.train.X[keep], y=data.train.y[keep],
                                labels=data.train.labels[keep], families=data.train.families[keep])
    det = train_detector(dataclasses.replace(data, train=train), TrainConfig(model="gbt", gbt_estimators=5,
                                                                            multiclass=True), rng=0)
    assert det.task == "multiclass"
    one = np.flatnonzero(attacks)[fams == fams[0]]
    train = dataclasses.replace(data.train, X=data.train.X[one], y=data.train.y[one],
                                labels=data.train.labels[one], families=data.train.families[one])
    with pytest.raises(DataError, match="at least two families"):
        train_detector(dataclasses.replace(data, train=train), TrainConfig(multiclass=True), rng=0)
