"""``privids score``: one alert row per input flow, from a stored model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()
_PREVIEW = 10


def _privacy_lines(metadata: dict[str, Any]) -> list[str]:
    from privids.artifacts.runs import privacy_total
    from privids.cli.train import _fmt, privacy_total_line

    total, last = privacy_total(metadata), metadata.get("privacy")
    lines = [privacy_total_line(total)] if total else []
    if last:
        shown = ", ".join(f"{k}={_fmt(last[k])}" for k in ("epsilon", "delta", "accountant") if k in last)
        lines.append(f"{'last release' if total else 'privacy spent'}: {shown}")
    elif not total:
        lines.append("privacy: non-private training (no DP guarantee)")
    return lines


def _render(result: object, *, model: Path, written: str | None, as_json: bool,
            metadata: dict[str, Any] | None = None) -> None:
    from privids.artifacts.runs import privacy_total
    from privids.serve.scoring import ScoreResult

    assert isinstance(result, ScoreResult)
    counts = result.counts()
    meta = metadata or {}
    if as_json:
        typer.echo(json.dumps({"model": str(model), "rows": len(result), "counts": counts, "out": written,
                               "privacy": meta.get("privacy"), "privacy_total": privacy_total(meta)},
                              default=str))
        return
    table = Table(title=f"{len(result)} flows scored")
    for col in ("verdict", "flows"):
        table.add_column(col)
    for verdict, n in counts.items():
        table.add_row(verdict, str(n))
    _out.print(table)
    attacks = [r for r in result.to_records() if r["verdict"] != "benign"][:_PREVIEW]
    if attacks:
        preview = Table(title=f"first {len(attacks)} attack/unscored rows")
        keys = [k for k in ("row", "source_line", "src_ip", "dst_ip", "probability", "verdict", "family", "reason")
                if k in attacks[0]]
        for k in keys:
            preview.add_column(k)
        for r in attacks:
            preview.add_row(*("" if r[k] is None else (f"{r[k]:.4f}" if k == "probability" else str(r[k])) for k in keys))
        _out.print(preview)
    for line in _privacy_lines(meta):
        _out.print(line)
    if written:
        _out.print(f"alerts written to {written}")


def register(app: typer.Typer) -> None:
    """Add ``privids score`` to ``app``."""

    @app.command("score")
    @friendly_errors
    def score(
        flows: Annotated[Path, typer.Argument(help="CSV file, folder of CSVs or Parquet file of flows (any supported schema).")],
        model: Annotated[Path, typer.Option("--model", help="Artifact directory written by `privids train` or `privids update`.")],
        out: Annotated[str | None, typer.Option("--out", help="Alerts file (.jsonl or .csv); '-' writes JSON lines to stdout.")] = None,
        fmt: Annotated[str | None, typer.Option("--format", help="jsonl or csv (default: from the --out suffix).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Score every flow with the stored feature list and transform (never refitted).

        One result per input row, in input order: probability, verdict, attack family when the
        model has one, the flow identifiers when present, and the reason for any unscorable row.
        """
        import torch

        from privids.artifacts import load_artifact
        from privids.serve.scoring import write_alerts
        from privids.serve.tables import score_path

        torch.set_num_threads(1)  # one thread per process: the MLP is tiny and cores are shared

        artifact = load_artifact(model)
        result = score_path(artifact, flows)
        if out == "-":
            write_alerts(result, sys.stdout.buffer, fmt=fmt)
            return
        written = write_alerts(result, out, fmt=fmt) if out else None
        _render(result, model=model, written=written, as_json=as_json, metadata=artifact.metadata)
