"""Tests for privids.federated.strategies and guard: names, screening, weights, DP noise, accounting."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp.strategy import Bulyan, FedAvg, FedMedian, FedTrimmedAvg, Krum, MultiKrum

from privids.exceptions import ConfigError, FederationError
from privids.federated.grid import LocalGrid, local_task_identity
from privids.federated.guard import GuardedStrategy
from privids.federated.strategies import CentralDP, SeededServerSideFixedClipping, build_strategy, register_strategy, strategy_names

pytestmark = pytest.mark.fl


@pytest.fixture(autouse=True)
def _identity():
    with local_task_identity():
        yield


def _reply(node: int, arrays: dict[str, np.ndarray] | None, n: int, *, error: str | None = None) -> Message:
    instruction = Message(RecordDict({"config": ConfigRecord({})}), node, "train")
    if error is not None:
        return Message(Error(code=1, reason=f"Traceback...\nRuntimeError: {error}"), reply_to=instruction)
    rec = RecordDict({
        "arrays": ArrayRecord({k: Array(np.asarray(v, dtype=np.float32)) for k, v in (arrays or {}).items()}),
        "metrics": MetricRecord({"num-examples": n, "uniform-weight": 1.0 if n else 0.0, "train_loss": 0.1}),
    })  # fmt: skip
    return Message(rec, reply_to=instruction)


def _arrays(result: ArrayRecord) -> dict[str, np.ndarray]:
    return dict(zip(result.keys(), result.to_numpy_ndarrays(), strict=True))


@pytest.mark.parametrize(
    ("name", "cls"),
    [("fedavg", FedAvg), ("krum", Krum), ("multikrum", MultiKrum), ("median", FedMedian), ("trimmed", FedTrimmedAvg), ("bulyan", Bulyan)],
    ids=["fedavg", "krum", "multikrum", "median", "trimmed", "bulyan"],
)
def test_names_build_flower_message_api_strategies(name, cls):
    s = build_strategy(name, min_clients=5)
    assert type(s) is cls
    assert s.min_train_nodes == 5 and s.fraction_train == 1.0


def test_dpfedavg_is_flower_server_side_fixed_clipping_with_an_accountant():
    s = build_strategy("dpfedavg", min_clients=5)
    assert isinstance(s, SeededServerSideFixedClipping)
    assert (s.noise_multiplier, s.clipping_norm, s.num_sampled_clients) == (1.0, 1.0, 5)
    assert s.accountant is not None and s.strategy.weighted_by_key == "uniform-weight"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "fedsgd"}, r"strategy must be one of \[.*'bulyan'.*'fedavg'.*\]; got 'fedsgd'"),
        ({"name": "krum", "dp": CentralDP()}, "central DP is accounted only for FedAvg"),
        ({"name": "trimmed", "alpha": 0.1}, r"takes parameters \['beta'\]; got unknown \['alpha'\]"),
        ({"name": "fedavg", "min_clients": 0}, "min_clients must be a positive integer"),
    ],
    ids=["unknown", "dp-on-krum", "bad-param", "zero-clients"],
)
def test_invalid_strategy_requests_are_refused(kwargs, match):
    kwargs = {"min_clients": 5, **kwargs}
    with pytest.raises(ConfigError, match=match):
        build_strategy(kwargs.pop("name"), **kwargs)


def test_registry_refuses_silent_overwrite():
    with pytest.raises(ConfigError, match="already registered"):
        register_strategy("fedavg", lambda **kw: FedAvg(**kw))
    assert "fedavg" in strategy_names() and strategy_names() == sorted(strategy_names())


def test_case17_zero_example_replies_are_ignored_weights_5_8_and_3_8():
    # Arrange: clients 0..3 with 5, 0, 0, 3 training rows (case 17)
    guard = GuardedStrategy(build_strategy("fedavg", min_clients=2), node_to_partition={1: 0, 2: 1, 3: 2, 4: 3}, min_clients=2)
    a, b = np.full((2, 3), 1.0), np.full((2, 3), 9.0)
    replies = [_reply(1, {"w": a}, 5), _reply(2, {"w": a * 100}, 0), _reply(3, {"w": a * np.nan}, 0), _reply(4, {"w": b}, 3)]
    # Act
    arrays, metrics = guard.aggregate_train(1, replies)
    # Assert: np.average oracle with the example counts as weights
    np.testing.assert_allclose(_arrays(arrays)["w"], np.average([a, b], axis=0, weights=[5, 3]))
    np.testing.assert_allclose(_arrays(arrays)["w"], 0.625 * 1.0 + 0.375 * 9.0)
    assert guard.screens[1].accepted == [0, 3]
    assert guard.screens[1].rejected == {1: "0 training examples", 2: "0 training examples"}
    assert np.isfinite(metrics["train_loss"])


def test_nan_and_inf_updates_are_rejected_before_aggregation():
    guard = GuardedStrategy(build_strategy("fedavg", min_clients=2), node_to_partition={1: 0, 2: 1, 3: 2}, min_clients=2)
    good1, good2 = np.zeros(4), np.full(4, 2.0)
    bad = np.array([1.0, np.inf, 0.0, 0.0])
    arrays, _ = guard.aggregate_train(1, [_reply(1, {"w": good1}, 10), _reply(2, {"w": bad}, 10), _reply(3, {"w": good2}, 10)])
    np.testing.assert_allclose(_arrays(arrays)["w"], 1.0)
    assert guard.screens[1].rejected == {1: "non-finite update (NaN/inf)"}


def test_crashed_client_lets_the_round_go_on_when_enough_remain():
    guard = GuardedStrategy(build_strategy("fedavg", min_clients=2), node_to_partition={1: 0, 2: 1, 3: 2}, min_clients=2)
    arrays, _ = guard.aggregate_train(
        1, [_reply(1, {"w": np.ones(2)}, 1), _reply(2, None, 0, error="disk full"), _reply(3, {"w": np.ones(2) * 3}, 1)]
    )
    np.testing.assert_allclose(_arrays(arrays)["w"], 2.0)
    assert guard.screens[1].rejected == {1: "error: RuntimeError: disk full"}


def test_fewer_valid_updates_than_the_minimum_is_a_clear_error():
    guard = GuardedStrategy(build_strategy("fedavg", min_clients=3), node_to_partition={1: 0, 2: 1, 3: 2}, min_clients=3)
    with pytest.raises(FederationError, match=r"round 4: 2 valid update\(s\), fewer than the minimum 3 \(org 1: error: RuntimeError: boom\)"):
        guard.aggregate_train(4, [_reply(1, {"w": np.ones(2)}, 1), _reply(2, None, 0, error="boom"), _reply(3, {"w": np.ones(2)}, 1)])


def test_evaluation_with_only_empty_clients_gives_none_not_zero_division():
    guard = GuardedStrategy(build_strategy("fedavg", min_clients=1), node_to_partition={1: 0, 2: 1}, min_clients=1)
    assert guard.aggregate_evaluate(1, [_reply(1, None, 0), _reply(2, None, 0)]) is None


def _dp_round(strategy, updates: list[np.ndarray], server_round: int = 1) -> np.ndarray:
    # configure_train records the round's starting arrays (clipping is relative to them) and
    # the pending privacy event, exactly as in a run.
    grid = LocalGrid(ClientApp(), {i + 1: {} for i in range(len(updates))})
    start = ArrayRecord({"w": Array(np.zeros_like(updates[0], dtype=np.float32))})
    list(strategy.configure_train(server_round, start, ConfigRecord({}), grid))
    arrays, _ = strategy.aggregate_train(server_round, [_reply(i + 1, {"w": u}, 7) for i, u in enumerate(updates)])
    return _arrays(arrays)["w"]


def test_dp_fedavg_clips_each_update_and_adds_noise_of_sigma_c_over_n():
    # Arrange: 5 clients whose updates all point along +1 with norm far above C
    n, dim, sigma, clip = 5, 20000, 1.0, 1.0
    s = build_strategy("fedavg", min_clients=n, dp=CentralDP(sigma, clip), rng=0)
    updates = [np.full(dim, 50.0 * (i + 1)) for i in range(n)]
    # Act
    out = _dp_round(s, updates)
    # Assert: each clipped update is C * unit vector, so their uniform mean is that vector
    expected_mean = clip / np.sqrt(dim)
    noise = out - expected_mean
    assert abs(noise.mean()) < 4 * (sigma * clip / n) / np.sqrt(dim)
    assert noise.std() == pytest.approx(sigma * clip / n, rel=0.03)


def test_dp_noise_is_reproducible_from_the_seed_and_secure_mode_is_not():
    updates = [np.zeros(1000) for _ in range(5)]
    a = _dp_round(build_strategy("fedavg", min_clients=5, dp=CentralDP(), rng=7), updates)
    b = _dp_round(build_strategy("fedavg", min_clients=5, dp=CentralDP(), rng=7), updates)
    c = _dp_round(build_strategy("fedavg", min_clients=5, dp=CentralDP(secure_mode=True), rng=7), updates)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert c.std() == pytest.approx(1.0 / 5, rel=0.15)


def test_client_level_epsilon_matches_dp_accounting_rdp_oracle():
    import dp_accounting

    s = build_strategy("fedavg", min_clients=5, dp=CentralDP(noise_multiplier=1.0, delta=1e-5), rng=0)
    for r in range(1, 4):
        _dp_round(s, [np.zeros(3) for _ in range(5)], server_round=r)
    spent = s.privacy_spent()
    oracle = dp_accounting.rdp.RdpAccountant()
    oracle.compose(dp_accounting.GaussianDpEvent(1.0), 3)
    assert spent.num_releases == 3
    assert spent.epsilon == pytest.approx(oracle.get_epsilon(1e-5), rel=1e-6)
    assert spent.epsilon == pytest.approx(9.01, abs=0.01)  # stack-probe: sigma=1, 3 rounds


def test_normbound_clips_without_noise():
    s = build_strategy("normbound", min_clients=2, clipping_norm=1.0)
    out = _dp_round(s, [np.array([3.0, 4.0]), np.array([0.3, 0.4])])
    np.testing.assert_allclose(out, (np.array([0.6, 0.8]) + np.array([0.3, 0.4])) / 2, rtol=1e-6)


def test_unchanged_model_from_a_client_does_not_crash_dp_clipping():
    # Flower 1.42's own clipping divides by the update norm; a zero update must pass unscaled.
    s = build_strategy("normbound", min_clients=2, clipping_norm=1.0)
    out = _dp_round(s, [np.zeros(3), np.array([0.0, 0.0, 4.0])])
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5])


def test_a_sampled_client_that_never_replies_is_reported():
    guard = GuardedStrategy(build_strategy("fedavg", min_clients=2), node_to_partition={1: 0, 2: 1, 3: 2}, min_clients=2)
    grid = LocalGrid(ClientApp(), {1: {}, 2: {}, 3: {}})
    list(guard.configure_train(1, ArrayRecord({"w": Array(np.zeros(2, np.float32))}), ConfigRecord({}), grid))
    guard.aggregate_train(1, [_reply(1, {"w": np.ones(2)}, 1), _reply(3, {"w": np.ones(2)}, 1)])
    assert guard.screens[1].rejected == {1: "no reply within the round timeout"}
    assert guard.screens[1].accepted == [0, 2]
