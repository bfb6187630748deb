"""``privids data inspect``: the data report of flow files as tables, or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()


def _lines(entry: dict[str, Any]) -> str:
    if not entry.get("count"):
        return "0"
    shown = ", ".join(map(str, entry["lines"][:3]))
    return f"{entry['count']} (line {shown}{', ...' if entry['count'] > 3 else ''})"


def _files_table(report: dict[str, Any]) -> Table:
    t = Table(title="files (line numbers count the header as line 1)")
    for col in ("file", "schema", "flows", "padding", "headers", "no label", "non-finite", "dropped", "notes"):
        t.add_column(col)
    for f in report["files"]:
        notes = ", ".join(n for n, on in (("BOM", f["bom"]), ("CRLF", f["crlf"])) if on)
        t.add_row(f["path"], f["schema"], f"{f['rows']:,}", _lines(f["padding_rows"]), _lines(f["repeated_headers"]),
                  _lines(f["empty_labels"]), _lines(f["nonfinite_rows"]), str(sum(f["dropped"].values())), notes)  # fmt: skip
    return t


def _labels_table(report: dict[str, Any]) -> Table:
    split = report.get("split", {}).get("labels", {})
    t = Table(title="labels (after loading" + (", and per split)" if split else ")"))
    t.add_column("label")
    t.add_column("rows loaded", justify="right")
    for name in ("train", "val", "test") if split else ():
        t.add_column(name, justify="right")
    for label, n in report["totals"]["label_counts"].items():
        t.add_row(label, f"{n:,}", *(str(split[k].get(label, 0)) for k in ("train", "val", "test") if split))
    return t


def _repairs_table(report: dict[str, Any]) -> Table:
    t = Table(title="repaired, dropped or excluded, and why")
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_column("details")
    tot = report["totals"]
    for col, kinds in tot["nonfinite"].items():
        t.add_row(f"non-finite cells in {col}", str(sum(kinds.values())),
                  ", ".join(f"{v} {k}" for k, v in kinds.items() if v))  # fmt: skip
    for col, n in tot["negatives"].items():
        rule = "'not observed' sentinel -> -1" if col.startswith("Init_Win") else "clipped to 0 by the transform"
        t.add_row(f"negative values in {col}", str(n), rule)
    spellings: dict[str, int] = {}
    for f in report["files"]:
        for raw, v in f["label_spellings"].items():
            key = f"{raw!r} -> {v['canonical']!r}"
            spellings[key] = spellings.get(key, 0) + v["rows"]
    for key, n in spellings.items():
        t.add_row("label spelling normalised", str(n), key)
    if tot["duplicate_column_conflicts"]:
        t.add_row("Fwd Header Length copies differ", str(tot["duplicate_column_conflicts"]), "first copy kept")
    for reason, n in tot["dropped"].items():
        t.add_row(f"rows dropped: {reason}", str(n), f"policy: {report['nonfinite_policy']}" if "finite" in reason else "")
    dup = report.get("duplicates")
    if dup:
        t.add_row("exact duplicate flows removed", str(dup["removed"]),
                  ", ".join(f"{k} {v}" for k, v in dup["removed_per_label"].items()))  # fmt: skip
        t.add_row("duplicate features, conflicting labels (kept)", str(dup["conflicting_rows"]),
                  f"{dup['conflicting_groups']} groups")  # fmt: skip
    feats = report.get("features")
    if feats:
        t.add_row("constant columns left out", str(len(feats["constant"])), ", ".join(feats["constant"]))
    rare = report.get("split", {}).get("rare")
    if rare:
        t.add_row("classes too small to stratify", str(len(rare)),
                  f"{rare} -> policy {report['split']['rare_policy']}")  # fmt: skip
    return t


def _render(report: dict[str, Any]) -> None:
    tot = report["totals"]
    _out.print(f"{tot['files']} file(s), {tot['bytes'] / 2**20:.1f} MiB, {tot['data_lines']:,} data lines, "
               f"{tot['rows']:,} flows loaded ({report['mode']} mode)")  # fmt: skip
    _out.print(_files_table(report))
    _out.print(_labels_table(report))
    _out.print(_repairs_table(report))
    split = report.get("split")
    if split:
        sizes = split["sizes"]
        feats = report["features"]
        _out.print(f"{split['kind']} split: train {sizes['train']:,}, val {sizes['val']:,}, test {sizes['test']:,}; "
                   f"{feats['n_chosen']} features")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``privids data`` command group to ``app``."""
    data_app = typer.Typer(help="Inspect flow data: schemas, quirks, labels, duplicates, splits.", no_args_is_help=True)

    @data_app.command("inspect")
    @friendly_errors
    def inspect(
        path: Annotated[Path, typer.Argument(help="CSV file, folder of CSVs, Parquet file or the official zip.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
        score: Annotated[bool, typer.Option("--score", help="Inspect as scoring input (labels optional, no split).")] = False,
        split: Annotated[str, typer.Option("--split", help="stratified or time.")] = "stratified",
        nonfinite: Annotated[str, typer.Option("--nonfinite", help="drop or impute rows with Infinity/NaN.")] = "drop",
        cache_dir: Annotated[str | None, typer.Option("--cache-dir", help="Content-keyed cache folder.")] = None,
    ) -> None:
        """Print the data report: rows per file and label, everything dropped or repaired and why, split sizes."""
        from privids.config import DataConfig
        from privids.features import data_report

        cfg = DataConfig(split=split, nonfinite=nonfinite, cache_dir=cache_dir)
        report = data_report(path, cfg, mode="score" if score else "train")
        if as_json:
            typer.echo(json.dumps(report, indent=2, default=str))
        else:
            _render(report)

    app.add_typer(data_app, name="data")
