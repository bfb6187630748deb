"""Run a whole federation on one machine: Flower's Ray simulation engine or an in-process grid."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp
from sklearn.metrics import f1_score, roc_auc_score

from privids._rng import RandomLike, as_generator, child_seed
from privids.config import FederatedConfig, PrivacyConfig
from privids.data.dataset import PreparedData, SplitView
from privids.exceptions import ConfigError, FederationError
from privids.federated.client_app import build_client_app, save_partition_file
from privids.federated.grid import LocalGrid, local_task_identity
from privids.federated.local import ClientPartition, LocalTrainer, model_from_state
from privids.federated.partition import partition_indices, partition_summary
from privids.federated.server_app import PrivacyStatement, RoundMetrics, ServerOutcome, ServerSpec, run_rounds
from privids.federated.strategies import CentralDP
from privids.models.mlp import FlowMLP

__all__ = ["ENGINES", "FederationResult", "detection_metrics", "export_partitions", "make_partitions", "run_federation"]

ENGINES = ("inprocess", "simulation")
ProgressFn = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class FederationResult:
    """The outcome of :func:`run_federation`.

    Attributes
    ----------
    model : FlowMLP
        The final global model.
    rounds : list of RoundMetrics
        Server-side validation metrics, client-side evaluation averages, accepted and rejected
        organisations (with reasons) and the client-level epsilon after each round.
    privacy : list of PrivacyStatement
        One statement per organisation and mechanism: client-level (epsilon, delta) under
        DP-FedAvg, record-level epsilon under local DP-SGD, ``epsilon=inf`` without DP.
    excluded : dict of int to str
        Organisations left out before round 1 (e.g. ``"0 training examples"``), by partition
        id; by SuperNode id when the node did not answer the survey (the reason says so).
    partitions : list of dict
        Training rows per family for each organisation.
    engine : str
    """

    model: FlowMLP
    rounds: list[RoundMetrics]
    privacy: list[PrivacyStatement]
    excluded: dict[int, str]
    partitions: list[dict[str, int]]
    engine: str
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no weights)."""
        return {
            "engine": self.engine, "config": self.config, "excluded": {str(k): v for k, v in self.excluded.items()},
            "partitions": self.partitions, "rounds": [r.to_dict() for r in self.rounds], "privacy": [p.to_dict() for p in self.privacy],
        }


