"""``privids federate``: train across organisations with Flower and show what each round did."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from privids.cli._errors import friendly_errors

_out = Console()


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "inf" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:.4f}")
    return str(v)


def _json(obj: Any) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), default=str)


def _round_table(result: Any) -> Table:
    table = Table(title=f"privids federate: {result.config['clients']} organisations, partition {result.config['partition']}, {result.engine}")
    for col in ("round", "val F1", "recall", "FPR", "ROC-AUC", "client loss", "accepted", "rejected", "client eps"):
        table.add_column(col, justify="right" if col not in ("accepted", "rejected") else "left")
    for r in result.rounds:
        s = r.server
        rejected = "; ".join(f"{k}: {v}" for k, v in r.rejected.items()) or ("skipped: " + r.skipped if r.skipped else "")
        table.add_row(
            str(r.round), _fmt(s.get("f1")), _fmt(s.get("recall")), _fmt(s.get("fpr")), _fmt(s.get("roc_auc")),
            _fmt(r.clients.get("eval_loss")), ",".join(map(str, r.accepted)), rejected, _fmt(r.client_epsilon),
        )  # fmt: skip
    return table


def _org_table(result: Any) -> Table:
    table = Table(title="organisations: data and privacy statement")
    for col in ("org", "train flows", "attack families", "guarantee", "epsilon", "delta", "mechanism"):
        table.add_column(col)
    stmts: dict[int, list[Any]] = {}
    for p in result.privacy:
        stmts.setdefault(p.partition_id, []).append(p)
    for pid, rows in enumerate(result.partitions):
        fams = ", ".join(f"{k} {v}" for k, v in rows.items() if k not in ("total", "BENIGN")) or "none"
        mine = stmts.get(pid) or [None]
        for i, st in enumerate(mine):
            head = (str(pid), str(rows["total"]), fams) if i == 0 else ("", "", "")
            if st is None:
                table.add_row(*head, "excluded", "-", "-", result.excluded.get(pid, "-"))
            else:
                table.add_row(*head, st.level, _fmt(st.epsilon), f"{st.delta:.3g}", st.mechanism)
    return table


def _compare_table(comparison: Any) -> Table:
    table = Table(title=f"variants on the same test split ({comparison.test_rows} flows)")
    fams = sorted({f for r in comparison.rows for f in r.per_attack_recall})
    for col in ("variant", "partition", "F1", "recall", "FPR", *[f"recall {f}" for f in fams], "epsilon", "level"):
        table.add_column(col, justify="left" if col in ("variant", "partition", "level") else "right")
    for r in comparison.rows:
        table.add_row(
            r.variant, r.partition, _fmt(r.f1), _fmt(r.recall), _fmt(r.fpr),
            *[_fmt(r.per_attack_recall.get(f)) for f in fams], _fmt(r.epsilon), r.level,
        )  # fmt: skip
    return table


def _privacy_metadata(result: Any) -> dict[str, Any] | None:
    # The artifact's headline guarantee is the weakest one any organisation got.
    stmts = [p for p in result.privacy if p.level != "none"]
    if not stmts:
        return None
    worst = max(stmts, key=lambda p: (p.epsilon, p.delta))
    return {
        "epsilon": worst.epsilon, "delta": worst.delta, "level": worst.level, "mechanism": worst.mechanism,
        "per_organisation": [p.to_dict() for p in stmts],
    }


def _save(result: Any, prepared: Any, out: Path) -> Path:
    from privids.artifacts import save_artifact
    from privids.federated import score_model

    threshold = score_model(result.model, prepared.val, prepared.val)["threshold"]
    meta = {
        "task": "binary",
        "feature_names": list(prepared.feature_names),
        "transform": prepared.transform.to_dict(),
        "label_map": {"0": "BENIGN", "1": "attack"},
        "family_names": list(prepared.family_names),
        "labels": sorted({str(v) for v in prepared.train.labels}),
        "threshold": threshold,
        "threshold_method": "f1",
        "privacy": _privacy_metadata(result),
        "data": {"fingerprint": prepared.fingerprint, "synthetic": prepared.synthetic},
        "federated": json.loads(_json(result.to_dict())),
    }
    return save_artifact(out, model=result.model, kind="mlp", metadata=meta)


def register(app: typer.Typer) -> None:
    """Add ``privids federate`` to ``app``."""

    @app.command("federate")
    @friendly_errors
    def federate(
        data: Annotated[Path, typer.Option("--data", help="Flow CSV file or folder (any supported schema).")],
        clients: Annotated[int, typer.Option("--clients", help="Organisations.")] = 5,
        rounds: Annotated[int, typer.Option("--rounds", help="Federated rounds.")] = 5,
        partition: Annotated[str, typer.Option("--partition", help="iid, day, family or dirichlet:ALPHA.")] = "iid",
        strategy: Annotated[str, typer.Option("--strategy", help="fedavg, krum, multikrum, median, trimmed, bulyan.")] = "fedavg",
        local_epochs: Annotated[int, typer.Option("--local-epochs", help="Local epochs per round.")] = 5,
        lr: Annotated[float, typer.Option("--lr", help="Local Adam learning rate.")] = 3e-3,
        batch_size: Annotated[int, typer.Option("--batch-size", help="Local batch size.")] = 128,
        dp: Annotated[bool, typer.Option("--dp", help="DP-FedAvg: clip each update, Gaussian noise at the server.")] = False,
        dp_noise: Annotated[float, typer.Option("--dp-noise", help="DP-FedAvg noise multiplier.")] = 1.0,
        dp_clip: Annotated[float, typer.Option("--dp-clip", help="DP-FedAvg clipping norm.")] = 1.0,
        local_dp: Annotated[bool, typer.Option("--local-dp", help="Record-level DP-SGD inside every organisation.")] = False,
        local_noise: Annotated[float, typer.Option("--local-noise", help="Local DP-SGD noise multiplier.")] = 1.1,
        local_epsilon: Annotated[float | None, typer.Option("--local-epsilon", help="Calibrate local noise to this record-level epsilon over all rounds.")] = None,
        local_batch: Annotated[int, typer.Option("--local-batch", help="Local DP-SGD expected batch size.")] = 256,
        min_clients: Annotated[int | None, typer.Option("--min-clients", help="Valid updates needed per round (default: all with data).")] = None,
        engine: Annotated[str, typer.Option("--engine", help="simulation (Flower/Ray) or inprocess.")] = "simulation",
        compare: Annotated[bool, typer.Option("--compare", help="Also train centralised, DP-SGD, FedAvg and DP-FedAvg and compare on the test split.")] = False,
        export: Annotated[Path | None, typer.Option("--export", help="Write one .npz per organisation for a SuperNode deployment, then stop.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Save the global model as an artifact directory (privids score/serve read it).")] = None,
        seed: Annotated[int, typer.Option("--seed")] = 42,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Train the detector across organisations with Flower; only model updates travel.

        Prints a per-round table (server-side validation metrics, accepted and rejected
        organisations with reasons, client-level epsilon) and one privacy statement per
        organisation. See docs/federated.md.
        """
        from privids.config import FederatedConfig, PrivacyConfig
        from privids.features.pipeline import prepare_data

        cfg = FederatedConfig(
            clients=clients, rounds=rounds, partition=partition, local_epochs=local_epochs, lr=lr, batch_size=batch_size,
            strategy=strategy, central_dp=dp, dp_noise_multiplier=dp_noise, dp_clipping_norm=dp_clip, local_dp=local_dp,
            min_clients=min_clients, seed=seed,
        )  # fmt: skip
        privacy = PrivacyConfig(noise_multiplier=local_noise, target_epsilon=local_epsilon, batch_size=local_batch, epochs=local_epochs)
        import flwr.supercore  # noqa: F401 - sets up Flower's logger, which we then quieten

        # Flower logs every message at INFO on stdout; the tables below say what matters, and
        # --json output must stay parseable.
        logging.getLogger("flwr").setLevel(logging.WARNING)
        prepared = prepare_data(data, rng=seed)
        if export is not None:
            from privids.federated import export_partitions

            paths = export_partitions(prepared, cfg, export)
            typer.echo(json.dumps({"written": [str(p) for p in paths]}) if as_json else "\n".join(map(str, paths)))
            return
        if compare:
            from privids.federated.compare import compare_variants

            with _out.status("training the four variants...") as status:
                # The centralised DP-SGD row uses the study's tuned settings (epsilon 1), not the
                # local-DP flags, which describe training inside one organisation.
                comparison = compare_variants(
                    prepared, privacy=None if not local_dp else privacy, federated=cfg, partitions=(partition,) if partition != "iid" else ("iid", "family"),
                    engine=engine, rng=seed, progress=lambda v: status.update(f"training {v}..."),
                )  # fmt: skip
            if as_json:
                typer.echo(_json(comparison.to_dict()))
            else:
                _out.print(_compare_table(comparison))
            return
        from privids.federated.simulation import run_federation

        with Progress(TextColumn("[bold]federated rounds"), BarColumn(), TextColumn("{task.completed}/{task.total} {task.description}"),
                      TimeElapsedColumn(), console=_out, disable=as_json, transient=True) as bar:  # fmt: skip
            task = bar.add_task("", total=rounds)
            result = run_federation(
                prepared, cfg, privacy=privacy, engine=engine, rng=seed,
                progress=lambda r, total, m: bar.update(task, completed=r, description=f"val F1 {m.get('f1', float('nan')):.4f}"),
            )  # fmt: skip
        saved = _save(result, prepared, out) if out is not None else None
        if as_json:
            typer.echo(_json({**result.to_dict(), "artifact": str(saved) if saved else None}))
            return
        _out.print(_round_table(result))
        _out.print(_org_table(result))
        if result.excluded:
            _out.print("excluded before round 1: " + "; ".join(f"org {k}: {v}" for k, v in result.excluded.items()))
        if saved is not None:
            _out.print(f"global model saved to {saved}")

    @app.command("federate-org")
    @friendly_errors
    def federate_org(
        data: Annotated[Path, typer.Option("--data", help="This organisation's flow CSV file or folder.")],
        summary: Annotated[Path | None, typer.Option("--summary", help="Step 1: write this organisation's feature summary (JSON) for the coordinator.")] = None,
        transform: Annotated[Path | None, typer.Option("--transform", help="Step 2: the federation's transform.json (from the coordinator).")] = None,
        org_id: Annotated[int, typer.Option("--org-id", help="This organisation's partition id.")] = 0,
        out: Annotated[Path | None, typer.Option("--out", help="Step 2: partition file for the SuperNode's --node-config data-path.")] = None,
        seed: Annotated[int, typer.Option("--seed")] = 42,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """An organisation's side of a deployment: summarise its flows, then prepare them.

        Step 1 (--summary) shares only per-feature counts, extremes, means and spreads; step 2
        (--transform, --out) applies the federation's merged transform (nothing is refitted).
        """
        from privids.exceptions import ConfigError

        if summary is not None:
            from privids.federated import organisation_summary, write_summary

            path = write_summary(organisation_summary(data), summary)
            typer.echo(json.dumps({"summary": str(path)}) if as_json else f"organisation summary written to {path}")
            return
        if transform is None or out is None:
            raise ConfigError("federate-org needs --summary FILE (step 1) or --transform FILE --out FILE (step 2); got neither.")
        from privids.federated import load_partition_file, prepare_organisation_file

        path = prepare_organisation_file(data, transform, out, partition_id=org_id, rng=seed)
        part = load_partition_file(path, partition_id=org_id)
        info = {"out": str(path), "train_flows": len(part), "attacks": int(part.y.sum()), "eval_flows": int(len(part.y_eval))}
        if as_json:
            typer.echo(json.dumps(info))
        else:
            _out.print(f"organisation {org_id}: {info['train_flows']} training flows ({info['attacks']} attacks), "
                       f"{info['eval_flows']} for local evaluation -> {path}")  # fmt: skip

    @app.command("federate-merge")
    @friendly_errors
    def federate_merge(
        summaries: Annotated[list[Path], typer.Argument(help="Organisation summaries from `privids federate-org --summary`.")],
        out: Annotated[Path, typer.Option("--out", help="The federation's transform.json, sent to every organisation.")],
        no_port: Annotated[bool, typer.Option("--no-destination-port", help="Leave Destination Port out of the features.")] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """The coordinator merges the summaries into one feature list and transform (no rows needed)."""
        from privids.federated import merge_summaries, read_summary, write_transform

        merged = merge_summaries([read_summary(p) for p in summaries], use_destination_port=not no_port)
        path = write_transform(merged, out)
        info = {"out": str(path), "organisations": len(summaries), "features": len(merged.feature_names)}
        typer.echo(json.dumps(info) if as_json else f"transform over {info['features']} features from {info['organisations']} summaries -> {path}")
