"""The privids Flower ``ClientApp``: local training and evaluation on one organisation's flows."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from privids.config import PrivacyConfig
from privids.privacy.accounting import default_delta, noise_for_epsilon
from privids.exceptions import ConfigError, DataError, FederationError
from privids.federated.local import (
    NUM_EXAMPLES,
    UNIFORM_WEIGHT,
    ClientPartition,
    LocalSettings,
    LocalTrainer,
    LocalUpdate,
    evaluate_locally,
    model_from_state,
    train_locally,
)

__all__ = ["PartitionLoader", "app", "arrays_to_state", "build_client_app", "load_partition_file", "save_partition_file", "state_to_arrays"]

PartitionLoader = Callable[[Context], ClientPartition]



def save_partition_file(part: ClientPartition, path: str | Path) -> Path:
    """Write one organisation's prepared rows to ``.npz`` (plain arrays, no pickle).

    This is what a SuperNode's ``--node-config "data-path=..."`` points at in a deployment.
    """
    p = Path(path)
    arrays = {"X": part.X, "y": part.y, "X_eval": part.X_eval, "y_eval": part.y_eval, "partition_id": np.array(part.partition_id)}
    np.savez(p, **arrays)
    return p


def load_partition_file(path: str | Path, *, partition_id: int = 0) -> ClientPartition:
    """Read a file written by :func:`save_partition_file` (``allow_pickle=False``).

    Raises
    ------
    DataError
        Missing file or missing arrays.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            X, y = z["X"].astype(np.float32), z["y"].astype(np.int64)
            X_eval = z["X_eval"].astype(np.float32) if "X_eval" in z else np.empty((0, X.shape[1]), np.float32)
            y_eval = z["y_eval"].astype(np.int64) if "y_eval" in z else np.empty(0, np.int64)
    except (OSError, KeyError, ValueError) as e:
        raise DataError(
            f"cannot read the organisation's partition file {p}: {e}; "
            "fix: point --node-config data-path at a file written by privids federate --export."
        ) from e
    return ClientPartition(partition_id=partition_id, X=X, y=y, X_eval=X_eval, y_eval=y_eval)


def _partition_from_node_config(context: Context) -> ClientPartition:
    cfg = context.node_config
    if "data-path" not in cfg:
        raise ConfigError(
            f"this SuperNode has no 'data-path' in its node config; got keys {sorted(cfg)}; "
            "fix: start it with --node-config \"data-path='/path/org.npz' partition-id=0\"."
        )
    return load_partition_file(str(cfg["data-path"]), partition_id=int(cfg.get("partition-id", 0)))


def _settings(config: ConfigRecord, n_examples: int) -> LocalSettings:
    privacy = None
    if int(config.get("local-dp", 0)):
        privacy = _local_privacy(config, n_examples)
    return LocalSettings(
        epochs=int(config.get("local-epochs", 1)),
        batch_size=int(config.get("batch-size", 256)),
        lr=float(config.get("lr", 1e-3)),
        optimizer=str(config.get("optimizer", "adam")),
        momentum=float(config.get("momentum", 0.0)),
        server_round=int(config.get("server-round", 1)),
        privacy=privacy,
    )


def _local_privacy(config: ConfigRecord, n_examples: int) -> PrivacyConfig:
    batch = int(config.get("dp-batch-size", 256))
    epochs = int(config.get("local-epochs", 1))
    delta = float(config.get("dp-delta", 0.0)) or default_delta(max(n_examples, 1))
    sigma = float(config.get("dp-noise-multiplier", 1.1))
    target = float(config.get("dp-target-epsilon", 0.0))
    if target > 0:
        # Calibrate for the whole federation (every round's steps compose), not for one round.
        q = 1.0 / math.ceil(n_examples / min(batch, n_examples))
        steps = epochs * math.ceil(1.0 / q) * int(config.get("num-rounds", 1))
        sigma = noise_for_epsilon(target_epsilon=target, sample_rate=q, steps=steps, delta=delta, accountant="rdp")
    return PrivacyConfig(
        noise_multiplier=sigma,
        max_grad_norm=float(config.get("dp-max-grad-norm", 1.0)),
        delta=delta,
        accountant="rdp",
        grad_sample_mode=str(config.get("dp-grad-sample-mode", "auto")),
        secure_mode=bool(int(config.get("dp-secure-mode", 0))),
        batch_size=batch,
        epochs=epochs,
        lr=float(config.get("dp-lr", 0.05)),
        optimizer=str(config.get("dp-optimizer", "sgd")),
    )


