"""``privids run`` as a library call: the whole study, its report.html and metrics.json."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privids._rng import as_generator, child_seed
from privids.config import RunConfig, config_to_dict
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError, PrivIDSError
from privids.report import steps
from privids.report.html import render_report, write_report
from privids.report.metrics_json import write_metrics
from privids.report.sections import build_sections

__all__ = ["STEPS", "StepOutcome", "StudyResult", "prepare_study_data", "run_study"]

log = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("centralised", "privacy", "federated", "attacks", "membership", "importance")

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class StepOutcome:
    """What happened to one step: ``ok``, ``skipped``, ``not available`` or ``failed``."""

    name: str
    status: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class StudyResult:
    """Where the study wrote its outputs and how each step went.

    Attributes
    ----------
    out_dir : Path
    report : Path
        The self-contained ``report.html``.
    metrics : Path
        ``metrics.json`` with every number in the report.
    synthetic : bool
        True when the built-in demo flows were used.
    steps : tuple of StepOutcome
    summary : dict
        Headline numbers for the console table.
    """

    out_dir: Path
    report: Path
    metrics: Path
    synthetic: bool
    steps: tuple[StepOutcome, ...]
    summary: dict[str, Any] = field(default_factory=dict)


def prepare_study_data(
    cfg: RunConfig, *, data_path: str | Path | None, out_dir: Path, demo_rows: int | None = None
) -> tuple[PreparedData, str]:
    """Prepare the given flows, or generate and prepare the synthetic demo set.

    ``demo_rows`` (None: ``cfg.demo_rows``) is the size of the generated demo.

    Returns
    -------
    (PreparedData, str)
        The data (``synthetic`` set for the demo) and a description of its source.
    """
    from privids.features import prepare_data

    data_cfg = cfg.data
    if data_cfg.cache_dir is None:
        # The study keeps its parsed-file cache next to its outputs, not in the home folder.
        data_cfg = dataclasses.replace(data_cfg, cache_dir=str(out_dir / "cache"))
    if data_path is None:
        from privids.data.demo import generate_demo_flows

        n = cfg.demo_rows if demo_rows is None else demo_rows
        flows = generate_demo_flows(n, rng=cfg.seed, path=out_dir / "demo-data-SYNTHETIC")
        data = prepare_data(out_dir / "demo-data-SYNTHETIC", data_cfg)
        return dataclasses.replace(data, synthetic=True), f"synthetic demo flows ({len(flows):,} generated)"
    return prepare_data(data_path, data_cfg), str(data_path)


def _run_step(name: str, fn: Callable[[], Any], progress: Progress | None) -> tuple[Any, StepOutcome]:
    if progress:
        progress(name, "running")
    start = time.perf_counter()
    try:
        value = fn()
    except ImportError as e:
        # A layer that has not landed, or a missing optional extra.
        outcome = StepOutcome(name, "not available", time.perf_counter() - start, f"{e}")
        return {"not_run": f"not available in this installation: {e}"}, outcome
    except (PrivIDSError, RuntimeError, ValueError, TypeError, KeyError, AttributeError) as e:
        log.warning("study step %s failed: %s\n%s", name, e, traceback.format_exc())
        outcome = StepOutcome(name, "failed", time.perf_counter() - start, f"{type(e).__name__}: {e}")
        return {"not_run": f"failed: {type(e).__name__}: {e}"}, outcome
    outcome = StepOutcome(name, "ok", time.perf_counter() - start)
    if progress:
        progress(name, f"done in {outcome.seconds:.1f} s")
    return value, outcome


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, r in (results.get("centralised") or {}).items():
        if isinstance(r, dict) and "metrics" in r:
            out[f"{kind} test F1"] = r["metrics"]["f1"]
            out[f"{kind} test ROC-AUC"] = r["metrics"]["roc_auc"]
    for p in (results.get("privacy") or {}).get("points", []):
        # Epsilon alone is no privacy statement: the summary names the delta it holds at.
        delta = p.get("delta")
        at = f", delta={delta:.2g}" if isinstance(delta, float) else ""
        out[f"DP-SGD eps={p['target_epsilon']:g}{at} test F1"] = p["f1"]
    for name, r in (results.get("federated") or {}).items():
        if isinstance(r, dict) and "final" in r:
            out[f"{name} final F1"] = r["final"].get("f1")
    for name, r in (results.get("membership") or {}).items():
        if isinstance(r, dict) and "advantage" in r:
            out[f"MIA advantage, {name}"] = r["advantage"]
    return out


def run_study(
    cfg: RunConfig,
    *,
    out_dir: str | Path,
    data_path: str | Path | None = None,
    steps_to_run: Sequence[str] | None = None,
    quick: bool = False,
    demo_rows: int | None = None,
    progress: Progress | None = None,
) -> StudyResult:
    """Run the study end to end and write ``report.html``, ``metrics.json`` and the models.

    Parameters
    ----------
    cfg : RunConfig
        Every hyperparameter; the same config and seed give the same numbers.
    out_dir : str or Path
        Output folder (created).
    data_path : str, Path or None, default=None
        Flow files; None uses the built-in synthetic demo flows (marked as such everywhere).
    steps_to_run : sequence of str or None
        Subset of :data:`STEPS` (None: all). The data report always runs.
    quick : bool, default=False
        Poisoning matrix on the first (attackers, clients) setting only.
    demo_rows : int or None, default=None
        Size of the generated demo set (None: ``cfg.demo_rows``).
    progress : callable or None
        ``progress(step, message)``: ``"running"`` when a step starts, ``"running: <detail>"``
        during long steps (federated rounds, poisoning cells), ``"done in ..."`` at the end.

    Returns
    -------
    StudyResult

    Raises
    ------
    ConfigError
        Unknown step names.
    DataError
        The flows cannot be read or prepared (nothing else can run then).

    Notes
    -----
    A step whose layer is missing or that fails is reported as such in the report, in
    ``metrics.json`` and in :attr:`StudyResult.steps`; the other steps still run.
    """
    wanted = tuple(STEPS if steps_to_run is None else steps_to_run)
    unknown = sorted(set(wanted) - set(STEPS))
    if unknown:
        raise ConfigError(f"unknown study step(s) {unknown}; allowed: {list(STEPS)}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = as_generator(cfg.seed)
    seeds = {name: child_seed(gen) for name in STEPS}  # one stream per step: skipping one changes no other
    t0 = time.perf_counter()
    if progress:
        progress("data", "preparing flows")
    data, source = prepare_study_data(cfg, data_path=data_path, out_dir=out, demo_rows=demo_rows)
    (out / "data_report.json").write_text(json.dumps(data.report, indent=2, default=str) + "\n", encoding="utf-8")
    results: dict[str, Any] = {"data": steps.data_step(data)}
    outcomes = [StepOutcome("data", "ok", time.perf_counter() - t0)]
    fitted: dict[str, Any] = {}

    def centralised() -> Any:
        res, models = steps.centralised_step(data, cfg, out_dir=out, rng=seeds["centralised"])
        fitted.update(models)
        return res

    def tick(step: str) -> Callable[[str], None] | None:
        if progress is None:
            return None
        return lambda message: progress(step, f"running: {message}")

    plan: dict[str, Callable[[], Any]] = {
        "centralised": centralised,
        "privacy": lambda: steps.privacy_step(data, cfg, rng=seeds["privacy"]),
        "federated": lambda: steps.federated_step(data, cfg, rng=seeds["federated"], out_dir=out,
                                                   tick=tick("federated")),
        "attacks": lambda: steps.attacks_step(data, cfg, rng=seeds["attacks"], quick=quick, tick=tick("attacks")),
        "membership": lambda: steps.membership_step(data, cfg, mlp=fitted["mlp"].model, rng=seeds["membership"],
                                                     out_dir=out),
        "importance": lambda: steps.importance_step(data, fitted=fitted, rng=seeds["importance"]),
    }
    for name in STEPS:
        if name not in wanted:
            results[name] = {"not_run": "skipped (not selected for this run)."}
            outcomes.append(StepOutcome(name, "skipped", 0.0))
            continue
        if name in ("membership", "importance") and "mlp" not in fitted:
            results[name] = {"not_run": "needs the centralised models, which did not run."}
            outcomes.append(StepOutcome(name, "skipped", 0.0, "centralised step did not run"))
            continue
        results[name], outcome = _run_step(name, plan[name], progress)
        outcomes.append(outcome)
    sections = build_sections(results, synthetic=data.synthetic, source=source)
    subtitle = f"data: {source} · seed {cfg.seed}"
    report = write_report(render_report(sections, title="privids study", synthetic=data.synthetic, subtitle=subtitle),
                          out / "report.html")
    summary = _summary(results)
    metrics = write_metrics({"synthetic": data.synthetic, "source": source, "config": config_to_dict(cfg),
                             "steps": [dataclasses.asdict(o) for o in outcomes], "summary": summary, **results},
                            out / "metrics.json")
    return StudyResult(out_dir=out, report=report, metrics=metrics, synthetic=data.synthetic, steps=tuple(outcomes),
                       summary=summary)
