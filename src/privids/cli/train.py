"""``privids train`` and ``privids evaluate``: centralised detectors to artifacts, honest metrics."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from privids.cli._errors import friendly_errors
from privids.exceptions import ConfigError, PrivacyError

_out = Console()
_err = Console(stderr=True)

_SUMMARY = (
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall (detection rate)"),
    ("f1", "F1"),
    ("fpr", "false-alarm rate"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        # delta is typically 1e-5 or smaller: fixed-point would print it as 0.0000.
        return f"{value:.3g}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def _summary_table(title: str, reports: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    for name in reports:
        table.add_column(name, justify="right")
    for key, label in _SUMMARY:
        table.add_row(label, *(_fmt(r["binary"][key]) for r in reports.values()))
    for name, r in reports.items():
        c = r["binary"]["confusion"]
        table.caption = (table.caption + "; " if table.caption else "") + (
            f"{name}: tn={c['tn']} fp={c['fp']} fn={c['fn']} tp={c['tp']}"
        )
    macro = [r.get("multiclass") for r in reports.values()]
    if any(macro):
        table.add_row("macro-F1 (families)", *(_fmt(m["macro_f1"]) if m else "" for m in macro))
    return table


def _label_table(report: dict[str, Any], *, split: str) -> Table:
    table = Table(title=f"detection rate per attack label ({split})")
    for col in ("label", "support", "detected", "detection rate"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, row in report["binary"].get("per_label", {}).items():
        table.add_row(label, str(row["support"]), str(row["detected"]), _fmt(row["detection_rate"]))
    return table


def _render(metrics: dict[str, Any], reports: dict[str, dict[str, Any]], *, title: str, written: Path) -> None:
    _out.print(_summary_table(title, reports))
    split, last = list(reports.items())[-1]
    _out.print(_label_table(last, split=split))
    privacy = metrics.get("privacy")
    total = metrics.get("privacy_total")
    if total:
        # An updated model's guarantee is the ledger's composed total, not its last release.
        _out.print(privacy_total_line(total))
    if privacy:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in privacy.items() if not isinstance(v, dict | list))
        _out.print(f"{'last release' if total else 'privacy spent'}: {shown}")
    elif not total:
        _out.print("privacy: non-private training (no DP guarantee)")
    _out.print(f"threshold {metrics['threshold']:.6g} (chosen on validation); metrics written to {written}")


def privacy_total_line(total: dict[str, Any]) -> str:
    """One line for the model line's composed privacy (``privids.artifacts.runs.privacy_total``)."""
    return (f"privacy of the model (composed total): epsilon={_fmt(float(total['epsilon']))}, "
            f"delta={_fmt(float(total['delta']))}, rule {total['rule']}, {total['releases']} release(s), "
            f"level {'/'.join(total.get('levels') or ['record'])}")


