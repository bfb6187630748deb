"""Malicious trainers plugged into the real Flower federation (run_federation client_overrides)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import make_synthetic
from privids.attacks.flower_clients import malicious_trainers, run_flower_poisoning
from privids.attacks.local_training import predict_proba
from privids.config import FederatedConfig
from privids.exceptions import ConfigError
from privids.federated.local import ClientPartition, LocalSettings, train_locally
from privids.models.mlp import build_mlp

pytestmark = pytest.mark.fl


def test_sign_flip_trainer_sends_minus_k_times_the_honest_update() -> None:
    # Arrange
    rng = np.random.default_rng(0)
    part = ClientPartition(partition_id=1, X=rng.normal(size=(40, 4)).astype(np.float32), y=rng.integers(0, 2, 40))
    settings = LocalSettings(epochs=1, batch_size=8, lr=0.01)
    model = build_mlp(4, hidden=(8,), seed=0)
    start = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    honest = train_locally(copy.deepcopy(model), part, settings=settings, rng=np.random.default_rng(5))
    trainer = malicious_trainers("sign_flip", [1], n_clients=5, scale_factor=3.0)[1]
    # Act
    bad = trainer(model, part, settings=settings, rng=np.random.default_rng(5))
    # Assert
    assert bad.num_examples == 40
    for k in start:
        np.testing.assert_allclose(bad.state[k] - start[k], -3.0 * (honest.state[k] - start[k]), rtol=1e-4, atol=1e-6)


def test_trainer_ids_validated() -> None:
    with pytest.raises(ConfigError, match=r"partition ids in \[0, 5\); got \[7\]"):
        malicious_trainers("scale", [7], n_clients=5)


def test_flower_federation_sign_flip_fedavg_vs_krum() -> None:
    data = make_synthetic(n=1000, seed=3)
    f1 = {}
    for strategy in ("fedavg", "krum"):
        cfg = FederatedConfig(clients=5, rounds=2, lr=0.01, batch_size=32, strategy=strategy)
        run = run_flower_poisoning(data, cfg, attack="sign_flip", n_attackers=1, rng=0)
        assert len(run.attackers) == 1
        f1[strategy] = f1_score(data.test.y, predict_proba(run.result.model, data.test.X) >= 0.5)
    assert f1["fedavg"] < 0.5 < 0.75 < f1["krum"]