def detection_metrics(model: FlowMLP, split: SplitView, *, threshold: float = 0.5) -> dict[str, float]:
    """Loss-free detection numbers of ``model`` on ``split``: F1, recall, FPR, accuracy, ROC-AUC.

    Computed with scikit-learn directly (``evaluation/`` sits below this layer).
    """
    import torch

    model.eval()
    with torch.no_grad():
        p = torch.sigmoid(model(torch.as_tensor(split.X, dtype=torch.float32))).squeeze(1).numpy()
    pred = (p >= threshold).astype(np.int64)
    y = split.y
    neg = y == 0
    out = {
        "f1": float(f1_score(y, pred, zero_division=0)),
        "recall": float(pred[y == 1].mean()) if (y == 1).any() else float("nan"),
        "fpr": float(pred[neg].mean()) if neg.any() else float("nan"),
        "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
    }
    out["roc_auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return out


def make_partitions(data: PreparedData, cfg: FederatedConfig, *, rng: RandomLike = None) -> list[ClientPartition]:
    """Split train (and validation, for local evaluation) into ``cfg.clients`` organisations.

    Both splits use the same scheme, so an organisation evaluates on flows like its own.
    """
    gen = as_generator(rng)
    train_parts = partition_indices(data.train, clients=cfg.clients, scheme=cfg.partition, rng=child_seed(gen))
    val_parts = partition_indices(data.val, clients=cfg.clients, scheme=cfg.partition, rng=child_seed(gen))
    return [
        ClientPartition(
            partition_id=i, X=data.train.X[t], y=data.train.y[t], X_eval=data.val.X[v], y_eval=data.val.y[v],
            families=data.train.families[t],
        )
        for i, (t, v) in enumerate(zip(train_parts, val_parts, strict=True))
    ]


def export_partitions(data: PreparedData, cfg: FederatedConfig, out_dir: str | Path, *, rng: RandomLike = None) -> list[Path]:
    """Write ``org_<i>.npz`` per organisation, ``server_val.npz`` and ``transform.json``.

    Each SuperNode is then started with ``--node-config "data-path='.../org_<i>.npz'
    partition-id=<i>"``; the ServerApp's run config may name ``eval-path='.../server_val.npz'``.
    Only arrays are written (``allow_pickle=False`` loads them). ``transform.json`` is the
    federation's feature transform: an organisation joining with its own CSV prepares it with
    :func:`privids.federated.organisation.prepare_organisation_file` (``privids federate-org``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = make_partitions(data, cfg, rng=rng if rng is not None else cfg.seed)
    paths = [save_partition_file(p, out / f"org_{p.partition_id}.npz") for p in parts]
    server = ClientPartition(partition_id=-1, X=data.val.X, y=data.val.y, X_eval=data.val.X[:0], y_eval=data.val.y[:0])
    paths.append(save_partition_file(server, out / "server_val.npz"))
    (out / "transform.json").write_text(json.dumps(data.transform.to_dict(), allow_nan=False) + "\n", encoding="utf-8")
    return paths


@dataclass(frozen=True)
class _InMemoryLoader:
    """Hands each simulated SuperNode its own partition (by ``partition-id``)."""

    partitions: tuple[ClientPartition, ...]

    def __call__(self, context: Context) -> ClientPartition:
        return self.partitions[int(context.node_config["partition-id"])]


def _spec(cfg: FederatedConfig, privacy: PrivacyConfig | None, strategy_params: Mapping[str, Any] | None) -> ServerSpec:
    central = CentralDP(cfg.dp_noise_multiplier, cfg.dp_clipping_norm) if cfg.central_dp else None
    local = privacy if cfg.local_dp else None
    if cfg.local_dp and privacy is None:
        local = PrivacyConfig()
    return ServerSpec(
        rounds=cfg.rounds,
        strategy=cfg.strategy,
        strategy_params=dict(strategy_params or {}),
        central_dp=central,
        local_privacy=local,
        min_clients=cfg.min_clients,
        train_config={"local-epochs": cfg.local_epochs, "lr": cfg.lr, "batch-size": cfg.batch_size, "optimizer": "adam"},
        seed=cfg.seed,
        expected_clients=cfg.clients,
        connect_timeout=30.0,
    )


def _ray_env() -> None:
    # Offline and quiet: no telemetry, no update check, no `uv sync` of app dependencies.
    for key, value in (
        ("FLWR_TELEMETRY_ENABLED", "0"), ("FLWR_DISABLE_UPDATE_CHECK", "1"),
        ("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1"), ("RAY_USAGE_STATS_ENABLED", "0"),
    ):
        os.environ.setdefault(key, value)


def run_federation(
    data: PreparedData,
    cfg: FederatedConfig,
    *,
    privacy: PrivacyConfig | None = None,
    engine: str = "simulation",
    rng: RandomLike = None,
    client_overrides: Mapping[int, LocalTrainer] | None = None,
    progress: ProgressFn | None = None,
    strategy_params: Mapping[str, Any] | None = None,
    initial_state: dict[str, np.ndarray] | None = None,
    hidden: tuple[int, ...] = (64, 64),
) -> FederationResult:
    """Train a detector across ``cfg.clients`` organisations with Flower.

    Parameters
    ----------
    data : PreparedData
        One scaler and feature list for everyone (see Notes); the training split is partitioned.
    cfg : FederatedConfig
        Clients, rounds, partition scheme, strategy, central DP (``central_dp``), local DP.
    privacy : PrivacyConfig, optional
        Record-level DP-SGD settings used when ``cfg.local_dp`` (default PrivacyConfig()).
    engine : {"simulation", "inprocess"}, default="simulation"
        ``simulation``: Flower's simulation engine (Ray, one CPU per client).
        ``inprocess``: the same ServerApp logic and ClientApp through :class:`LocalGrid`.
    rng : int, Generator or None
        Partitioning seed.
    client_overrides : mapping of int to LocalTrainer, optional
        Replacement trainers for chosen organisations (see ``build_client_app``).
    progress : callable(round, rounds, metrics), optional
    strategy_params : mapping, optional
        Extra strategy parameters (``num_malicious``, ``beta``, ...).
    initial_state : dict, optional
        Starting global weights (default: ``build_mlp(seed=cfg.seed)``).
    hidden : tuple of int, default=(64, 64)

    Returns
    -------
    FederationResult

    Raises
    ------
    ConfigError
        Unknown engine.
    FederationError
        Too few organisations with data, or a round with too few valid updates.

    Notes
    -----
    Every organisation uses ``data.transform``: a mean/variance scaler fitted on the pooled
    training split equals the one a federation computes from aggregated per-client
    (count, sum, sum of squares) summaries, so no organisation sees another's rows.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {list(ENGINES)}; got {engine!r}.")
    parts = tuple(make_partitions(data, cfg, rng=rng if rng is not None else cfg.seed))
    client_app = build_client_app(_InMemoryLoader(parts), overrides=client_overrides)
    spec = _spec(cfg, privacy, strategy_params)
    if initial_state is None:
        from privids.models.mlp import build_mlp

        initial_state = {k: v.numpy() for k, v in build_mlp(data.train.X.shape[1], hidden=hidden, seed=cfg.seed).state_dict().items()}

    def evaluate(rnd: int, state: dict[str, np.ndarray]) -> dict[str, float]:
        return detection_metrics(model_from_state(state), data.val)

    def drive(grid: Grid) -> ServerOutcome:
        return run_rounds(grid, spec=spec, initial_state=initial_state, evaluate_fn=evaluate, progress=progress)

    outcome = _run_inprocess(client_app, cfg, drive) if engine == "inprocess" else _run_ray(client_app, cfg, drive)
    statements = outcome.statements or [
        PrivacyStatement(pid, "none", float("inf"), 0.0, "no DP") for pid in sorted(outcome.participants.values())
    ]
    return FederationResult(
        model=model_from_state(outcome.state), rounds=outcome.rounds, privacy=statements, excluded=outcome.excluded,
        partitions=_partition_rows(parts), engine=engine,
        config={"clients": cfg.clients, "rounds": cfg.rounds, "partition": cfg.partition, "strategy": cfg.strategy,
                "local_epochs": cfg.local_epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
                "central_dp": cfg.central_dp, "local_dp": cfg.local_dp, "min_clients": cfg.min_clients, "seed": cfg.seed},
    )


def _partition_rows(parts: tuple[ClientPartition, ...]) -> list[dict[str, int]]:
    """Rows per family (or per binary label when families are absent) for each partition."""
    out = []
    for p in parts:
        fams = p.families if p.families is not None else p.y.astype(str)
        split = SplitView(X=p.X, y=p.y, labels=fams, families=fams)
        out.append(partition_summary(split, [np.arange(len(p))])[0])
    return out


def _run_inprocess(client_app: Any, cfg: FederatedConfig, drive: Callable[[Grid], ServerOutcome]) -> ServerOutcome:
    nodes = {i + 1: {"partition-id": i, "num-partitions": cfg.clients} for i in range(cfg.clients)}
    with local_task_identity():
        return drive(LocalGrid(client_app, nodes))


def _run_ray(client_app: Any, cfg: FederatedConfig, drive: Callable[[Grid], ServerOutcome]) -> ServerOutcome:
    _ray_env()
    from flwr.simulation import run_simulation

    holder: dict[str, ServerOutcome] = {}
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        holder["outcome"] = drive(grid)

    run_simulation(
        server_app=server, client_app=client_app, num_supernodes=cfg.clients,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                        "init_args": {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}},
    )
    if "outcome" not in holder:
        raise FederationError("the Flower simulation ended without a result; got no ServerApp outcome; fix: see the log above.")
    return holder["outcome"]