def _parse_hidden(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as e:
        raise ConfigError(f"--hidden must be comma-separated layer widths such as 64,64; got {text!r}.") from e
    if not widths or min(widths) <= 0:
        raise ConfigError(f"--hidden needs at least one positive width, such as 64,64; got {text!r}.")
    return widths


def _parse_windows(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        windows = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as e:
        raise ConfigError(f"--temporal-windows must be comma-separated seconds such as 60,300; got {text!r}.") from e
    if not windows or min(windows) <= 0:
        raise ConfigError(f"--temporal-windows needs at least one positive length in seconds, such as 60,300; got {text!r}.")
    return windows


def _batch_for_data(cfg: Any, *, given: bool, scale: bool, notes: list[str]) -> Any:
    """The DP config as a function of the training-split size (called by ``train_to_artifact``).

    The study's expected batch (2048) was tuned on 12 295 training flows; on a smaller split it
    is capped at ``n_train // 6`` as :func:`privids.privacy.recipes.tuned_privacy` does, keeping
    the sampling rate near the tuned one. A batch the user chose with ``--batch-size`` is never
    changed: one larger than the split is refused naming the flag.
    """

    def resolve(n_train: int) -> Any:
        if not given and scale:
            cap = max(1, n_train // 6)
            if cfg.batch_size > cap:
                notes.append(f"DP expected batch lowered from {cfg.batch_size} to {cap} (n_train // 6 for "
                             f"{n_train} training flows, as tuned_privacy does); pass --batch-size to choose it.")
                return dataclasses.replace(cfg, batch_size=cap)
        if cfg.batch_size > n_train:
            source = "--batch-size" if given else "the --reference batch"
            raise PrivacyError(f"DP-SGD's expected batch must be at most the training split's {n_train} flows; got "
                               f"{source} {cfg.batch_size}. Pass --batch-size {max(1, n_train // 6)} (n_train // 6) "
                               "or smaller.")
        return cfg

    return resolve


def _override(cfg: Any, **values: Any) -> Any:
    given = {k: v for k, v in values.items() if v is not None}
    return dataclasses.replace(cfg, **given) if given else cfg


def register(app: typer.Typer) -> None:
    """Add ``privids train`` and ``privids evaluate`` to ``app``."""

    @app.command("train")
    @friendly_errors
    def train(
        data: Annotated[Path, typer.Option("--data", help="Flow CSV file or folder (any supported schema).")],
        out: Annotated[Path, typer.Option("--out", help="Artifact directory to write.")],
        model: Annotated[str | None, typer.Option("--model", help="mlp or gbt (LightGBM).")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="study.toml; flags override it.")] = None,
        multiclass: Annotated[bool | None, typer.Option("--multiclass/--binary", help="Head over attack families.")] = None,
        reference: Annotated[
            bool, typer.Option("--reference", help="The reference notebook's settings: SGD, lr 0.01, batch 256, 5 epochs (with --dp also noise 1.1, clip 1.0, delta 1e-5).")
        ] = False,
        optimizer: Annotated[str | None, typer.Option("--optimizer", help="sgd or adam.")] = None,
        lr: Annotated[float | None, typer.Option("--lr", help="Learning rate (DP-SGD's with --dp).")] = None,
        momentum: Annotated[float | None, typer.Option("--momentum", help="SGD momentum.")] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size (expected Poisson batch with --dp).")] = None,
        epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs.")] = None,
        hidden: Annotated[str | None, typer.Option("--hidden", help="MLP hidden widths, e.g. 64,64.")] = None,
        threshold: Annotated[str | None, typer.Option("--threshold", help="f1 (best validation F1) or fpr.")] = None,
        target_fpr: Annotated[float | None, typer.Option("--target-fpr", help="Validation false-alarm rate for --threshold fpr.")] = None,
        split: Annotated[str | None, typer.Option("--split", help="stratified or time.")] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="Seed for split, weights and batches.")] = None,
        dp: Annotated[bool, typer.Option("--dp", help="Train the MLP with DP-SGD (Opacus).")] = False,
        noise_multiplier: Annotated[float | None, typer.Option("--noise-multiplier", help="DP noise sigma.")] = None,
        target_epsilon: Annotated[float | None, typer.Option("--target-epsilon", help="Calibrate sigma to this epsilon.")] = None,
        max_grad_norm: Annotated[float | None, typer.Option("--max-grad-norm", help="Per-sample clipping norm C.")] = None,
        delta: Annotated[float | None, typer.Option("--delta", help="DP delta (default 1/(10 n)).")] = None,
        accountant: Annotated[str | None, typer.Option("--accountant", help="rdp or prv.")] = None,
        anomaly_feature: Annotated[bool | None, typer.Option(
            "--anomaly-feature/--no-anomaly-feature",
            help="Append the distance-to-benign anomaly score (fitted on benign training flows only).")] = None,
        temporal: Annotated[bool | None, typer.Option(
            "--temporal/--no-temporal",
            help="Append per-source sliding-window features (needs Timestamp and Source IP columns).")] = None,
        temporal_windows: Annotated[str | None, typer.Option(
            "--temporal-windows", help="Window lengths in seconds for --temporal, e.g. 60,300.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json instead of tables.")] = False,
    ) -> None:
        """Train a detector, choose its threshold on validation, save it, and report val + test.

        Writes the artifact (weights + metadata.json), metrics.json and data_report.json to --out.
        --anomaly-feature and --temporal add inputs that `privids score` and the API rebuild from
        the artifact.
        """
        import torch

        from privids.artifacts import train_to_artifact
        from privids.config import PrivacyConfig, load_run_config

        # A 78-64-64-1 network gains nothing from more threads; the cores are shared.
        torch.set_num_threads(1)

        run = load_run_config(config)
        data_cfg = _override(run.data, split=split, seed=seed)
        train_cfg = run.train
        if reference:
            train_cfg = dataclasses.replace(train_cfg, optimizer="sgd", lr=0.01, momentum=0.0, batch_size=256, epochs=5)
        train_cfg = _override(
            train_cfg, model=model, multiclass=multiclass, optimizer=optimizer, momentum=momentum,
            hidden=_parse_hidden(hidden), threshold=threshold, target_fpr=target_fpr, seed=seed,
            anomaly_feature=anomaly_feature, temporal=temporal, temporal_windows=_parse_windows(temporal_windows),
        )  # fmt: skip
        privacy_cfg = None
        if dp:
            # --reference --dp is the reference notebook's DP run (PrivacyConfig() plus its delta);
            # plain --dp starts from the study's tuned settings ([privacy] in study.toml).
            base_privacy = PrivacyConfig(delta=1e-5) if reference else run.privacy
            privacy_cfg = _override(
                base_privacy, max_grad_norm=max_grad_norm, delta=delta, accountant=accountant,
                lr=lr, batch_size=batch_size, epochs=epochs, optimizer=optimizer,
            )  # fmt: skip
            if target_epsilon is not None and noise_multiplier is not None:
                # Calibrating to a target epsilon chooses sigma itself; a given sigma would be dropped.
                raise ConfigError(f"--noise-multiplier and --target-epsilon both set sigma; got --noise-multiplier "
                                  f"{noise_multiplier} and --target-epsilon {target_epsilon}. Give only one of them.")
            if target_epsilon is not None or noise_multiplier is not None:
                privacy_cfg = dataclasses.replace(
                    privacy_cfg, target_epsilon=target_epsilon, noise_multiplier=noise_multiplier
                )
        else:
            dp_only = {"--noise-multiplier": noise_multiplier, "--target-epsilon": target_epsilon,
                       "--max-grad-norm": max_grad_norm, "--delta": delta, "--accountant": accountant}  # fmt: skip
            given = [flag for flag, value in dp_only.items() if value is not None]
            if given:
                raise ConfigError(f"{', '.join(given)} only apply to DP-SGD; got them without --dp; add --dp or drop them.")
            train_cfg = _override(train_cfg, lr=lr, batch_size=batch_size, epochs=epochs)
        notes: list[str] = []
        privacy_arg = None if privacy_cfg is None else _batch_for_data(
            privacy_cfg, given=batch_size is not None, scale=not reference, notes=notes)
        result = train_to_artifact(data, out, train_cfg=train_cfg, data_cfg=data_cfg, privacy_cfg=privacy_arg)
        for note in notes:
            _err.print(f"note: {escape(note)}", highlight=False)
        if as_json:
            typer.echo(result.metrics_path.read_text(encoding="utf-8"), nl=False)
            return
        m = result.metrics
        rows = ", ".join(f"{k} {v}" for k, v in m["data"]["rows"].items())
        title = f"privids train: {m['kind']} ({m['task']}); rows: {rows}"
        _render(m, {"validation": m["val"], "test": m["test"]}, title=title, written=result.metrics_path)
        if m.get("extra_inputs"):
            _out.print(f"extra inputs (fitted on the training split, stored as JSON): {', '.join(m['extra_inputs'])}")

    @app.command("evaluate")
    @friendly_errors
    def evaluate(
        model: Annotated[Path, typer.Option("--model", help="Artifact directory written by `privids train`.")],
        data: Annotated[Path, typer.Option("--data", help="Labelled flow CSV file or folder.")],
        out: Annotated[Path, typer.Option("--out", help="Where to write metrics.json.")] = Path("metrics.json"),
        as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON instead of tables.")] = False,
    ) -> None:
        """Score labelled flows with a saved model and its stored threshold; never refits anything.

        On the model's own training data (same content fingerprint) only the test split is scored.
        """
        import torch

        from privids.artifacts import evaluate_artifact, write_metrics

        torch.set_num_threads(1)

        metrics = evaluate_artifact(model, data)
        written = write_metrics(out, metrics)
        if as_json:
            typer.echo(written.read_text(encoding="utf-8"), nl=False)
            return
        title = f"privids evaluate: {metrics['kind']} on {metrics['rows_evaluated']} rows, {metrics['mode']}"
        _render(metrics, {"evaluated": metrics}, title=title, written=written)
