"""The privids Flower ``ServerApp``: survey organisations, run the strategy, evaluate centrally."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp

from privids.config import PrivacyConfig
from privids.exceptions import FederationError
from privids.federated.client_app import arrays_to_state, state_to_arrays
from privids.federated.guard import GuardedStrategy
from privids.federated.local import NUM_EXAMPLES, UNIFORM_WEIGHT, evaluate_locally, model_from_state
from privids.federated.strategies import CentralDP, build_strategy, client_level_epsilon
from privids.models.mlp import build_mlp
from privids.privacy.accounting import epsilon_for

__all__ = ["PrivacyStatement", "RoundMetrics", "ServerOutcome", "ServerSpec", "app", "run_rounds"]

_WEIGHT_KEYS = (NUM_EXAMPLES, UNIFORM_WEIGHT)
EvaluateFn = Callable[[int, dict[str, np.ndarray]], dict[str, float]]
ProgressFn = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class ServerSpec:
    """Everything the ServerApp needs, resolved once at the entry point.

    Attributes
    ----------
    rounds : int
    strategy : str
        A :func:`privids.federated.strategies.build_strategy` name.
    strategy_params : dict
    central_dp : CentralDP or None
    local_privacy : PrivacyConfig or None
        Record-level DP-SGD inside each organisation.
    min_clients : int or None
        None: every organisation with data must deliver a valid update each round.
    train_config : dict
        Sent to clients (``local-epochs``, ``lr``, ``batch-size``, ``optimizer``, ``momentum``).
    hidden : tuple of int
    seed : int
    expected_clients : int
        Organisations to wait for before the survey.
    connect_timeout, round_timeout : float
        Seconds; never an unbounded wait.
    """

    rounds: int = 5
    strategy: str = "fedavg"
    strategy_params: dict[str, Any] = field(default_factory=dict)
    central_dp: CentralDP | None = None
    local_privacy: PrivacyConfig | None = None
    min_clients: int | None = None
    train_config: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[int, ...] = (64, 64)
    seed: int = 42
    expected_clients: int = 1
    connect_timeout: float = 60.0
    round_timeout: float = 600.0


@dataclass(frozen=True)
class PrivacyStatement:
    """One organisation's privacy guarantee for the released global model.

    ``level`` is ``"client"`` (DP-FedAvg: the organisation's whole dataset) or ``"record"``
    (local DP-SGD: one flow of that organisation); epsilon is ``inf`` without DP.
    """

    partition_id: int
    level: str
    epsilon: float
    delta: float
    mechanism: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"partition_id": self.partition_id, "level": self.level, "epsilon": self.epsilon, "delta": self.delta, "mechanism": self.mechanism}


@dataclass(frozen=True)
class RoundMetrics:
    """Metrics of one federated round (server-side evaluation of the new global model)."""

    round: int
    server: dict[str, float]
    clients: dict[str, float]
    accepted: tuple[int, ...]
    rejected: dict[int, str]
    client_epsilon: float | None = None
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "round": self.round, "server": self.server, "clients": self.clients, "accepted": list(self.accepted),
            "rejected": {str(k): v for k, v in self.rejected.items()}, "client_epsilon": self.client_epsilon, "skipped": self.skipped,
        }


@dataclass(frozen=True)
class ServerOutcome:
    """What :func:`run_rounds` returns."""

    state: dict[str, np.ndarray]
    rounds: list[RoundMetrics]
    excluded: dict[int, str]
    participants: dict[int, int]
    statements: list[PrivacyStatement]


def _survey(grid: Grid, spec: ServerSpec) -> tuple[dict[int, int], dict[int, str], int]:
    deadline = time.monotonic() + spec.connect_timeout
    while len(list(grid.get_node_ids())) < spec.expected_clients and time.monotonic() < deadline:
        time.sleep(0.5)
    nodes = sorted(grid.get_node_ids())
    if not nodes:
        raise FederationError(f"no organisation connected within {spec.connect_timeout:.0f} s; got 0 SuperNodes; fix: start the SuperNodes first.")
    msgs = [Message(RecordDict({"config": ConfigRecord({"survey": 1})}), n, MessageType.QUERY) for n in nodes]
    replies = list(grid.send_and_receive(msgs, timeout=spec.round_timeout))
    participants: dict[int, int] = {}
    excluded: dict[int, str] = {}
    n_features = 0
    answered = set()
    for r in replies:
        node = r.metadata.src_node_id
        answered.add(node)
        if r.has_error():
            lines = (r.error.reason or "unknown").strip().splitlines() or ["unknown"]
            excluded[node] = f"SuperNode {node}: error while loading data: {lines[-1]}"
            continue
        info = r.content["info"]
        pid = int(info.get("partition-id", node))
        if int(info[NUM_EXAMPLES]) <= 0:
            excluded[pid] = "0 training examples"
            continue
        participants[node] = pid
        n_features = int(info.get("num-features", n_features))
    for node in set(nodes) - answered:
        excluded[node] = f"SuperNode {node}: no reply to the survey"
    return participants, excluded, n_features


def _local_statements(guard: GuardedStrategy, participants: Mapping[int, int]) -> list[PrivacyStatement]:
    out: list[PrivacyStatement] = []
    for pid in sorted(participants.values()):
        # Every round whose update left the organisation counts, accepted by the server or not.
        runs = [s.released[pid] for s in guard.screens.values() if pid in s.released and s.released[pid].get("dp-steps", 0) > 0]
        if not runs:
            continue
        schedules = {(r["dp-noise-multiplier"], r["dp-sample-rate"], r["dp-delta"]) for r in runs}
        steps = sum(int(r["dp-steps"]) for r in runs)
        if len(schedules) == 1:
            sigma, q, delta = schedules.pop()
            eps = epsilon_for(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, accountant="rdp")
        else:
            # Rounds with different schedules compose through one RDP accountant history.
            from opacus.accountants import RDPAccountant

            acc = RDPAccountant()
            acc.history = [(r["dp-noise-multiplier"], r["dp-sample-rate"], int(r["dp-steps"])) for r in runs]
            delta = max(r["dp-delta"] for r in runs)
            eps = float(acc.get_epsilon(delta))
        out.append(PrivacyStatement(pid, "record", eps, delta, f"local DP-SGD (RDP, {steps} steps over {len(runs)} rounds)"))
    return out


def run_rounds(
    grid: Grid,
    *,
    spec: ServerSpec,
    initial_state: dict[str, np.ndarray] | None = None,
    evaluate_fn: EvaluateFn | None = None,
    progress: ProgressFn | None = None,
) -> ServerOutcome:
    """Run a whole federation over ``grid`` (Ray simulation, deployment or :class:`LocalGrid`).

    Steps: a ``query`` survey (row counts; empty organisations are reported and excluded
    before any sampling), the strategy from ``spec`` wrapped in :class:`GuardedStrategy`,
    ``spec.rounds`` rounds of train/evaluate, and server-side evaluation after each round.

    Raises
    ------
    FederationError
        Fewer organisations with data than the minimum, or a round with too few valid updates.
    """
    participants, excluded, n_features = _survey(grid, spec)
    minimum = spec.min_clients if spec.min_clients is not None else len(participants)
    if len(participants) < max(minimum, 1):
        raise FederationError(
            f"{len(participants)} organisation(s) have training data (excluded: {excluded or 'none'}); "
            f"got fewer than the minimum {max(minimum, 1)}; fix: check the partitions or lower --min-clients."
        )
    strategy = build_strategy(
        spec.strategy, min_clients=len(participants), dp=spec.central_dp, rng=np.random.default_rng([spec.seed, 7]), **spec.strategy_params
    )
    guard = GuardedStrategy(strategy, node_to_partition=participants, min_clients=minimum)
    if initial_state is None:
        initial_state = {k: v.numpy() for k, v in build_mlp(n_features, hidden=spec.hidden, seed=spec.seed).state_dict().items()}
    config = dict(spec.train_config)
    config.update({"seed": spec.seed, "num-rounds": spec.rounds})
    if spec.local_privacy is not None:
        p = spec.local_privacy
        config.update({
            "local-dp": 1, "dp-noise-multiplier": float(p.noise_multiplier or 0.0), "dp-target-epsilon": float(p.target_epsilon or 0.0),
            "dp-max-grad-norm": p.max_grad_norm, "dp-delta": float(p.delta or 0.0), "dp-batch-size": p.batch_size,
            "dp-grad-sample-mode": p.grad_sample_mode, "dp-secure-mode": int(p.secure_mode), "dp-lr": p.lr,
            "dp-optimizer": p.optimizer,
        })
    server_metrics: dict[int, dict[str, float]] = {}
    epsilons: dict[int, float | None] = {}

    def _evaluate(rnd: int, arrays: ArrayRecord) -> MetricRecord | None:
        metrics = evaluate_fn(rnd, arrays_to_state(arrays)) if evaluate_fn else {}
        spent = client_level_epsilon(strategy)
        epsilons[rnd] = spent[0] if spent else None
        server_metrics[rnd] = {k: float(v) for k, v in metrics.items()}
        if progress is not None and rnd > 0:
            progress(rnd, spec.rounds, server_metrics[rnd])
        clean = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        return MetricRecord(clean) if clean else None

    result = guard.start(
        grid=grid, initial_arrays=state_to_arrays(initial_state),
        num_rounds=spec.rounds, timeout=spec.round_timeout, train_config=ConfigRecord(config), evaluate_fn=_evaluate,
    )
    rounds = []
    for r in range(1, spec.rounds + 1):
        screen = guard.screens.get(r)
        client = result.evaluate_metrics_clientapp.get(r)
        rounds.append(RoundMetrics(
            round=r, server=server_metrics.get(r, {}), clients={k: float(v) for k, v in (client or {}).items() if not isinstance(v, list) and k not in _WEIGHT_KEYS},
            accepted=tuple(screen.accepted) if screen else (), rejected=dict(screen.rejected) if screen else {},
            client_epsilon=epsilons.get(r), skipped=guard.skipped.get(r, ""),
        ))
    final = arrays_to_state(result.arrays) if len(result.arrays) else dict(initial_state)
    statements = _local_statements(guard, participants) if spec.local_privacy is not None else []
    spent = client_level_epsilon(strategy)
    if spent is not None:
        mech = f"DP-FedAvg (noise {spec.central_dp.noise_multiplier}, clip {spec.central_dp.clipping_norm}, {spent[2]} releases, RDP)"  # type: ignore[union-attr]
        statements = [PrivacyStatement(pid, "client", spent[0], spent[1], mech) for pid in sorted(participants.values())] + statements
    return ServerOutcome(state=final, rounds=rounds, excluded=excluded, participants=participants, statements=statements)


def _spec_from_run_config(cfg: Mapping[str, Any]) -> ServerSpec:
    dp = CentralDP(float(cfg.get("dp-noise-multiplier", 1.0)), float(cfg.get("dp-clipping-norm", 1.0))) if int(cfg.get("central-dp", 0)) else None
    min_nodes = int(cfg.get("min-nodes", 0))
    return ServerSpec(
        rounds=int(cfg.get("num-server-rounds", 3)),
        strategy=str(cfg.get("strategy", "fedavg")),
        central_dp=dp,
        min_clients=min_nodes or None,
        train_config={k: cfg[k] for k in ("local-epochs", "lr", "batch-size", "optimizer", "momentum") if k in cfg},
        seed=int(cfg.get("seed", 42)),
        expected_clients=max(min_nodes, int(cfg.get("expected-nodes", 1))),
        connect_timeout=float(cfg.get("connect-timeout", 60.0)),
        round_timeout=float(cfg.get("round-timeout", 600.0)),
    )


def _evaluate_file(path: str) -> EvaluateFn:
    from privids.federated.client_app import load_partition_file

    part = load_partition_file(path)

    def evaluate(rnd: int, state: dict[str, np.ndarray]) -> dict[str, float]:
        return evaluate_locally(model_from_state(state), part.X, part.y)

    return evaluate


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Entry point for ``flwr run``: the only place the run config is read."""
    spec = _spec_from_run_config(context.run_config)
    eval_path = str(context.run_config.get("eval-path", ""))
    outcome = run_rounds(grid, spec=spec, evaluate_fn=_evaluate_file(eval_path) if eval_path else None)
    for r in outcome.rounds:
        print(f"privids round {r.round}: accepted={list(r.accepted)} rejected={r.rejected} server={r.server} clients={r.clients}", flush=True)
    if outcome.excluded:
        print(f"privids excluded organisations: {outcome.excluded}", flush=True)
