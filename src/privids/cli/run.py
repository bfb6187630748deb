"""``privids run``: the whole study in one command, ending with a summary table."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()

_SYNTHETIC_NOTE = (
    "[bold yellow]Synthetic data:[/] no --data given, so the study runs on flows generated from per-class "
    "statistics of CIC-IDS2017 (the built-in demo). The numbers show how the study works, not how a detector "
    "performs on real traffic."
)


def _quiet_flower() -> None:
    # Flower logs every round at INFO through its own handler, and sets its level when first
    # imported; import it first, then lower it, so the console shows the study's progress instead.
    try:
        import flwr.common.logger  # noqa: F401
    except ImportError:
        return
    logging.getLogger("flwr").setLevel(logging.WARNING)


def register(app: typer.Typer) -> None:
    """Add ``privids run`` to ``app``."""

    @app.command("run")
    @friendly_errors
    def run(
        data: Annotated[Path | None, typer.Option("--data", help="Flow CSV file or folder (default: the synthetic demo).")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="study.toml (see `privids config show`).")] = None,
        out: Annotated[Path, typer.Option("--out", help="Output folder for report.html, metrics.json and models.")] = Path(
            "runs/demo"
        ),
        only: Annotated[
            str | None,
            typer.Option("--only", help="Comma-separated steps: centralised,privacy,federated,attacks,membership,importance."),
        ] = None,
        quick: Annotated[bool, typer.Option("--quick", help="Poisoning matrix on the first attacker setting only.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Run the study end to end and write a self-contained report.html and metrics.json."""
        import torch

        from privids.config import load_run_config
        from privids.report.study import run_study

        torch.set_num_threads(1)
        _quiet_flower()
        cfg = load_run_config(config)
        if data is None and not as_json:
            _out.print(_SYNTHETIC_NOTE)

        with _out.status("preparing flows", spinner="dots") as status:

            def progress(step: str, message: str) -> None:
                if message == "running":
                    status.update(f"{step} ...")
                elif message.startswith("running: "):
                    status.update(f"{step}: {message[len('running: '):]}")
                elif not as_json:
                    _out.print(f"  {step}: {message}")

            steps = None if only is None else [s.strip() for s in only.split(",") if s.strip()]
            res = run_study(cfg, out_dir=out, data_path=data, steps_to_run=steps, quick=quick, progress=progress)
        if as_json:
            typer.echo(json.dumps({"report": str(res.report), "metrics": str(res.metrics), "synthetic": res.synthetic,
                                   "steps": {s.name: s.status for s in res.steps}, "summary": res.summary}))
            return
        steps_table = Table(title="privids run: steps")
        for col in ("step", "status", "seconds", "detail"):
            steps_table.add_column(col)
        for s in res.steps:
            colour = {"ok": "green", "failed": "red"}.get(s.status, "yellow")
            steps_table.add_row(s.name, f"[{colour}]{s.status}[/]", f"{s.seconds:.1f}", s.detail[:80])
        _out.print(steps_table)
        summary = Table(title="privids run: summary" + (" (SYNTHETIC demo data)" if res.synthetic else ""))
        summary.add_column("result")
        summary.add_column("value", justify="right")
        for k, v in res.summary.items():
            summary.add_row(k, "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v))
        _out.print(summary)
        _out.print(f"report:  {res.report}\nmetrics: {res.metrics}\nmodels:  {res.out_dir / 'models'}")
        if res.synthetic:
            _out.print("[yellow]Reminder: these results come from synthetic demo data; use --data for real flows.[/]")