def _rng_for(config: ConfigRecord, partition_id: int) -> np.random.Generator:
    # One stream per (run seed, round, organisation): reproducible, and independent across orgs.
    return np.random.default_rng([int(config.get("seed", 0)), int(config.get("server-round", 1)), partition_id])


def arrays_to_state(arrays: ArrayRecord) -> dict[str, np.ndarray]:
    """An ArrayRecord as a name -> ndarray dict (keys in record order)."""
    return dict(zip(arrays.keys(), arrays.to_numpy_ndarrays(), strict=True))


def state_to_arrays(state: Mapping[str, np.ndarray]) -> ArrayRecord:
    """A name -> ndarray dict as an ArrayRecord (order kept)."""
    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in state.items()})


def _finite_state(state: Mapping[str, np.ndarray]) -> bool:
    return all(np.all(np.isfinite(v)) for v in state.values())


def _reply(msg: Message, update: LocalUpdate, partition_id: int) -> Message:
    metrics: dict[str, float | int] = {k: float(v) for k, v in update.metrics.items()}
    metrics.update(
        {
            NUM_EXAMPLES: int(update.num_examples),
            UNIFORM_WEIGHT: 1.0 if update.num_examples > 0 else 0.0,
            "partition-id": int(partition_id),
            "dp-steps": int(update.dp_steps),
            "dp-sample-rate": float(update.dp_sample_rate),
            "dp-noise-multiplier": float(update.dp_noise_multiplier),
            "dp-delta": float(update.dp_delta),
        }
    )
    return Message(RecordDict({"arrays": state_to_arrays(update.state), "metrics": MetricRecord(metrics)}), reply_to=msg)


def build_client_app(
    load_partition: PartitionLoader | None = None,
    *,
    overrides: Mapping[int, LocalTrainer] | None = None,
) -> ClientApp:
    """Build the privids ``ClientApp``.

    Parameters
    ----------
    load_partition : callable(Context) -> ClientPartition, optional
        Where an organisation's rows come from. Default: the ``.npz`` named by the SuperNode's
        ``--node-config data-path=...`` (deployment). Simulations pass an in-memory loader.
    overrides : mapping of int to LocalTrainer, optional
        Replacement trainers for chosen partition ids (malicious organisations in the attack
        study). A trainer is called like :func:`privids.federated.local.train_locally` and its
        update is sent unchecked, exactly as an attacker would.

    Returns
    -------
    flwr.clientapp.ClientApp
        Handles ``query`` (row counts, so the server can exclude empty organisations before
        sampling), ``train`` and ``evaluate`` messages.
    """
    loader = load_partition or _partition_from_node_config
    custom = dict(overrides or {})
    client = ClientApp()

    @client.query()
    def query(msg: Message, context: Context) -> Message:
        part = loader(context)
        info = MetricRecord(
            {
                NUM_EXAMPLES: len(part),
                "num-eval": int(len(part.y_eval)),
                "num-features": int(part.X.shape[1]) if part.X.ndim == 2 else 0,
                "partition-id": part.partition_id,
            }
        )
        return Message(RecordDict({"info": info}), reply_to=msg)

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        part = loader(context)
        config = msg.content["config"]
        state = arrays_to_state(msg.content["arrays"])
        model = model_from_state(state)
        settings = _settings(config, len(part))
        rng = _rng_for(config, part.partition_id)
        trainer = custom.get(part.partition_id)
        if trainer is not None:
            return _reply(msg, trainer(model, part, settings=settings, rng=rng), part.partition_id)
        update = train_locally(model, part, settings=settings, rng=rng)
        if not _finite_state(update.state) or not all(math.isfinite(v) for v in update.metrics.values()):
            raise FederationError(
                f"organisation {part.partition_id}: local training diverged (non-finite weights) in round "
                f"{settings.server_round}; got lr={settings.lr}; fix: lower the learning rate."
            )
        return _reply(msg, update, part.partition_id)

    @client.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        part = loader(context)
        model = model_from_state(arrays_to_state(msg.content["arrays"]))
        metrics = evaluate_locally(model, part.X_eval, part.y_eval)
        metrics[UNIFORM_WEIGHT] = 1.0 if metrics[NUM_EXAMPLES] else 0.0
        return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)

    return client


# `flwr run .` loads this (pyproject [tool.flwr.app.components]); data comes from node config.
app = build_client_app()
