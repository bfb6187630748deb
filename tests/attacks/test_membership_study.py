"""Targets of the membership study: three real training paths, each with the guarantee it has."""

from __future__ import annotations

import math

import pytest

from conftest import make_synthetic
from privids.attacks.membership_study import membership_targets, run_membership_study
from privids.config import FederatedConfig, PrivacyConfig, TrainConfig
from privids.exceptions import ConfigError

TRAIN = TrainConfig(epochs=2, batch_size=64)
PRIVACY = PrivacyConfig(epochs=1, batch_size=64)


def test_central_dp_federation_carries_its_client_level_epsilon() -> None:
    data = make_synthetic(n=400)
    fed = FederatedConfig(clients=3, rounds=2, central_dp=True, dp_noise_multiplier=1.0, dp_clipping_norm=1.0)
    targets = membership_targets(data, train=TRAIN, privacy=PRIVACY, federated=fed, epsilon=2.0, models=("federated",), rng=0)
    (name, (model, eps, delta)), = targets.items()
    assert name == "federated (central DP)"
    assert eps is not None and math.isfinite(eps) and eps > 0 and 0 < delta < 1


def test_study_table_has_one_row_per_model_and_attack() -> None:
    data = make_synthetic(n=400)
    table = run_membership_study(data, train=TRAIN, privacy=PRIVACY, federated=FederatedConfig(clients=2, rounds=1),
                                 epsilon=1.0, n=40, n_shadows=1, models=("non-private", "dp-sgd"), rng=0)
    assert [(r.model, r.attack) for r in table.rows] == [
        ("non-private", "loss"), ("non-private", "shadow"), ("dp-sgd (eps=1)", "loss"), ("dp-sgd (eps=1)", "shadow")]
    dp = table.row("dp-sgd (eps=1)", "loss")
    assert dp.epsilon == pytest.approx(1.0, rel=0.05)
    assert table.row("non-private", "loss").epsilon is None


@pytest.mark.parametrize(("kw", "match"), [({"models": ("gbt",)}, r"unknown target model\(s\) \['gbt'\]"), ({"epsilon": 0.0}, "epsilon must be a positive")], ids=["model", "epsilon"])
def test_validation(kw, match: str) -> None:  # type: ignore[no-untyped-def]
    args = {"train": TRAIN, "privacy": PRIVACY, "federated": FederatedConfig(), "epsilon": 1.0, **kw}
    with pytest.raises(ConfigError, match=match):
        membership_targets(make_synthetic(n=100), **args)
