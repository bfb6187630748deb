"""Report sections built from plain result dicts: the contract between the study and the report.

Each builder takes numbers only (the shapes are in its docstring) and returns a
:class:`~privids.report.html.Section` with tables and figures, so the layers that compute the
results never import matplotlib or HTML code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from privids.report import figures
from privids.report.html import Figure, Section, Table, Text

__all__ = [
    "attack_section",
    "build_sections",
    "centralised_section",
    "data_section",
    "federated_section",
    "importance_section",
    "membership_section",
    "metrics_table",
    "not_run_section",
    "privacy_section",
]


def _scalar(v: object) -> bool:
    return isinstance(v, int | float | str | bool | np.generic) or v is None


def metrics_table(rows: Mapping[str, Mapping[str, Any]], *, first: str = "model", caption: str = "",
                  columns: Sequence[str] | None = None) -> Table:
    """A table with one row per entry and one column per scalar metric (union, in first-seen order).

    Examples
    --------
    >>> t = metrics_table({"mlp": {"f1": 0.9, "curve": [1, 2]}, "gbt": {"f1": 0.95, "auc": 0.99}})
    >>> t.columns, t.rows
    (['model', 'f1', 'auc'], [['mlp', 0.9, None], ['gbt', 0.95, 0.99]])
    """
    cols: list[str] = list(columns) if columns is not None else []
    if columns is None:
        for m in rows.values():
            cols += [k for k, v in m.items() if _scalar(v) and k not in cols]
    body = [[name] + [_plain(m.get(c)) for c in cols] for name, m in rows.items()]
    return Table(columns=[first, *cols], rows=body, caption=caption)


def _plain(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def not_run_section(title: str, reason: str) -> Section:
    """A placeholder that says plainly why a part of the study is missing."""
    return Section(title, [Text(f"Not run: {reason}")], status="not run")


def data_section(report: Mapping[str, Any], *, class_counts: Mapping[str, int], synthetic: bool,
                 source: str = "") -> Section:
    """The data report: where the flows came from, what cleaning did, class balance, splits.

    Parameters
    ----------
    report : mapping
        The data layer's report (``PreparedData.report``); scalar entries become a table and each
        nested mapping of scalars becomes its own table.
    class_counts : mapping of str to int
        Flows per label after cleaning.
    synthetic : bool
    source : str, default=""
        Path or description of the input.
    """
    blocks: list[Text | Table | Figure] = []
    origin = "the built-in synthetic demo dataset" if synthetic else (source or "the given flow files")
    blocks.append(Text(f"Flows from {origin}: {sum(class_counts.values()):,} rows in {len(class_counts)} classes."))
    blocks.append(Figure(figures.class_counts_figure(class_counts), "Flows per class (log scale)."))
    total = max(sum(class_counts.values()), 1)
    blocks.append(Table(["class", "flows", "share"],
                        [[k, int(v), v / total] for k, v in sorted(class_counts.items(), key=lambda kv: -kv[1])]))
    scalars = {k: v for k, v in report.items() if _scalar(v)}
    if scalars:
        blocks.append(Table(["item", "value"], [[k, _plain(v)] for k, v in scalars.items()], caption="Summary"))
    for key, val in report.items():
        if isinstance(val, Mapping) and val and all(_scalar(v) for v in val.values()):
            blocks.append(Table(["item", "value"], [[k, _plain(v)] for k, v in val.items()], caption=key))
        elif isinstance(val, Mapping) and val and all(isinstance(v, Mapping) for v in val.values()):
            blocks.append(metrics_table(val, first=key, caption=key))
    return Section("Data report", blocks)


def centralised_section(models: Mapping[str, Mapping[str, Any]]) -> Section:
    """Centralised detectors: metric table, ROC curves and a confusion matrix per model.

    Parameters
    ----------
    models : mapping of str to mapping
        Model name -> ``{"metrics": {name: float}, "roc": {"fpr": [...], "tpr": [...]},
        "confusion": {"matrix": [[...]], "labels": [...]}, "per_family_recall": {family: float}}``;
        every key but ``metrics`` is optional.
    """
    blocks: list[Text | Table | Figure] = [metrics_table({k: v.get("metrics", {}) for k, v in models.items()},
                                                         caption="Test-split metrics")]
    curves = {name: {**m["roc"], "auc": m.get("metrics", {}).get("roc_auc")} for name, m in models.items() if "roc" in m}
    if curves:
        blocks.append(Figure(figures.roc_figure(curves), "ROC curves on the test split."))
    for name, m in models.items():
        if "confusion" in m:
            c = m["confusion"]
            blocks.append(Figure(figures.confusion_figure(c["matrix"], labels=c["labels"], title=f"{name}: confusion"),
                                 f"{name}: confusion matrix on the test split, rows normalised to the true class."))
    recalls = {name: m["per_family_recall"] for name, m in models.items() if "per_family_recall" in m}
    if recalls:
        fams = sorted({f for r in recalls.values() for f in r})
        blocks.append(Table(["family", *recalls], [[f, *[recalls[n].get(f) for n in recalls]] for f in fams],
                            caption="Recall per attack family (BENIGN row: true-negative rate)"))
    return Section("Centralised models", blocks)


def privacy_section(points: Sequence[Mapping[str, Any]], *, baseline: Mapping[str, float] | None = None,
                    metrics: Sequence[str] = ("roc_auc", "f1")) -> Section:
    """DP-SGD privacy/utility curve and table.

    Parameters
    ----------
    points : sequence of mapping
        One per budget: ``{"epsilon": float, "delta": float, "noise_multiplier": float,
        "roc_auc": float, "f1": float, ...}``.
    baseline : mapping or None
        Non-private metrics for reference lines.
    metrics : sequence of str
        Metric keys to plot.
    """
    rows = {f"eps={p.get('target_epsilon', p['epsilon']):.3g}": p for p in sorted(points, key=lambda p: p["epsilon"])}
    blocks: list[Text | Table | Figure] = [
        Figure(figures.privacy_utility_figure(points, metrics=metrics, baseline=baseline),
               "Test metrics of DP-SGD models against the privacy budget; dashed: the non-private model."),
        metrics_table(rows, first="budget", caption="DP-SGD runs"),
    ]
    return Section("Privacy / utility (DP-SGD)", blocks)


def federated_section(runs: Mapping[str, Mapping[str, Any]], *, metrics: Sequence[str] = ("accuracy", "roc_auc")) -> Section:
    """Federated runs: per-round curves and a final comparison table.

    Parameters
    ----------
    runs : mapping of str to mapping
        Run name (``"FedAvg"``, ``"DP-FedAvg"``, ``"centralised"``) -> ``{"history": {"round": [...],
        metric: [...]}, "final": {metric: float, "epsilon": float | None}, "note": str (optional)}``.
    metrics : sequence of str
        History keys to plot, one figure each.
    """
    blocks: list[Text | Table | Figure] = []
    hist = {k: v["history"] for k, v in runs.items() if "history" in v}
    for metric in metrics:
        if any(metric in h for h in hist.values()):
            blocks.append(Figure(figures.rounds_figure(hist, metric=metric), f"Server-side {metric} after each round."))
    blocks.append(metrics_table({k: v.get("final", {}) for k, v in runs.items()}, first="run", caption="Final round"))
    blocks.extend(Text(f"{name}: {v['note']}") for name, v in runs.items() if v.get("note"))
    return Section("Federated learning", blocks)


def attack_section(matrix: Mapping[str, Mapping[str, float | None]], *, metric: str = "test accuracy",
                   higher_is_better: bool = True, extra: Mapping[str, Mapping[str, Any]] | None = None,
                   extra_caption: str = "Details") -> Section:
    """Poisoning/backdoor attacks against aggregation defences.

    Parameters
    ----------
    matrix : mapping of str to mapping
        Attack -> defence -> value of ``metric`` (None when not run).
    metric : str, default="test accuracy"
        What the cells are (e.g. "test accuracy" or "backdoor success rate").
    higher_is_better : bool, default=True
        Colours good cells green: True for accuracy, False for an attack success rate.
    extra : mapping or None
        Optional further per-attack table (attack -> {column: value}).
    extra_caption : str, default="Details"
        What the ``extra`` cells are.
    """
    attacks = list(matrix)
    defences = list(dict.fromkeys(d for row in matrix.values() for d in row))
    vals = [[np.nan if matrix[a].get(d) is None else float(matrix[a][d]) for d in defences] for a in attacks]
    blocks: list[Text | Table | Figure] = [
        Figure(figures.heatmap_figure(vals, rows=attacks, cols=defences, title=f"{metric}: attack x defence",
                                      cmap="RdYlGn" if higher_is_better else "RdYlGn_r", xlabel="defence", ylabel="attack"),
               f"{metric} for each attack (rows) under each defence (columns)."),
        Table(["attack", *defences], [[a, *[matrix[a].get(d) for d in defences]] for a in attacks], caption=metric),
    ]
    if extra:
        blocks.append(metrics_table(extra, first="attack", caption=extra_caption))
    return Section("Poisoning and backdoor attacks", blocks)


def membership_section(results: Mapping[str, Mapping[str, Any]]) -> Section:
    """Membership inference against each target model.

    Parameters
    ----------
    results : mapping of str to mapping
        Target -> ``{"fpr": [...], "tpr": [...], "advantage": float, "auc": float,
        "tpr_at_0.1%_fpr": float, "epsilon": float | None}``.
    """
    blocks: list[Text | Table | Figure] = []
    curves = {k: v for k, v in results.items() if "fpr" in v and "tpr" in v}
    if curves:
        blocks.append(Figure(figures.membership_figure(curves),
                             "Attack ROC on log axes: leakage shows as TPR above the diagonal at low FPR."))
    blocks.append(metrics_table(results, first="target", caption="Membership inference"))
    return Section("Membership inference", blocks)


def importance_section(importances: Mapping[str, Mapping[str, float]], *, top: int = 15) -> Section:
    """Feature importance, one figure per method or model.

    Parameters
    ----------
    importances : mapping of str to mapping
        Method/model name -> feature -> importance.
    top : int, default=15
    """
    blocks: list[Text | Table | Figure] = [
        Figure(figures.importance_figure(imp, top=top, title=f"Feature importance: {name}"),
               f"Top {min(top, len(imp))} features by {name}.")
        for name, imp in importances.items()
    ]
    return Section("Feature importance", blocks)


_TITLES = {
    "data": "Data report",
    "centralised": "Centralised models",
    "privacy": "Privacy / utility (DP-SGD)",
    "federated": "Federated learning",
    "attacks": "Poisoning and backdoor attacks",
    "membership": "Membership inference",
    "importance": "Feature importance",
}


def build_sections(results: Mapping[str, Any], *, synthetic: bool, source: str = "") -> list[Section]:
    """All report sections, in study order, from one results dict.

    Parameters
    ----------
    results : mapping
        Keys ``data`` (``{"class_counts", "report"}``), ``centralised``, ``privacy``
        (``{"points", "baseline"}``), ``federated``, ``attacks`` (``{"matrix", "metric"}`` or the
        matrix itself), ``membership``, ``importance``, each in the shape its builder documents.
        A missing key, or a value ``{"not_run": reason}``, gives a section that says so.
    synthetic : bool
    source : str, default=""

    Returns
    -------
    list of Section
    """
    builders = {
        "data": lambda r: data_section(r.get("report", {}), class_counts=r["class_counts"], synthetic=synthetic,
                                       source=source),
        "centralised": centralised_section,
        "privacy": lambda r: privacy_section(r["points"], baseline=r.get("baseline"),
                                             metrics=r.get("metrics", ("roc_auc", "f1"))),
        "federated": federated_section,
        "attacks": lambda r: attack_section(r["matrix"], metric=r.get("metric", "test accuracy"),
                                            higher_is_better=r.get("higher_is_better", True), extra=r.get("extra"),
                                            extra_caption=r.get("extra_caption", "Details"))
        if "matrix" in r else attack_section(r),
        "membership": membership_section,
        "importance": importance_section,
    }
    out = []
    for key, title in _TITLES.items():
        value = results.get(key)
        if value is None:
            out.append(not_run_section(title, "this part of the study has not been run."))
        elif isinstance(value, Mapping) and "not_run" in value:
            out.append(not_run_section(title, str(value["not_run"])))
        else:
            out.append(builders[key](value))
    return out
