"""``privids download``: fetch, verify and extract an official dataset archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()


def register(app: typer.Typer) -> None:
    """Add ``privids download`` to ``app``."""

    @app.command("download")
    @friendly_errors
    def download(
        dataset: Annotated[str, typer.Argument(help="Dataset to fetch: cicids2017 (MachineLearningCSV.zip).")] = "cicids2017",
        dest: Annotated[Path, typer.Option("--dest", help="Folder for the archive and the extracted CSV files.")] = Path(
            "data/cicids2017"
        ),
        url: Annotated[str | None, typer.Option("--url", help="Mirror or local URL instead of the official one.")] = None,
        sha256: Annotated[
            str | None,
            typer.Option("--sha256", help="Expected SHA-256 (default: the recorded checksum; 'none': zip CRCs only)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Download the archive (resuming an interrupted run), verify it and extract the CSVs."""
        from privids.data.download import ARCHIVES, download_dataset

        want: str | None = "known" if sha256 is None else (None if sha256.lower() == "none" else sha256)
        spec = ARCHIVES.get(dataset)
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=_out, disable=as_json, transient=False) as bar:
            task = bar.add_task(f"{spec.filename if spec else dataset}", total=spec.size if spec else None)

            def show(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            res = download_dataset(dataset, dest=dest, url=url, sha256=want, size="known" if want == "known" else None,
                                   progress=show)
        if as_json:
            typer.echo(json.dumps({"archive": str(res.archive), "files": [str(p) for p in res.extracted],
                                   "fetched_bytes": res.fetched_bytes, "resumed": res.resumed,
                                   "verification": res.verification}))
            return
        table = Table(title=f"privids download {dataset}")
        table.add_column("item")
        table.add_column("value")
        table.add_row("archive", str(res.archive))
        table.add_row("transferred", f"{res.fetched_bytes:,} bytes" + (" (resumed)" if res.resumed else ""))
        table.add_row("verified", res.verification + ("" if "sha256" in res.verification else "  (no SHA-256 checked: zip CRCs only)"))
        table.add_row("CSV files", f"{len(res.extracted)} in {dest}")
        _out.print(table)
        if spec:
            _out.print(f"Terms and citation: {spec.landing_page}")
