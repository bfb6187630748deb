"""Tests for privids.federated.client_app, local and grid: the ClientApp as Flower calls it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord, Context, Message, RecordDict

from privids.exceptions import ConfigError, DataError, FederationError, ModelError
from privids.federated.client_app import (
    arrays_to_state,
    build_client_app,
    load_partition_file,
    save_partition_file,
    state_to_arrays,
)
from privids.federated.grid import LocalGrid, local_task_identity
from privids.federated.local import ClientPartition, LocalSettings, model_from_state, train_locally
from privids.models.mlp import build_mlp

pytestmark = pytest.mark.fl


@pytest.fixture(autouse=True)
def _identity():
    with local_task_identity():
        yield


def _part(n: int = 30, pid: int = 0) -> ClientPartition:
    rng = np.random.default_rng(pid)
    y = (rng.random(n) < 0.5).astype(np.int64)
    X = (rng.normal(size=(n, 4)) + 2.0 * y[:, None]).astype(np.float32)
    return ClientPartition(partition_id=pid, X=X, y=y, X_eval=X[:10], y_eval=y[:10])


def _context(node_config: dict) -> Context:
    return Context(run_id=1, node_id=5, node_config=node_config, state=RecordDict(), run_config={})


def _train_message(state: dict, **config) -> Message:
    cfg = ConfigRecord({"server-round": 1, "seed": 0, "lr": 0.05, "batch-size": 8, **config})
    return Message(RecordDict({"arrays": state_to_arrays(state), "config": cfg}), 5, "train")


def _state(seed: int = 0) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in build_mlp(4, hidden=(6,), seed=seed).state_dict().items()}


def test_model_from_state_rebuilds_the_architecture_from_the_arrays():
    ref = build_mlp(7, hidden=(5, 3), n_outputs=2, seed=1)
    model = model_from_state({k: v.numpy() for k, v in ref.state_dict().items()})
    assert (model.n_features, model.hidden, model.n_outputs) == (7, (5, 3), 2)
    x = torch.randn(4, 7)
    assert torch.equal(model(x), ref(x))


def test_model_from_state_refuses_foreign_arrays():
    with pytest.raises(ModelError, match="expected FlowMLP arrays"):
        model_from_state({"conv.weight": np.zeros((2, 2))})


def test_partition_file_round_trip_without_pickle(tmp_path):
    part = _part()
    path = save_partition_file(part, tmp_path / "org.npz")
    back = load_partition_file(path, partition_id=3)
    assert back.partition_id == 3
    assert np.array_equal(back.X, part.X) and np.array_equal(back.y, part.y) and np.array_equal(back.y_eval, part.y_eval)


def test_missing_partition_file_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="data-path"):
        load_partition_file(tmp_path / "nope.npz")


def test_train_reply_is_the_same_as_training_locally_by_hand():
    # Arrange
    part, state = _part(), _state()
    app = build_client_app(lambda ctx: part)
    # Act
    reply = app(message=_train_message(state, **{"local-epochs": 2}), context=_context({}))
    # Assert: oracle = train_locally with the documented per-(seed, round, org) generator
    oracle = train_locally(
        model_from_state(state), part, settings=LocalSettings(epochs=2, batch_size=8, lr=0.05), rng=np.random.default_rng([0, 1, 0])
    )
    got = arrays_to_state(reply.content["arrays"])
    for k, v in oracle.state.items():
        np.testing.assert_array_equal(got[k], v)
    metrics = reply.content["metrics"]
    assert metrics["num-examples"] == 30 and metrics["uniform-weight"] == 1.0 and metrics["partition-id"] == 0


def test_empty_organisation_replies_zero_examples_and_the_unchanged_model():
    empty = ClientPartition(partition_id=2, X=np.empty((0, 4), np.float32), y=np.empty(0, np.int64))
    state = _state()
    reply = build_client_app(lambda ctx: empty)(message=_train_message(state, **{"local-dp": 1}), context=_context({}))
    assert reply.content["metrics"]["num-examples"] == 0 and reply.content["metrics"]["uniform-weight"] == 0.0
    for k, v in arrays_to_state(reply.content["arrays"]).items():
        np.testing.assert_array_equal(v, state[k])


def test_diverging_local_training_fails_loudly_instead_of_sending_nan():
    part = _part()
    bad = dict(part.__dict__)
    bad["X"] = part.X * np.float32(1e30)
    app = build_client_app(lambda ctx: ClientPartition(**bad))
    with pytest.raises(FederationError, match="diverged.*fix: lower the learning rate"):
        app(message=_train_message(_state(), lr=1e6, optimizer="sgd"), context=_context({}))


def test_deployment_client_without_data_path_names_the_node_config_fix():
    app = build_client_app()
    with pytest.raises(ConfigError, match=r"--node-config \"data-path="):
        app(message=Message(RecordDict({"config": ConfigRecord({})}), 5, "query"), context=_context({"partition-id": 0}))


def test_local_grid_turns_a_client_exception_into_an_error_reply():
    def boom(ctx):
        raise RuntimeError("no disk")

    grid = LocalGrid(build_client_app(boom), {1: {}})
    replies = grid.send_and_receive([Message(RecordDict({"config": ConfigRecord({})}), 1, "query")])
    assert len(replies) == 1 and replies[0].has_error()
    assert replies[0].error.reason.strip().splitlines()[-1] == "RuntimeError: no disk"
    assert replies[0].metadata.src_node_id == 1


def test_query_reports_rows_features_and_partition():
    reply = build_client_app(lambda ctx: _part(12, pid=4))(
        message=Message(RecordDict({"config": ConfigRecord({})}), 5, "query"), context=_context({})
    )
    info = reply.content["info"]
    assert (info["num-examples"], info["num-features"], info["partition-id"], info["num-eval"]) == (12, 4, 4, 10)
