"""``privids serve``: the scoring API over one stored model, on loopback unless told otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from privids.cli._errors import friendly_errors

_err = Console(stderr=True)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    """Add ``privids serve`` to ``app``."""

    @app.command("serve")
    @friendly_errors
    def serve(
        model: Annotated[Path, typer.Option("--model", help="Artifact directory written by `privids train` or `privids update`.")],
        host: Annotated[str, typer.Option("--host", help="Interface to bind; loopback by default.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
        max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Largest number of flows per request.")] = 10_000,
        max_bytes: Annotated[int, typer.Option("--max-bytes", min=1, help="Largest request body in bytes.")] = 8 * 1024 * 1024,
    ) -> None:
        """Serve POST /score, GET /health and GET /model (see docs/serving.md)."""
        import torch
        import uvicorn

        from privids.artifacts import load_artifact
        from privids.serve.app import create_app

        torch.set_num_threads(1)  # one thread per process: the MLP is tiny and cores are shared

        api = create_app(load_artifact(model), max_rows=max_rows, max_bytes=max_bytes)
        if host not in _LOOPBACK:
            _err.print(f"[yellow]warning:[/] binding {host}: the API has no authentication; anyone who can reach "
                       "this port can score flows and read the model metadata.")
        uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)
