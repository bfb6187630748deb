"""A strategy wrapper that screens replies (errors, empty clients, NaN/inf) before aggregation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from privids.exceptions import FederationError
from privids.federated.local import NUM_EXAMPLES

__all__ = ["GuardedStrategy", "ReplyScreen", "screen_replies"]


@dataclass
class ReplyScreen:
    """What happened to each organisation's reply in one round.

    Attributes
    ----------
    accepted : list of int
        Partition ids whose update was aggregated.
    rejected : dict of int to str
        Partition id -> reason (``"error: ..."``, ``"0 training examples"``, ``"non-finite update"``).
    metrics : dict of int to dict
        Each accepted organisation's own reply metrics (before averaging).
    released : dict of int to dict
        Metrics of every reply that carried an update (accepted or rejected): the update left
        the organisation, so its local privacy cost counts either way.
    """

    accepted: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    released: dict[int, dict[str, float]] = field(default_factory=dict)


def _finite_record(content: RecordDict) -> bool:
    for rec in content.array_records.values():
        if not all(np.all(np.isfinite(a)) for a in rec.to_numpy_ndarrays()):
            return False
    for rec in content.metric_records.values():
        for v in rec.values():
            vals = v if isinstance(v, list) else [v]
            if not all(math.isfinite(float(x)) for x in vals):
                return False
    return True


def screen_replies(replies: Iterable[Message], node_to_partition: Mapping[int, int]) -> tuple[list[Message], ReplyScreen]:
    """Keep replies that carry content, at least one example and only finite numbers.

    Replies come back sorted by partition id, so aggregation order (and the float result) does
    not depend on arrival order or Flower's sampling order.
    """
    screen = ReplyScreen()
    kept: list[tuple[int, Message]] = []
    for msg in replies:
        node = msg.metadata.src_node_id
        pid = int(node_to_partition.get(node, node))
        if msg.has_error():
            lines = (msg.error.reason or "unknown").strip().splitlines() or ["unknown"]
            screen.rejected[pid] = f"error: {lines[-1]}"[:300]
            continue
        metrics = next(iter(msg.content.metric_records.values()), MetricRecord())
        screen.released[pid] = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        n = metrics.get(NUM_EXAMPLES, 0)
        if not isinstance(n, (int, float)) or not n > 0:
            screen.rejected[pid] = "0 training examples"
            continue
        if not _finite_record(msg.content):
            screen.rejected[pid] = "non-finite update (NaN/inf)"
            continue
        kept.append((pid, msg))
        screen.metrics[pid] = {k: float(v) for k, v in metrics.items() if not isinstance(v, list)}
    kept.sort(key=lambda t: t[0])
    screen.accepted = [pid for pid, _ in kept]
    return [m for _, m in kept], screen


class _ParticipantView(Grid):
    """The real grid, showing only the organisations that take part (empty ones left out)."""

    def __init__(self, grid: Grid, nodes: Iterable[int]) -> None:
        self._grid = grid
        self._nodes = set(nodes)

    def set_run(self, run):  # type: ignore[no-untyped-def]
        self._grid.set_run(run)

    @property
    def run(self):  # type: ignore[no-untyped-def]
        return self._grid.run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):  # type: ignore[no-untyped-def]
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> list[int]:
        return sorted(n for n in self._grid.get_node_ids() if n in self._nodes)

    def push_messages(self, messages):  # type: ignore[no-untyped-def]
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids):  # type: ignore[no-untyped-def]
        return self._grid.pull_messages(message_ids)

    def send_and_receive(self, messages, *, timeout=None):  # type: ignore[no-untyped-def]
        return self._grid.send_and_receive(messages, timeout=timeout)


class GuardedStrategy(Strategy):
    """Wrap any Flower strategy so that bad replies never reach its aggregation.

    Per round it samples only the participating organisations (those with training rows),
    drops replies that are errors (a crashed client), report 0 examples, or carry NaN/inf,
    and raises :class:`FederationError` when fewer than ``min_clients`` valid updates remain,
    instead of averaging too few (or waiting forever for nodes that will not come).

    Parameters
    ----------
    inner : Strategy
        The aggregator (FedAvg, a robust rule, or a DP wrapper around one).
    node_to_partition : mapping of int to int
        Participating SuperNode ids -> partition (organisation) ids.
    min_clients : int
        Valid updates needed for a round to count.

    Attributes
    ----------
    screens : dict of int to ReplyScreen
        Training-reply screening per round.
    """

    def __init__(self, inner: Strategy, *, node_to_partition: Mapping[int, int], min_clients: int) -> None:
        self.inner = inner
        self.node_to_partition = dict(node_to_partition)
        self.min_clients = int(min_clients)
        self.screens: dict[int, ReplyScreen] = {}
        self.eval_screens: dict[int, ReplyScreen] = {}
        self.skipped: dict[int, str] = {}
        self._sent: dict[int, set[int]] = {}

    def _view(self, server_round: int, grid: Grid, what: str) -> Grid:
        view = _ParticipantView(grid, self.node_to_partition)
        available = len(view.get_node_ids())
        if available < self.min_clients:
            raise FederationError(
                f"round {server_round}: {available} organisation(s) with data are connected for {what}; "
                f"got fewer than the minimum {self.min_clients}; fix: start more SuperNodes or lower --min-clients."
            )
        return view

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        """Sample only participating organisations."""
        messages = list(self.inner.configure_train(server_round, arrays, config, self._view(server_round, grid, "training")))
        self._sent[server_round] = {m.metadata.dst_node_id for m in messages}
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Screen replies, enforce the minimum, then delegate; the aggregate must be finite."""
        replies = list(replies)
        kept, screen = screen_replies(replies, self.node_to_partition)
        answered = {m.metadata.src_node_id for m in replies}
        for node in sorted(self._sent.pop(server_round, set()) - answered):
            screen.rejected[self.node_to_partition.get(node, node)] = "no reply within the round timeout"
        self.screens[server_round] = screen
        if len(kept) < self.min_clients:
            reasons = "; ".join(f"org {p}: {r}" for p, r in sorted(screen.rejected.items())) or "no replies"
            raise FederationError(
                f"round {server_round}: {len(kept)} valid update(s), fewer than the minimum {self.min_clients} "
                f"({reasons}); fix: lower --min-clients or fix the failing organisations."
            )
        arrays, metrics = self.inner.aggregate_train(server_round, kept)
        if arrays is None:
            self.skipped[server_round] = "the aggregator returned no model (DP requires every sampled client)"
            return None, metrics
        if not all(np.all(np.isfinite(a)) for a in arrays.to_numpy_ndarrays()):
            raise FederationError(
                f"round {server_round}: the aggregated model is not finite; got NaN/inf after aggregation; "
                "fix: lower the learning rate or the DP noise."
            )
        return arrays, metrics

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        """Evaluate on participating organisations only."""
        return self.inner.configure_evaluate(server_round, arrays, config, self._view(server_round, grid, "evaluation"))

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """Average only replies with evaluation rows; None (not 0/0) when there are none."""
        kept, screen = screen_replies(replies, self.node_to_partition)
        self.eval_screens[server_round] = screen
        return self.inner.aggregate_evaluate(server_round, kept) if kept else None

    def summary(self) -> None:
        """Log the wrapped strategy's summary."""
        self.inner.summary()

    def privacy_spent(self):  # type: ignore[no-untyped-def]
        """Client-level privacy spent by the wrapped DP strategy, or None."""
        fn = getattr(self.inner, "privacy_spent", None)
        return fn() if callable(fn) else None
