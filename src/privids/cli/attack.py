"""``privids attack poison`` and ``privids attack membership``: the adversarial evaluation."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from privids.cli._errors import friendly_errors
from privids.exceptions import ConfigError

_out = Console()
_err = Console(stderr=True)


def _csv(text: str, what: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in text.split(",") if v.strip())
    if not items:
        raise ConfigError(f"{what} must be a comma-separated list; got {text!r}.")
    return items


def _settings(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in _csv(text, "--settings"):
        try:
            f, n = (int(v) for v in part.split("/"))
        except ValueError as e:
            raise ConfigError(f"--settings entries look like ATTACKERS/CLIENTS, e.g. 1/5,2/10; got {part!r}.") from e
        out.append((f, n))
    return tuple(out)


def _pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def _quiet_flower() -> None:
    # Flower logs every aggregation at INFO through its own handler (set up on import); the
    # console shows the matrix instead.
    import flwr  # noqa: F401

    logging.getLogger("flwr").setLevel(logging.WARNING)


def _prepare(data: Path, config: Path | None, seed: int) -> tuple[Any, Any]:
    from privids.config import load_run_config
    from privids.features import prepare_data

    cfg = load_run_config(config)
    return cfg, prepare_data(data, cfg.data, rng=seed)


def _render_matrix(mat: Any) -> None:
    settings = sorted({(c.attackers, c.clients) for c in mat.cells})
    for f, n in settings:
        cells = [c for c in mat.cells if (c.attackers, c.clients) == (f, n)]
        defences = list(dict.fromkeys(c.defence for c in cells))
        attacks = list(dict.fromkeys(c.attack for c in cells))
        ref = mat.reference_f1.get(f"{f}/{n}")
        table = Table(title=f"{f} of {n} clients malicious: clean test F1 % / attack success % (clean FedAvg F1 {_pct(ref)})")
        table.add_column("attack")
        for d in defences:
            table.add_column(d, justify="right")
        for a in attacks:
            row = []
            for d in defences:
                c = next(x for x in cells if x.attack == a and x.defence == d)
                if c.error:
                    row.append("n/a")
                elif a == "none":
                    row.append(f"{_pct(c.f1)} / ({_pct(c.triggered_benign)})")
                else:
                    row.append(f"{_pct(c.f1)} / {_pct(c.success)}")
            table.add_row(a, *row)
        _out.print(table)
        susp = Table(title=f"{f} of {n}: who misbehaved (mean suspicion, 1 = typical; top-suspect hit rate over rounds)")
        for col in ("attack", "defence", "malicious ids", "attacker suspicion", "honest suspicion", "top suspect = attacker"):
            susp.add_column(col, justify="left" if col in ("attack", "defence") else "right")
        for c in cells:
            if c.attack != "none" and not c.error and c.defence == "fedavg":
                susp.add_row(c.attack, c.defence, ",".join(map(str, c.malicious_ids)), f"{c.attacker_suspicion:.2f}",
                             f"{c.honest_suspicion:.2f}", _pct(c.top_suspect_hit_rate) + "%")
        _out.print(susp)
        shown = next((c for c in cells if c.attack != "none" and not c.error and c.suspicion_by_round), None)
        if shown is not None:
            per = Table(title=f"{f} of {n}: suspicion per round under {shown.attack} x {shown.defence} (* = malicious)")
            per.add_column("round", justify="right")
            for i in range(n):
                per.add_column(f"org {i}{'*' if i in shown.malicious_ids else ''}", justify="right")
            for rnd, scores in enumerate(shown.suspicion_by_round, start=1):
                per.add_row(str(rnd), *(f"[bold red]{v:.2f}[/]" if v > 2 else f"{v:.2f}" for v in scores))
            _out.print(per)
    errors = {c.defence: c.error for c in mat.cells if c.error}
    for d, e in errors.items():
        _out.print(f"[yellow]{escape(str(d))}: n/a[/] - {escape(str(e))}")
    _out.print("row 'none': F1 / (share of triggered attack flows classified benign without any attack: the natural rate)")
    _out.print(f"backdoor trigger: {mat.trigger}; success = triggered attack flows classified benign; other attacks: "
               "share of flows the clean FedAvg model gets right and the attacked model gets wrong")
    best = Table(title="best defence per attack (target: F1 within 1 point of clean FedAvg, backdoor success < 5%)")
    for col in ("setting", "attack", "best defence", "F1 %", "success %", "natural %", "target met", "FedAvg F1 %", "FedAvg success %"):
        best.add_column(col, justify="left" if col in ("setting", "attack", "best defence") else "right")
    for r in mat.best_defences():
        natural = _pct(r["natural_rate"]) if r["attack"] == "backdoor" else ""
        best.add_row(r["setting"], r["attack"], r["best_defence"], _pct(r["f1"]), _pct(r["success"]), natural,
                     "yes" if r["target_met"] else "no", _pct(r["fedavg_f1"]), _pct(r["fedavg_success"]))
    _out.print(best)


def _within(within: bool | None) -> str:
    # Without DP the bound is 1, which any attack meets: a "yes" there would read as a guarantee.
    if within is None:
        return "n/a (no DP)"
    return "yes" if within else "[red]NO[/]"


def _render_membership(table: Any) -> None:
    t = Table(title="membership inference: members (training flows) vs non-members (held-out flows)")
    for col in ("model", "attack", "epsilon", "ROC-AUC", "advantage", "bound", "TPR@0.1%FPR", "bound", "TPR@1%FPR", "bound", "within bound"):
        t.add_column(col, justify="left" if col in ("model", "attack") else "right")
    for r in table.rows:
        eps = "none" if r.epsilon is None else f"{r.epsilon:.3g}"
        t.add_row(r.model, r.attack, eps, f"{r.auc:.3f}", f"{r.advantage:.3f}", f"{r.bound_advantage:.3f}",
                  f"{r.tpr_at_0_1pct:.4f}", f"{r.bound_tpr_at_0_1pct:.4f}", f"{r.tpr_at_1pct:.4f}", f"{r.bound_tpr_at_1pct:.4f}",
                  _within(r.within_bound))
    _out.print(t)
    if table.rows:
        r = table.rows[0]
        _out.print(f"{r.n_members} members and {r.n_nonmembers} non-members; TPR at FPRs below {r.min_resolvable_fpr:.2g} is measured at FPR 0. "
                   "Bounds: TPR <= e^eps FPR + delta, advantage <= (e^eps - 1 + 2 delta)/(e^eps + 1); 'within bound' allows for "
                   "sampling error (95% Clopper-Pearson).")


def _emit(payload: dict, *, out: Path | None, as_json: bool, render: Callable[[], None], what: str | None = None) -> None:
    """Write ``payload`` to ``out`` (if given), then print it as JSON or render the tables."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(payload))
        return
    render()
    if out is not None and what is not None:
        _out.print(f"{what} written to {out}")


