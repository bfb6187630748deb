"""Tests for privids.models.gbt (LightGBM reference) and the trainer registry."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_synthetic
from sklearn.metrics import roc_auc_score

from privids.config import TrainConfig
from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.models.gbt import GBTModel, train_gbt
from privids.models.registry import get_trainer, register_trainer, trainer_names
from privids.models.train import train_mlp

_CFG = TrainConfig(model="gbt", gbt_estimators=60, gbt_leaves=15)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n=900, seed=1)


def test_binary_trees_separate_the_signal(data):
    model = train_gbt(data, _CFG, rng=0)
    s = model.predict_scores(data.test.X)
    assert s.shape == (len(data.test),) and ((s >= 0) & (s <= 1)).all()
    assert roc_auc_score(data.test.y, s) > 0.97


def test_same_seed_same_trees_and_text_round_trip(data):
    a = train_gbt(data, _CFG, rng=3)
    b = train_gbt(data, _CFG, rng=3)
    assert a.to_string() == b.to_string()
    back = GBTModel.from_string(a.to_string())
    np.testing.assert_array_equal(back.predict_scores(data.test.X), a.predict_scores(data.test.X))


def test_multiclass_trees_give_probability_rows(data):
    model = train_gbt(data, TrainConfig(model="gbt", multiclass=True, gbt_estimators=40), rng=0)
    p = model.predict_scores(data.test.X)
    assert p.shape == (len(data.test), len(data.family_names)) and model.n_outputs == len(data.family_names)
    np.testing.assert_allclose(p.sum(1), 1.0)
    truth = data.family_index(data.test.families)
    assert (p.argmax(1) == truth).mean() > 0.85


def test_bad_inputs_are_refused(data):
    with pytest.raises(ConfigError, match="n_jobs must be 1 or 2"):
        train_gbt(data, _CFG, rng=0, n_jobs=4)
    with pytest.raises(ArtifactError, match="not a LightGBM text model"):
        GBTModel.from_string("import os; os.system('x')")
    model = train_gbt(data, _CFG, rng=0)
    with pytest.raises(DataError, match=r"shape \(n, 8\)"):
        model.predict_scores(np.zeros((3, 5)))


def test_registry_lists_and_refuses_silent_overwrite():
    assert trainer_names() == ["gbt", "mlp"]
    assert get_trainer("mlp") is train_mlp
    with pytest.raises(ConfigError, match=r"one of \['gbt', 'mlp'\]; got 'svm'"):
        get_trainer("svm")
    with pytest.raises(ConfigError, match="already registered"):
        register_trainer("mlp", train_gbt)
    register_trainer("mlp", train_mlp, force=True)
    assert get_trainer("mlp") is train_mlp
