"""An in-process Flower ``Grid``: the real ServerApp strategy talks to real ClientApps, no Ray."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

__all__ = ["LocalGrid", "local_task_identity"]

# Flower's ClientAppException code; a crashed ClientApp reply looks the same as on a SuperNode.
_CLIENT_APP_RAISED = 1


@contextmanager
def local_task_identity(run_id: int = 1) -> Iterator[None]:
    """Set Flower's process-wide task identity for an in-process run, restoring it after.

    ``flwr.app.Message`` reads the run id and node id from this identity; the SuperLink sets it
    in a deployment, so an in-process run must set it itself.
    """
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, 0, 0
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


class LocalGrid(Grid):
    """Deliver each message by calling the ClientApp of its destination node in this process.

    Parameters
    ----------
    client_app : flwr.clientapp.ClientApp
    node_configs : mapping of int to dict
        SuperNode id -> node config (``partition-id``, ``num-partitions``, ...).
    run_config : dict, optional
        The run config every ClientApp sees.

    Notes
    -----
    Messages are handled one after the other, so a round costs the sum of the clients' times
    (about 0.1 s each on the tiny model). An exception in a ClientApp becomes an error reply,
    as a SuperNode would send, and the strategy decides whether the round can go on.
    """

    def __init__(self, client_app: ClientApp, node_configs: Mapping[int, dict], *, run_config: dict | None = None) -> None:
        self._app = client_app
        self._run = Run.create_empty(1)
        self._contexts = {
            node: Context(run_id=1, node_id=node, node_config=dict(cfg), state=RecordDict(), run_config=dict(run_config or {}))
            for node, cfg in node_configs.items()
        }
        self._replies: dict[str, Message] = {}
        self._counter = 0

    def set_run(self, run: Run) -> None:
        """Record the run (an in-process grid has exactly one)."""
        self._run = run

    @property
    def run(self) -> Run:
        """Run information."""
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        """A message to one node, as the SuperLink-backed grid would build it."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> list[int]:
        """All simulated SuperNode ids, sorted."""
        return sorted(self._contexts)

    def _next_id(self) -> str:
        self._counter += 1
        return f"local-{self._counter}"

    def push_messages(self, messages: Iterable[Message]) -> list[str]:
        """Run the destination ClientApp for each message now; return reply ids."""
        ids: list[str] = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = self._next_id()
            context = self._contexts[msg.metadata.dst_node_id]
            try:
                reply = self._app(message=msg, context=context)
            except Exception:  # noqa: BLE001 - a crashing client is data, not a server failure
                # The traceback ends with "Type: message", which the server reports.
                reply = Message(Error(code=_CLIENT_APP_RAISED, reason=traceback.format_exc(limit=3)), reply_to=msg)
            reply.metadata.__dict__["_message_id"] = self._next_id()
            self._replies[reply.metadata.message_id] = reply
            ids.append(reply.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> list[Message]:
        """Hand back (and forget) the replies with these ids."""
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        """Push, then pull every reply (in-process delivery cannot time out)."""
        return self.pull_messages(self.push_messages(messages))
