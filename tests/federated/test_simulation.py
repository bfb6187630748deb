"""Tests for privids.federated.simulation and server_app: whole federations, faults, privacy statements."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from conftest import make_synthetic, shared_path

from privids.config import FederatedConfig, PrivacyConfig
from privids.exceptions import ConfigError, DataError, FederationError
from privids.federated.client_app import build_client_app
from privids.federated.grid import LocalGrid, local_task_identity
from privids.federated.local import ClientPartition, LocalUpdate
from privids.federated.server_app import ServerSpec, run_rounds
from privids.federated.simulation import run_federation
from privids.federated.strategies import CentralDP
from privids.models.mlp import build_mlp
from privids.privacy.accounting import epsilon_for

pytestmark = pytest.mark.fl

FAST = FederatedConfig(clients=3, rounds=3, lr=1e-2, batch_size=64, seed=0)


def _state(n_features: int = 8, hidden: tuple[int, ...] = (8,), seed: int = 0) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in build_mlp(n_features, hidden=hidden, seed=seed).state_dict().items()}


def _partition(pid: int, n: int, n_features: int = 8, seed: int = 0) -> ClientPartition:
    rng = np.random.default_rng([seed, pid])
    y = (rng.random(n) < 0.4).astype(np.int64)
    X = rng.normal(size=(n, n_features)).astype(np.float32) + 2.0 * y[:, None]
    return ClientPartition(partition_id=pid, X=X, y=y, X_eval=X[:2], y_eval=y[:2])


def _run(parts: list[ClientPartition], spec: ServerSpec, *, overrides=None, initial_state=None):
    by_pid = {p.partition_id: p for p in parts}
    app = build_client_app(lambda ctx: by_pid[int(ctx.node_config["partition-id"])], overrides=overrides)
    nodes = {10 + i: {"partition-id": p.partition_id} for i, p in enumerate(parts)}
    with local_task_identity():
        return run_rounds(LocalGrid(app, nodes), spec=spec, initial_state=initial_state or _state(parts[0].X.shape[1]))


def _spec(**kw) -> ServerSpec:
    base = {"rounds": 1, "train_config": {"local-epochs": 1, "lr": 0.05, "batch-size": 4}, "seed": 3, "expected_clients": 1, "connect_timeout": 0}
    return ServerSpec(**{**base, **kw})


def test_iid_fedavg_learns_the_synthetic_signal():
    data = make_synthetic(n=1500)
    result = run_federation(data, FAST, engine="inprocess", hidden=(16,))
    assert [r.round for r in result.rounds] == [1, 2, 3]
    assert all(r.accepted == (0, 1, 2) and not r.rejected for r in result.rounds)
    assert result.rounds[-1].server["f1"] > 0.85
    assert result.excluded == {}
    assert [p.level for p in result.privacy] == ["none"] * 3 and all(math.isinf(p.epsilon) for p in result.privacy)


def test_same_seed_same_global_model():
    data = make_synthetic(n=900)
    a = run_federation(data, replace(FAST, rounds=2), engine="inprocess", hidden=(8,))
    b = run_federation(data, replace(FAST, rounds=2), engine="inprocess", hidden=(8,))
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert ka == kb and np.array_equal(va.numpy(), vb.numpy())


def _constant(value: float):
    def trainer(model, part, *, settings, rng):
        state = {k: np.full_like(v.detach().numpy(), value) for k, v in model.state_dict().items()}
        return LocalUpdate(state=state, num_examples=len(part), metrics={"train_loss": 0.0})

    return trainer


def test_case17_zero_example_clients_excluded_and_weights_5_8_3_8():
    # Arrange: case 17's sizes, with overrides that send known constant models
    parts = [_partition(0, 5), _partition(1, 0), _partition(2, 0), _partition(3, 3)]
    # Act
    out = _run(parts, _spec(), overrides={0: _constant(1.0), 3: _constant(9.0)})
    # Assert
    assert out.excluded == {1: "0 training examples", 2: "0 training examples"}
    assert out.rounds[0].accepted == (0, 3)
    for v in out.state.values():
        np.testing.assert_allclose(v, 0.625 * 1.0 + 0.375 * 9.0, rtol=1e-6)


def _case17_partitions() -> list[ClientPartition]:
    from privids.data import load_flows
    from privids.data.labels import binary_target
    from privids.features.transforms import FlowTransform

    folder = shared_path("cases", "17-flower-zero-example-clients")
    tables = {}
    for i in range(4):
        try:
            tables[i] = load_flows(folder / f"client_{i}.csv", mode="train")
        except DataError:
            tables[i] = None  # header-only / padding-only file: an organisation with 0 flows
    names = tables[0].feature_names
    raw = np.concatenate([tables[i].matrix(names) for i in (0, 3)])
    transform = FlowTransform.fit(raw, names)
    parts = []
    for i, t in tables.items():
        if t is None:
            parts.append(ClientPartition(partition_id=i, X=np.empty((0, len(names)), np.float32), y=np.empty(0, np.int64)))
        else:
            X = transform.transform(t.matrix(names))
            parts.append(ClientPartition(partition_id=i, X=X, y=binary_target(t.labels), X_eval=X, y_eval=binary_target(t.labels)))
    return parts


@pytest.mark.shared
def test_case17_real_files_fedavg_is_the_5_8_3_8_average_of_the_solo_updates():
    parts = _case17_partitions()
    assert [len(p) for p in parts] == [5, 0, 0, 3]
    init = _state(parts[0].X.shape[1])
    spec = _spec(train_config={"local-epochs": 2, "lr": 0.05, "batch-size": 2})
    # Act: the 4-organisation round, and each non-empty organisation alone (same seeds)
    together = _run(parts, spec, initial_state=init)
    solo0 = _run([parts[0]], spec, initial_state=init)
    solo3 = _run([parts[3]], spec, initial_state=init)
    # Assert
    assert together.excluded == {1: "0 training examples", 2: "0 training examples"}
    for k, v in together.state.items():
        assert np.all(np.isfinite(v))
        np.testing.assert_allclose(v, 0.625 * solo0.state[k] + 0.375 * solo3.state[k], rtol=1e-5, atol=1e-7)
    assert not np.allclose(together.state["net.0.weight"], init["net.0.weight"])


def _crash(model, part, *, settings, rng):
    raise RuntimeError(f"organisation {part.partition_id} lost its disk")


def test_a_crashing_client_lets_the_round_go_on_when_enough_remain():
    parts = [_partition(i, 20) for i in range(3)]
    out = _run(parts, _spec(rounds=2, min_clients=2), overrides={1: _crash})
    assert [r.accepted for r in out.rounds] == [(0, 2), (0, 2)]
    assert out.rounds[0].rejected == {1: "error: RuntimeError: organisation 1 lost its disk"}
    assert all(np.all(np.isfinite(v)) for v in out.state.values())


def test_a_crashing_client_below_the_minimum_is_a_clear_error():
    parts = [_partition(i, 20) for i in range(3)]
    with pytest.raises(FederationError, match=r"round 1: 2 valid update\(s\), fewer than the minimum 3 .*lost its disk"):
        _run(parts, _spec(), overrides={1: _crash})


def test_nan_update_is_rejected_and_the_model_stays_finite():
    parts = [_partition(i, 20) for i in range(3)]
    out = _run(parts, _spec(min_clients=2), overrides={2: _constant(float("nan"))})
    assert out.rounds[0].rejected == {2: "non-finite update (NaN/inf)"}
    assert all(np.all(np.isfinite(v)) for v in out.state.values())


def test_no_organisation_with_data_fails_before_round_one():
    parts = [_partition(i, 0) for i in range(3)]
    with pytest.raises(FederationError, match=r"0 organisation\(s\) have training data .*0 training examples.*minimum 1"):
        _run(parts, _spec())


def test_minimum_above_the_federation_size_fails_fast():
    data = make_synthetic(n=300)
    with pytest.raises(FederationError, match="fewer than the minimum 5"):
        run_federation(data, replace(FAST, rounds=1, min_clients=5), engine="inprocess", hidden=(4,))


def test_unknown_engine_refused():
    with pytest.raises(ConfigError, match=r"engine must be one of \['inprocess', 'simulation'\]; got 'ray'"):
        run_federation(make_synthetic(n=100), FAST, engine="ray")


def test_dp_fedavg_reports_client_level_epsilon_of_what_ran():
    import dp_accounting

    data = make_synthetic(n=900)
    cfg = replace(FAST, central_dp=True, rounds=2)
    result = run_federation(data, cfg, engine="inprocess", hidden=(8,))
    oracle = dp_accounting.rdp.RdpAccountant()
    oracle.compose(dp_accounting.GaussianDpEvent(1.0), 2)
    assert [p.partition_id for p in result.privacy] == [0, 1, 2]
    assert all(p.level == "client" and p.delta == 1e-5 for p in result.privacy)
    assert result.privacy[0].epsilon == pytest.approx(oracle.get_epsilon(1e-5), rel=1e-6)
    assert result.rounds[0].client_epsilon < result.rounds[1].client_epsilon == pytest.approx(result.privacy[0].epsilon)


def test_local_dp_reports_each_organisations_record_level_epsilon():
    # Arrange: unequal organisations, so their epsilons differ
    parts = [_partition(0, 40), _partition(1, 90)]
    privacy = PrivacyConfig(noise_multiplier=1.2, batch_size=16, epochs=1, grad_sample_mode="hooks")
    spec = _spec(rounds=2, local_privacy=privacy, train_config={"local-epochs": 1})
    # Act
    out = _run(parts, spec)
    # Assert: hand-computed schedule q = 1/ceil(n/B), ceil(n/B) steps per epoch, delta = 1/(10 n)
    for stmt, n in zip(out.statements, (40, 90), strict=True):
        steps_per_round = math.ceil(n / 16)
        expected = epsilon_for(sample_rate=1 / steps_per_round, noise_multiplier=1.2, steps=2 * steps_per_round, delta=1 / (10 * n))
        assert stmt.level == "record" and stmt.delta == pytest.approx(1 / (10 * n))
        assert stmt.epsilon == pytest.approx(expected, rel=1e-9)
    assert out.statements[0].epsilon != out.statements[1].epsilon


def test_dp_fedavg_with_local_dp_gives_two_statements_per_organisation():
    parts = [_partition(0, 30), _partition(1, 30)]
    spec = _spec(central_dp=CentralDP(), local_privacy=PrivacyConfig(noise_multiplier=1.0, batch_size=10, epochs=1))
    out = _run(parts, spec)
    assert sorted((s.partition_id, s.level) for s in out.statements) == [(0, "client"), (0, "record"), (1, "client"), (1, "record")]


@pytest.mark.slow
def test_ray_simulation_engine_gives_the_inprocess_model():
    data = make_synthetic(n=300)
    cfg = replace(FAST, clients=2, rounds=1)
    ray_run = run_federation(data, cfg, engine="simulation", hidden=(4,))
    local = run_federation(data, cfg, engine="inprocess", hidden=(4,))
    for k, v in local.model.state_dict().items():
        np.testing.assert_allclose(ray_run.model.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, atol=1e-7)
    assert ray_run.engine == "simulation" and ray_run.rounds[0].accepted == (0, 1)


def test_dp_round_with_a_failed_organisation_is_skipped_and_spends_no_budget():
    # Noise calibrated for 3 updates would be too little for 2, so Flower's strict mode releases
    # nothing; the round is reported as skipped and the accountant composes nothing.
    parts = [_partition(i, 20) for i in range(3)]
    init = _state()
    out = _run(parts, _spec(rounds=2, min_clients=2, central_dp=CentralDP()), overrides={1: _crash}, initial_state=init)
    assert all(r.skipped and r.accepted == (0, 2) for r in out.rounds)
    assert all(s.level == "client" and s.epsilon == 0.0 for s in out.statements)
    for k, v in init.items():
        np.testing.assert_array_equal(out.state[k], v)


def test_local_target_epsilon_is_met_over_all_rounds_not_per_round():
    parts = [_partition(0, 40), _partition(1, 90)]
    spec = _spec(rounds=3, local_privacy=PrivacyConfig(target_epsilon=2.0, batch_size=16, epochs=1, grad_sample_mode="hooks"))
    out = _run(parts, spec)
    assert [s.level for s in out.statements] == ["record", "record"]
    # noise_for_epsilon promises the target to 0.01; composing 3 rounds must not overshoot it
    assert all(1.98 <= s.epsilon <= 2.0 for s in out.statements)
