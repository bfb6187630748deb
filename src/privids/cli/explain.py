"""``privids explain``: which features drive a stored detector, by three methods, and do they agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _render(report: Any, *, model: Path, saved: dict[str, Path] | None) -> None:
    methods = [imp.method for imp in report.importances]
    table = Table(title=f"privids explain: top {report.k} features of {model}")
    table.add_column("rank", justify="right")
    for m in methods:
        table.add_column(m)
    for row in report.top:
        table.add_row(str(row["rank"]), *(f"{row.get(m, '')} ({_fmt(row.get(f'{m}_value'))})" for m in methods))
    _out.print(table)
    agree = Table(title="agreement between methods")
    for col in ("methods", f"top-{report.k} overlap", "Spearman rho (all features)"):
        agree.add_column(col)
    for a in report.agreement:
        agree.add_row(f"{a['a']} vs {a['b']}", _fmt(a["overlap"]), _fmt(a["spearman"]))
    _out.print(agree)
    if report.dropped:
        _out.print(f"dropped (constant), importance 0 by construction: {', '.join(report.dropped)}")
    for note in report.notes:
        _out.print(f"note: {note}")
    if saved:
        _out.print(f"wrote {saved['json']} and {saved['chart']}")


def _render_zero_day(table: Any, *, data: Path) -> None:
    out = Table(title=f"privids zero-day: each attack family held out of training ({table.model}, {data})")
    cols = ("held-out family", "flows", "detected", "+ anomaly feature", "detected OR anomaly", "anomaly alone")
    for col in cols:
        out.add_column(col, justify="left" if col == "held-out family" else "right")
    keys = ("recall_base", "recall_anomaly", "recall_either", "recall_score_only")
    for r in table.rows:
        out.add_row(r["family"], str(r["heldout_rows"]), *(_fmt(r[k]) for k in keys))
    out.add_row("mean", "", *(_fmt(table.mean(k)) for k in keys))
    _out.print(out)
    _out.print(f"thresholds flag {table.target_fpr:.1%} of benign validation flows; see docs/explain.md")


def register(app: typer.Typer) -> None:
    """Add ``privids explain`` and ``privids zero-day`` to ``app``."""

    @app.command("zero-day")
    @friendly_errors
    def zero_day(
        data: Annotated[Path, typer.Option("--data", help="Labelled flows with BENIGN and at least two attack families.")],
        model: Annotated[str, typer.Option("--model", help="Detector: gbt (LightGBM) or mlp.")] = "gbt",
        target_fpr: Annotated[float, typer.Option("--target-fpr", help="Benign validation flows each threshold may flag.")] = 0.01,
        seed: Annotated[int, typer.Option("--seed", help="Seed for the split, the anomaly score and the detectors.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
    ) -> None:
        """Leave-one-attack-family-out: how much of an unseen family is detected, with and without the anomaly score."""
        from privids.config import DataConfig
        from privids.evaluation.zero_day import leave_one_family_out
        from privids.features.pipeline import prepare_data

        prepared = prepare_data(data, DataConfig(seed=seed))
        table = leave_one_family_out(prepared, model=model, target_fpr=target_fpr, rng=seed)
        if as_json:
            typer.echo(json.dumps(table.to_dict()))
            return
        _render_zero_day(table, data=data)

    @app.command("explain")
    @friendly_errors
    def explain(
        model: Annotated[Path, typer.Option("--model", help="Artifact directory written by `privids train`.")],
        data: Annotated[Path, typer.Option("--data", help="Labelled flows: the training data (its test split is used) or unseen flows.")],
        top: Annotated[int, typer.Option("--top", min=1, help="Features per method in the table.")] = 5,
        out: Annotated[Path | None, typer.Option("--out", help="Folder for importance.json and importance.png.")] = None,
        metric: Annotated[str, typer.Option("--metric", help="Permutation importance measures the drop in: roc_auc or f1.")] = "roc_auc",
        repeats: Annotated[int, typer.Option("--repeats", min=1, help="Shuffles per feature.")] = 5,
        seed: Annotated[int, typer.Option("--seed", help="Seed for subsamples, shuffles and SHAP.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    ) -> None:
        """Permutation (test split, any model incl. DP), tree gain and SHAP importance, side by side.

        SHAP is exact TreeSHAP for a LightGBM model and a sampled permutation explainer for the MLP;
        for an MLP the gain column comes from a reference LightGBM fitted on the training split.
        """
        from privids.artifacts import load_artifact
        from privids.evaluation.explain import explain_artifact

        artifact = load_artifact(model)
        report = explain_artifact(artifact, data, top=top, metric=metric, n_repeats=repeats, rng=seed)
        saved = report.save(out) if out is not None else None
        if as_json:
            payload = report.to_dict() | ({"files": {k: str(v) for k, v in saved.items()}} if saved else {})
            typer.echo(json.dumps(payload))
            return
        _render(report, model=model, saved=saved)
