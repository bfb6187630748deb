"""privids update's library: DP fine-tuning, versioned artifacts, and a ledger that refuses before training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import roc_auc_score

from conftest import shared_path
from privids.artifacts import load_artifact
from privids.config import PrivacyConfig
from privids.data import binary_target, load_flows
from privids.exceptions import BudgetExceededError, ConfigError, DataError, ModelError, PrivacyError
from privids.privacy.ledger import Release
from privids.serve.app import create_app
from privids.serve.continual import initial_ledger, plan_update, update_artifact
from privids.serve.tables import score_path
from serve_fixtures import dp_artifact_dir, gbt_artifact_dir, multiclass_artifact_dir  # noqa: F401

pytestmark = pytest.mark.shared

DDOS = ("data", "cicids2017", "machinelearningcve", "friday_ddos_sample_pecord.csv")


def _privacy(eps: float) -> PrivacyConfig:
    return PrivacyConfig(target_epsilon=eps, noise_multiplier=None, batch_size=256, epochs=2, lr=0.1)


@pytest.fixture(scope="module")
def updated(dp_artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    base = load_artifact(dp_artifact_dir)
    table = load_flows(shared_path(*DDOS))
    res = update_artifact(base, table, privacy=_privacy(1.0), out=tmp_path_factory.mktemp("upd") / "v2", rng=0,
                          budget_epsilon=4.0, budget_delta=1e-3, now="2026-01-02T03:04:05+00:00")
    return base, table, res


def test_update_writes_a_new_version_with_the_ledger(updated) -> None:
    base, table, res = updated
    new = load_artifact(res.path)
    assert res.version == 2 and new.metadata["version"] == 2 and new.metadata["parent"]["version"] == 1
    assert new.metadata["metrics"] == {} and new.metadata["parent"]["metrics"] == base.metadata["metrics"]
    assert new.metadata["parent"]["weights_sha256"] == base.metadata["weights"]["sha256"]
    assert new.feature_names == base.feature_names and new.threshold == base.threshold
    assert new.metadata["transform"] == base.metadata["transform"]  # the stored transform, never refitted
    first, second = res.ledger.releases
    assert first.dataset == base.metadata["data"]["fingerprint"] and first.epsilon == base.privacy["epsilon"]
    assert second.dataset == table.fingerprint and second.time == "2026-01-02T03:04:05+00:00"
    # The spent epsilon is what the accountant recomputes, at most the requested 1.0.
    assert second.epsilon == pytest.approx(new.privacy["epsilon"]) and second.epsilon <= 1.0 + 1e-9
    assert second.delta == pytest.approx(1 / (10 * res.rows))
    # Default basic composition: a new fingerprint does not prove disjoint flows, so the total is the sum.
    total = new.metadata["ledger"]["total"]
    assert total["epsilon"] == pytest.approx(first.epsilon + second.epsilon)
    assert total["rule"] == "sequential"
    assert first.level == second.level == "record"
    assert res.rows == len(table)


def test_fine_tuning_learns_the_new_attack(updated) -> None:
    base, table, res = updated
    y = binary_target(table.labels)
    path = shared_path(*DDOS)
    before = roc_auc_score(y, score_path(base, path).probability)
    after = roc_auc_score(y, score_path(load_artifact(res.path), path).probability)
    assert after > before + 0.1


def test_api_model_shows_ledger_and_total_epsilon(updated) -> None:
    _, _, res = updated
    m = TestClient(create_app(load_artifact(res.path))).get("/model").json()
    assert m["version"] == 2 and len(m["ledger"]["releases"]) == 2
    assert m["epsilon_spent"] == pytest.approx(res.ledger.totals().epsilon)


def test_over_budget_update_is_refused_before_training(updated, tmp_path: Path, monkeypatch) -> None:
    _, table, res = updated
    calls: list[int] = []
    import privids.privacy.dp_sgd as dp_sgd

    monkeypatch.setattr(dp_sgd, "dp_fit", lambda *a, **k: calls.append(1))
    v2 = load_artifact(res.path)
    spent = res.ledger.totals().epsilon
    # Same data again: (2.0 + 0.99) + 3.2 > 4.
    with pytest.raises(BudgetExceededError, match=f"remaining: {4.0 - spent:g}\\)"):
        update_artifact(v2, table, privacy=_privacy(3.2), out=tmp_path / "v3", rng=0)
    assert calls == [] and not (tmp_path / "v3").exists()


def test_budget_is_fixed_at_creation(updated, tmp_path: Path) -> None:
    _, table, res = updated
    with pytest.raises(ConfigError, match="fixed at creation"):
        update_artifact(load_artifact(res.path), table, privacy=_privacy(0.1), out=tmp_path / "v3", rng=0,
                        budget_epsilon=100.0)


def test_first_update_needs_a_budget(dp_artifact_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no privacy ledger yet"):
        update_artifact(load_artifact(dp_artifact_dir), load_flows(shared_path(*DDOS)), privacy=_privacy(1.0),
                        out=tmp_path / "v2", rng=0)


def test_existing_output_is_never_overwritten(updated) -> None:
    base, table, res = updated
    with pytest.raises(ConfigError, match="already holds an artifact"):
        update_artifact(base, table, privacy=_privacy(0.1), out=res.path, rng=0, budget_epsilon=4.0)


def test_non_private_model_cannot_join_a_budget(multiclass_artifact_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BudgetExceededError, match="without differential privacy"):
        update_artifact(load_artifact(multiclass_artifact_dir), load_flows(shared_path(*DDOS)),
                        privacy=_privacy(1.0), out=tmp_path / "v2", rng=0, budget_epsilon=8.0)


def test_plan_update_hand_computed() -> None:
    # Initial training eps 2.0 on A; budget 3.0. 0.9 on B -> total max(2, 0.9) = 2; 1.5 on A -> 3.5 > 3.
    meta = {"privacy": {"epsilon": 2.0, "delta": 1e-6, "accountant": "prv"}, "data": {"fingerprint": "A"},
            "created": "2026-01-01T00:00:00+00:00"}
    led = plan_update(meta, Release("B", 0.9, 1e-6), budget_epsilon=3.0, budget_delta=1e-5, disjoint=True)
    assert led.totals().epsilon == 2.0 and led.releases[0].accountant == "prv"
    with pytest.raises(BudgetExceededError):
        plan_update(meta, Release("A", 1.5, 1e-6), budget_epsilon=3.0, budget_delta=1e-5, disjoint=True)
    assert initial_ledger(meta, budget_epsilon=3.0, budget_delta=1e-5).remaining("A") == 1.0
    # Default: sequential, 2.0 + 0.9 on B.
    assert plan_update(meta, Release("B", 0.9, 1e-6), budget_epsilon=3.0, budget_delta=1e-5).totals().epsilon == 2.9


def test_default_budget_delta_admits_the_default_update_delta() -> None:
    # 1,300 update flows: default delta 1/(10 n) = 7.7e-5 is over the old fixed 1e-5 lifetime delta.
    meta = {"privacy": {"epsilon": 1.0, "delta": 1e-6}, "data": {"fingerprint": "A"}}
    led = plan_update(meta, Release("B", 0.5, 1 / 13000), budget_epsilon=3.0)
    assert led.budget_delta == pytest.approx(10 / 13000) and led.totals().delta == pytest.approx(1e-6 + 1 / 13000)


def test_client_level_model_cannot_be_updated() -> None:
    meta = {"privacy": {"level": "client", "epsilon": 2.0, "delta": 1e-5}, "data": {"fingerprint": "A"}}
    with pytest.raises(PrivacyError, match="client-level.*different units"):
        plan_update(meta, Release("B", 0.5, 1e-6), budget_epsilon=8.0)
    with pytest.raises(PrivacyError, match="client-level"):
        initial_ledger(meta, budget_epsilon=8.0, budget_delta=1e-3)


def test_tree_models_cannot_be_fine_tuned(gbt_artifact_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="fine-tunes the MLP"):
        update_artifact(load_artifact(gbt_artifact_dir), load_flows(shared_path(*DDOS)), privacy=_privacy(1.0),
                        out=tmp_path / "v2", rng=0, budget_epsilon=8.0)


def test_a_bare_release_list_is_not_a_ledger() -> None:
    from privids.exceptions import ArtifactError
    from privids.serve.model_info import epsilon_spent, ledger_of

    assert ledger_of({"ledger": []}) is None
    with pytest.raises(ArtifactError, match="lifetime budget"):
        ledger_of({"ledger": [{"dataset": "A", "epsilon": 1.0, "delta": 1e-6}]})
    assert epsilon_spent({"ledger": [], "privacy": {"epsilon": 0.7, "delta": 1e-6}}) == 0.7


def test_multiclass_update_refuses_unknown_families(multiclass_artifact_dir: Path, tmp_path: Path) -> None:
    from privids.exceptions import DataError

    web = shared_path("cases", "02-cp1252-en-dash-labels", "webattacks_utf8.csv")
    with pytest.raises(DataError, match=r"no output for: \['Web Attack'\]"):
        update_artifact(load_artifact(multiclass_artifact_dir), load_flows(web), privacy=_privacy(1.0),
                        out=tmp_path / "v2", rng=0, budget_epsilon=8.0)


def test_update_on_the_training_data_is_refused(dp_artifact_dir: Path, tmp_path: Path) -> None:
    base = load_artifact(dp_artifact_dir)

    class _Same:  # only the fingerprint is read before the refusal
        fingerprint = base.metadata["data"]["fingerprint"]

    with pytest.raises(DataError, match="own training-data fingerprint.*new flows"):
        update_artifact(base, _Same(), privacy=_privacy(0.5), out=tmp_path / "v2", rng=0, budget_epsilon=8.0)
    assert not (tmp_path / "v2").exists()
