"""``privids update``: DP-SGD fine-tuning on new flows, refused up front when the ledger's budget would break."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()
_EPSILON = "Epsilon this update may spend on --data (required; checked against the budget before training)."
_BUDGET = "Lifetime epsilon; only on the first update (opens the ledger, fixed afterwards)."
_BUDGET_DELTA = ("Lifetime delta; only on the first update (default: 10 x the larger of the training delta and "
                 "this update's delta, i.e. room for about ten releases).")
_DISJOINT = ("First update only: you assert that every dataset of this model line shares no record with any other "
             "(fingerprints cannot show it), so releases on different datasets compose in parallel (max). "
             "Default: every release composes sequentially (sum).")


def _default_out(model: Path, version: int) -> Path:
    stem = model.name
    base = stem.rsplit("-v", 1)[0] if stem.rsplit("-v", 1)[-1].isdigit() else stem
    return model.parent / f"{base}-v{version}"


def register(app: typer.Typer) -> None:
    """Add ``privids update`` to ``app``."""

    @app.command("update")
    @friendly_errors
    def update(
        model: Annotated[Path, typer.Option("--model", help="Artifact directory of the DP model to fine-tune.")],
        data: Annotated[Path, typer.Option("--data", help="New labelled flows (CSV file, folder or Parquet).")],
        epsilon: Annotated[float, typer.Option("--epsilon", min=0.0, help=_EPSILON)],
        out: Annotated[Path | None, typer.Option("--out", help="New artifact directory (default: MODEL-v<next>).")] = None,
        delta: Annotated[float | None, typer.Option("--delta", help="Delta of this update (default 1/(10 n)).")] = None,
        budget: Annotated[float | None, typer.Option("--budget", help=_BUDGET)] = None,
        budget_delta: Annotated[float | None, typer.Option("--budget-delta", help=_BUDGET_DELTA)] = None,
        disjoint: Annotated[bool, typer.Option("--disjoint", help=_DISJOINT)] = False,
        epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Expected Poisson batch size.")] = 256,
        lr: Annotated[float, typer.Option("--lr", min=0.0)] = 0.05,
        max_grad_norm: Annotated[float, typer.Option("--max-grad-norm", min=0.0)] = 1.0,
        accountant: Annotated[str, typer.Option("--accountant", help="rdp or prv.")] = "rdp",
        seed: Annotated[int, typer.Option("--seed")] = 42,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Fine-tune MODEL on DATA with DP-SGD and write the next artifact version with its privacy ledger.

        The release (epsilon, delta) on DATA is checked against the lifetime budget before any
        training: releases add up (basic composition), unless the first update passes --disjoint to
        assert that the datasets share no record (parallel composition across datasets).
        """
        import torch

        from privids.artifacts import load_artifact
        from privids.config import PrivacyConfig
        from privids.data import load_flows
        from privids.serve.continual import update_artifact

        torch.set_num_threads(1)  # one thread per process: the MLP is tiny and cores are shared

        privacy = PrivacyConfig(target_epsilon=epsilon, noise_multiplier=None, delta=delta, accountant=accountant,
                                batch_size=batch_size, epochs=epochs, lr=lr, max_grad_norm=max_grad_norm)
        artifact = load_artifact(model)
        dest = out or _default_out(model, int(artifact.metadata.get("version", 1)) + 1)
        res = update_artifact(artifact, load_flows(data), privacy=privacy, out=dest, rng=seed,
                              budget_epsilon=budget, budget_delta=budget_delta, disjoint=disjoint)
        totals = res.ledger.totals()
        if as_json:
            typer.echo(json.dumps({"out": str(res.path), "version": res.version, "rows": res.rows,
                                   "skipped": res.skipped, "release": res.release.to_dict(),
                                   "ledger": res.ledger.to_dict()}))
            return
        table = Table(title=f"privacy ledger of {res.path} (v{res.version}); rule: {totals.rule}")
        for col in ("#", "dataset", "epsilon", "delta", "accountant", "time", "note"):
            table.add_column(col)
        for i, r in enumerate(res.ledger.releases, 1):
            table.add_row(str(i), r.dataset[:16], f"{r.epsilon:.4f}", f"{r.delta:.3g}", r.accountant, r.time, r.note)
        _out.print(table)
        _out.print(f"composed total: epsilon={totals.epsilon:.4f}, delta={totals.delta:.3g} "
                   f"(lifetime budget epsilon={res.ledger.budget_epsilon:g}, delta={res.ledger.budget_delta:.3g}); "
                   f"trained on {res.rows} flows, skipped {res.skipped or 'none'}")
