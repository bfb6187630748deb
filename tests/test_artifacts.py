"""Tests for privids.artifacts: safetensors/LightGBM-text + JSON, identical predictions, no pickle."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import make_synthetic

from privids.artifacts import ARTIFACT_FORMAT, METADATA_FILE, load_artifact, save_artifact, save_detector
from privids.config import TrainConfig
from privids.evaluation.detectors import evaluate_detector, train_detector
from privids.exceptions import ArtifactError


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n=600, seed=0)


_CASES = {
    "mlp-binary": TrainConfig(epochs=2),
    "mlp-multiclass": TrainConfig(epochs=2, multiclass=True),
    "gbt-binary": TrainConfig(model="gbt", gbt_estimators=30),
    "gbt-multiclass": TrainConfig(model="gbt", gbt_estimators=20, multiclass=True),
}


@pytest.mark.parametrize("cfg", list(_CASES.values()), ids=list(_CASES))
def test_save_load_predict_is_identical(tmp_path, data, cfg):
    # Arrange
    det = train_detector(data, cfg, rng=0)
    # Act
    save_detector(tmp_path / "a", det, data, train_cfg=cfg)
    art = load_artifact(tmp_path / "a")
    # Assert
    np.testing.assert_array_equal(art.predict_scores(data.test.X), det.predict_scores(data.test.X))
    assert art.kind == cfg.model and art.task == det.task
    assert art.class_names == det.class_names and art.threshold == det.threshold
    assert evaluate_detector(art, data.test) == evaluate_detector(det, data.test)


def test_metadata_records_what_scoring_and_auditing_need(tmp_path, data):
    cfg = TrainConfig(epochs=1)
    det = train_detector(data, cfg, rng=0)
    save_detector(tmp_path, det, data, train_cfg=cfg)
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    assert meta["format"] == ARTIFACT_FORMAT and meta["kind"] == "mlp"
    assert meta["feature_names"] == list(data.feature_names)
    assert meta["transform"] == data.transform.to_dict()
    assert meta["label_map"] == {"0": "BENIGN", "1": "attack"}
    assert meta["family_names"] == list(data.family_names)
    assert meta["privacy"] is None and meta["ledger"] == []
    assert meta["data"]["fingerprint"] == data.fingerprint and meta["data"]["synthetic"] is True
    assert meta["training"]["config"]["epochs"] == 1 and len(meta["training"]["losses"]) == 1
    assert meta["model"] == {"n_features": 8, "hidden": [64, 64], "n_outputs": 1}
    assert meta["privids_version"] and meta["created"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [METADATA_FILE, "model.safetensors"]


def test_loading_never_unpickles(tmp_path, data, monkeypatch):
    det = train_detector(data, TrainConfig(epochs=1), rng=0)
    save_detector(tmp_path, det, data, train_cfg=TrainConfig(epochs=1))

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert load_artifact(tmp_path).kind == "mlp"


def test_a_pickle_checkpoint_is_refused(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(ArtifactError, match=r"model\.pt.*pickle-based checkpoints are refused"):
        load_artifact(tmp_path)
    with pytest.raises(ArtifactError, match="found nothing"):
        load_artifact(tmp_path / "missing")


def test_tampered_weights_are_detected(tmp_path, data):
    det = train_detector(data, TrainConfig(epochs=1), rng=0)
    save_detector(tmp_path, det, data, train_cfg=TrainConfig(epochs=1))
    other = train_detector(data, TrainConfig(epochs=1), rng=1)
    save_detector(tmp_path / "b", other, data, train_cfg=TrainConfig(epochs=1))
    (tmp_path / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(ArtifactError, match="do not match the recorded SHA-256"):
        load_artifact(tmp_path)


def test_metadata_must_be_complete_strict_json(tmp_path, data):
    det = train_detector(data, TrainConfig(epochs=1), rng=0)
    base = {"feature_names": list(data.feature_names), "transform": {}, "label_map": {"0": "BENIGN", "1": "attack"},
            "task": "binary"}
    with pytest.raises(ArtifactError, match=r"missing \['threshold'\]"):
        save_artifact(tmp_path, model=det.model, kind="mlp", metadata=base)
    with pytest.raises(ArtifactError, match="strict JSON"):
        save_artifact(tmp_path, model=det.model, kind="mlp", metadata=base | {"threshold": float("nan")})
    with pytest.raises(ArtifactError, match=r"kind must be one of \['gbt', 'mlp'\]"):
        save_artifact(tmp_path, model=det.model, kind="svm", metadata=base | {"threshold": 0.5})
    with pytest.raises(ArtifactError, match="needs a GBTModel"):
        save_artifact(tmp_path, model=det.model, kind="gbt", metadata=base | {"threshold": 0.5})
    with pytest.raises(ArtifactError, match="feature list has 3"):
        save_artifact(tmp_path, model=det.model, kind="mlp", metadata=base | {"threshold": 0.5, "feature_names": ["a", "b", "c"]})


def test_other_formats_are_refused(tmp_path, data):
    det = train_detector(data, TrainConfig(epochs=1), rng=0)
    save_detector(tmp_path, det, data, train_cfg=TrainConfig(epochs=1))
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    (tmp_path / METADATA_FILE).write_text(json.dumps(meta | {"format": "skops/0"}))
    with pytest.raises(ArtifactError, match="got format 'skops/0'"):
        load_artifact(tmp_path)
    (tmp_path / METADATA_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        load_artifact(tmp_path)


def test_privacy_and_ledger_are_kept(tmp_path, data):
    det = train_detector(data, TrainConfig(model="gbt", gbt_estimators=10), rng=0)
    meta = {"feature_names": list(data.feature_names), "transform": data.transform.to_dict(), "task": "binary",
            "label_map": {"0": "BENIGN", "1": "attack"}, "threshold": det.threshold,
            "privacy": {"epsilon": 1.0, "delta": 1e-5}, "ledger": [{"epsilon": 1.0, "dataset": "x"}]}
    save_artifact(tmp_path, model=det.model, kind="gbt", metadata=meta)
    art = load_artifact(tmp_path)
    assert art.privacy == {"epsilon": 1.0, "delta": 1e-5}
    assert art.metadata["ledger"] == [{"epsilon": 1.0, "dataset": "x"}]


def test_evaluate_artifact_refuses_a_split_it_cannot_rebuild(tmp_path, monkeypatch):
    # Arrange: a model trained on a file, whose stored transform is then changed by hand.
    from privids.artifacts import evaluate_artifact, train_to_artifact
    from privids.config import DataConfig
    from privids.data.demo import generate_demo_flows

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    generate_demo_flows(900, rng=2, path=tmp_path / "flows.csv")
    run = train_to_artifact(tmp_path / "flows.csv", tmp_path / "m", train_cfg=TrainConfig(model="gbt", gbt_estimators=20),
                            data_cfg=DataConfig())
    assert evaluate_artifact(run.artifact_dir, tmp_path / "flows.csv")["binary"] == run.metrics["test"]["binary"]
    meta_path = run.artifact_dir / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["transform"]["mean"][0] += 1.0
    meta_path.write_text(json.dumps(meta))
    # Act / Assert
    with pytest.raises(ArtifactError, match="rebuilt transform differs"):
        evaluate_artifact(run.artifact_dir, tmp_path / "flows.csv")


def test_failed_save_leaves_no_partial_directory(tmp_path, data):
    # Finding: an inf epsilon failed the metadata write after the weights were on disk.
    det = train_detector(data, TrainConfig(epochs=1), rng=0)
    base = {"feature_names": list(data.feature_names), "transform": {}, "label_map": {"0": "BENIGN", "1": "attack"},
            "task": "binary", "threshold": 0.5}
    dest = tmp_path / "model"
    with pytest.raises(ArtifactError, match="strict JSON"):
        save_artifact(dest, model=det.model, kind="mlp", metadata=base | {"privacy": {"epsilon": float("inf")}})
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    # Into an existing directory: nothing is added on failure, everything on success.
    dest.mkdir()
    with pytest.raises(ArtifactError, match="strict JSON"):
        save_artifact(dest, model=det.model, kind="mlp", metadata=base | {"threshold": float("nan")})
    assert list(dest.iterdir()) == [] and list(tmp_path.iterdir()) == [dest]
    save_artifact(dest, model=det.model, kind="mlp", metadata=base)
    assert load_artifact(dest).threshold == 0.5 and list(tmp_path.iterdir()) == [dest]
