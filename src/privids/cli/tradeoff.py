"""``privids tradeoff``: one DP-SGD model per epsilon plus the non-private one; table, JSON and figure."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from privids.cli._errors import friendly_errors
from privids.exceptions import ConfigError

_out = Console()


def _parse_epsilons(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise ConfigError(f"--epsilons must be comma-separated numbers; got {text!r}. Example: 0.5,1,2,4,8.") from e
    if not values or min(values) <= 0:
        raise ConfigError(f"--epsilons must be positive numbers; got {text!r}. Example: 0.5,1,2,4,8.")
    return values


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _write_outputs(result: Any, out: Path) -> dict[str, str]:
    from privids.privacy.tradeoff_plot import plot_tradeoff

    out.mkdir(parents=True, exist_ok=True)
    rows = result.rows()
    json_path = out / "tradeoff.json"
    json_path.write_text(json.dumps(result.to_dict(), indent=2, default=float), encoding="utf-8")
    csv_path = out / "tradeoff.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fig = plot_tradeoff(result, out / "tradeoff.png")
    return {"json": str(json_path), "csv": str(csv_path), "figure": str(fig)}


def _render(result: Any, files: dict[str, str]) -> None:
    # Models as columns, metrics as rows: five budgets fit a terminal, eleven metric columns do not.
    rows = result.rows()
    support = result.baseline.test["per_label_support"]
    title = f"privacy/utility trade-off, n_train={result.n_train}{' (synthetic data)' if result.synthetic else ''}"
    table = Table(title=title)
    table.add_column("metric (test)")
    for r in rows:
        table.add_column(r["model"].replace("DP ", ""), justify="right")
    for key in [k for k in rows[0] if k != "model"]:
        name = key
        if key.startswith("recall[") and key.endswith("]"):
            label = key[len("recall[") : -1]
            name = f"recall {label} (n={support.get(label, 0)})"
        table.add_row(name, *(_fmt(r[key]) for r in rows))
    _out.print(table)
    _out.print("thresholds chosen on validation; f1_gap_points = 100 x (non-private F1 - F1)")
    for kind, path in files.items():
        _out.print(f"{kind}: {path}")


def register(app: typer.Typer) -> None:
    """Add ``privids tradeoff`` to ``app``."""

    @app.command("tradeoff")
    @friendly_errors
    def tradeoff(
        data: Annotated[Path, typer.Option("--data", help="Flow CSV file or folder (any supported schema).")],
        out: Annotated[Path, typer.Option("--out", help="Directory for tradeoff.json, tradeoff.csv and tradeoff.png.")],
        epsilons: Annotated[str, typer.Option("--epsilons", help="Comma-separated privacy budgets.")] = "0.5,1,2,4,8",
        config: Annotated[
            Path | None,
            typer.Option("--config", help="study.toml (data, train, privacy sections); without it DP uses the tuned recipe."),
        ] = None,
        accountant: Annotated[
            str | None, typer.Option("--accountant", help="rdp or prv (default: the config's or the recipe's).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed for splits, weights, sampling and noise.")] = 42,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of a table.")] = False,
    ) -> None:
        """Train the non-private MLP and one DP-SGD MLP per budget on the same splits, and compare.

        Each DP model is calibrated to spend exactly its epsilon (delta = 1/(10 n) unless the
        config sets one). Reports F1, recall, false-positive rate and recall per attack label.
        Without --config the DP models use privids.privacy.recipes.tuned_privacy(n_train).
        """
        from privids.config import load_run_config
        from privids.features import prepare_data
        from privids.privacy.recipes import tuned_privacy
        from privids.privacy.tradeoff import run_tradeoff

        budgets = _parse_epsilons(epsilons)
        cfg = load_run_config(config)
        prepared = prepare_data(data, cfg.data, rng=seed)
        # Without a study file the DP models use the recipe tuned for this trade-off.
        privacy = cfg.privacy if config is not None else tuned_privacy(len(prepared.train))
        if accountant is not None:
            privacy = dataclasses.replace(privacy, accountant=accountant)
        result = run_tradeoff(prepared, epsilons=budgets, train=cfg.train, privacy=privacy, rng=seed)
        files = _write_outputs(result, out)
        if as_json:
            typer.echo(json.dumps(result.to_dict() | {"files": files}, default=float))
        else:
            _render(result, files)