def register(app: typer.Typer) -> None:
    """Add ``privids attack poison`` and ``privids attack membership`` to ``app``."""
    group = typer.Typer(help="Adversarial evaluation: poisoning/backdoors vs robust aggregation, membership inference.",
                        no_args_is_help=True)
    app.add_typer(group, name="attack")

    @group.command("poison")
    @friendly_errors
    def poison(
        data: Annotated[Path, typer.Option("--data", help="Flow CSV file or folder (any supported schema).")],
        attacks: Annotated[str | None, typer.Option("--attacks", help="Comma-separated: label_flip, sign_flip, scale, backdoor (default: [attack] attacks).")] = None,
        defences: Annotated[str | None, typer.Option("--defences", help="Comma-separated: fedavg, krum, multikrum, median, trimmed, bulyan, normbound, dpfedavg, dp-<aggregator> (default: [attack] defences).")] = None,
        settings: Annotated[str | None, typer.Option("--settings", help="ATTACKERS/CLIENTS list, e.g. 1/5,2/10 (default: [attack] malicious).")] = None,
        rounds: Annotated[int | None, typer.Option("--rounds", help="Federated rounds per run (default: [attack] rounds, 5).")] = None,
        local_epochs: Annotated[int | None, typer.Option("--local-epochs", help="Honest clients' local epochs per round (default: [attack] local_epochs, 1).")] = None,
        lr: Annotated[float | None, typer.Option("--lr", help="Local Adam learning rate (default: [attack] local_lr, 0.01).")] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size", help="Local batch size (default: [attack] local_batch_size, 64).")] = None,
        scale_factor: Annotated[float | None, typer.Option("--scale-factor", help="Boost of the sign_flip and scale attacks (default: [attack] scale_factor, 10).")] = None,
        dp_noise: Annotated[float, typer.Option("--dp-noise", help="Noise multiplier z of DP-FedAvg / dp-<aggregator>.")] = 1.0,
        dp_clip: Annotated[float, typer.Option("--dp-clip", help="Clipping norm C of each update under DP.")] = 1.0,
        dp_policy: Annotated[str, typer.Option("--dp-policy", help="calibrate (noise scaled to the aggregator) or refuse.")] = "calibrate",
        partition: Annotated[str, typer.Option("--partition", help="Client partition: iid, day, family or dirichlet:ALPHA.")] = "iid",
        trigger: Annotated[str | None, typer.Option("--trigger", help="Backdoor trigger as raw 'Feature=value,...' (default: Init_Win_bytes_forward=1337,Fwd Packet Length Min=37).")] = None,
        config: Annotated[Path | None, typer.Option("--config", help="study.toml ([data] and [attack] sections are used).")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed for splits, partitions, attackers, training, noise.")] = 42,
        out: Annotated[Path | None, typer.Option("--out", help="Write the full matrix as JSON here.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the matrix as JSON instead of tables.")] = False,
    ) -> None:
        """Malicious clients against robust aggregation: a matrix of clean F1 and attack success."""
        import torch

        from privids.attacks import parse_trigger, run_poisoning_matrix, trigger_from_raw
        from privids.config import FederatedConfig

        torch.set_num_threads(1)
        _quiet_flower()
        cfg, prepared = _prepare(data, config, seed)
        # One source of defaults: the [attack] section, which `privids run` uses for its matrix too.
        att = cfg.attack
        fed = FederatedConfig(
            local_epochs=att.local_epochs if local_epochs is None else local_epochs,
            lr=att.local_lr if lr is None else lr,
            batch_size=att.local_batch_size if batch_size is None else batch_size,
        )
        rounds = att.rounds if rounds is None else rounds
        trig = trigger_from_raw(prepared, parse_trigger(trigger)) if trigger else None
        mat = run_poisoning_matrix(
            prepared, attacks=_csv(attacks, "--attacks") if attacks else cfg.attack.attacks,
            defences=_csv(defences, "--defences") if defences else cfg.attack.defences,
            settings=_settings(settings) if settings else cfg.attack.malicious, rounds=rounds, fed=fed,
            scale_factor=cfg.attack.scale_factor if scale_factor is None else scale_factor, clipping_norm=dp_clip, noise_multiplier=dp_noise,
            dp_policy=dp_policy, trigger=trig, partition=partition, rng=seed, progress=None if as_json else (lambda s: _err.print(f"[dim]{s}[/]", highlight=False)),
        )
        _emit(mat.to_dict() | {"synthetic": bool(prepared.synthetic)}, out=out, as_json=as_json,
              render=lambda: _render_matrix(mat), what="matrix")

    @group.command("membership")
    @friendly_errors
    def membership(
        data: Annotated[Path, typer.Option("--data", help="Flow CSV file or folder (any supported schema).")],
        epsilon: Annotated[float, typer.Option("--epsilon", help="Budget of the DP-SGD target model.")] = 1.0,
        n: Annotated[int | None, typer.Option("--n", help="Members and non-members per evaluation (default: [attack] membership_samples, 2000).")] = None,
        models: Annotated[str, typer.Option("--models", help="Comma-separated: non-private, dp-sgd, federated.")] = "non-private,dp-sgd,federated",
        attacks: Annotated[str, typer.Option("--attacks", help="Comma-separated: loss, shadow.")] = "loss,shadow",
        shadows: Annotated[int, typer.Option("--shadows", help="Shadow models for the shadow attack.")] = 4,
        central_dp: Annotated[bool, typer.Option("--central-dp/--no-central-dp", help="Train the federated target with DP-FedAvg.")] = False,
        config: Annotated[Path | None, typer.Option("--config", help="study.toml with [data], [train], [privacy], [federated].")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed for splits, training and the member draw.")] = 42,
        out: Annotated[Path | None, typer.Option("--out", help="Write the table as JSON here.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
    ) -> None:
        """Loss-threshold and shadow-model membership inference, next to each model's DP bound."""
        import torch

        from privids.attacks.membership_study import run_membership_study

        torch.set_num_threads(1)
        _quiet_flower()
        cfg, prepared = _prepare(data, config, seed)
        fed = dataclasses.replace(cfg.federated, central_dp=central_dp or cfg.federated.central_dp)
        table = run_membership_study(
            prepared, train=cfg.train, privacy=cfg.privacy, federated=fed, epsilon=epsilon,
            n=cfg.attack.membership_samples if n is None else n,
            attacks=_csv(attacks, "--attacks"), models=_csv(models, "--models"), n_shadows=shadows, rng=seed,
            progress=None if as_json else (lambda s: _err.print(f"[dim]{s}[/]", highlight=False)),
        )
        _emit(table.to_dict() | {"synthetic": bool(prepared.synthetic)}, out=out, as_json=as_json,
              render=lambda: _render_membership(table))
