"""Quality targets on the real CIC-IDS2017 MachineLearningCVE samples (dedup, stratified split)."""

from __future__ import annotations

import pytest
from conftest import shared_path

from privids.config import DataConfig, TrainConfig
from privids.evaluation.detectors import evaluate_detector, train_detector
from privids.features import prepare_data

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    folder = shared_path("data", "cicids2017", "machinelearningcve")
    return prepare_data(folder, DataConfig(cache_dir=str(tmp_path_factory.mktemp("cache"))))


def test_default_mlp_reaches_f1_099_on_test(real):
    det = train_detector(real, TrainConfig(), rng=42)
    test = evaluate_detector(det, real.test)["binary"]
    assert test["f1"] >= 0.99
    assert test["fpr"] <= 0.005
    assert test["per_label"]["DDoS"]["detection_rate"] >= 0.99
    assert test["per_label"]["PortScan"]["detection_rate"] >= 0.99


def test_lightgbm_reaches_f1_0995_on_test(real):
    det = train_detector(real, TrainConfig(model="gbt"), rng=42)
    test = evaluate_detector(det, real.test)["binary"]
    assert test["f1"] >= 0.995
    assert test["roc_auc"] >= 0.999


def test_reference_sgd_settings_underfit_these_samples(real):
    # The notebook's SGD 0.01 / 256 / 5 epochs takes ~240 steps here: measured F1 0.78-0.86.
    ref = train_detector(real, TrainConfig(optimizer="sgd", lr=0.01, batch_size=256, epochs=5), rng=42)
    assert evaluate_detector(ref, real.val)["binary"]["f1"] < 0.95


def test_multiclass_families_on_real_samples(real):
    det = train_detector(real, TrainConfig(model="gbt", multiclass=True), rng=42)
    report = evaluate_detector(det, real.test)["multiclass"]
    assert report["class_names"] == ["BENIGN", "DDoS", "PortScan", "Web Attack"]
    assert report["macro_f1"] >= 0.98 and report["excluded_from_macro"] == []
