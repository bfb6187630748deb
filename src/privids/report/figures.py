"""Report figures as PNG bytes, drawn with matplotlib's Agg canvas from plain numbers.

Every function takes dicts, lists or arrays (no privids objects), so any layer can hand its
results over without the report importing it. No pyplot state is touched: each figure is a
standalone :class:`matplotlib.figure.Figure` rendered on its own Agg canvas.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

__all__ = [
    "class_counts_figure",
    "confusion_figure",
    "heatmap_figure",
    "importance_figure",
    "membership_figure",
    "privacy_utility_figure",
    "roc_figure",
    "rounds_figure",
]

_DPI = 110
_COLORS = ("#1f5f8b", "#d1495b", "#2e933c", "#edae49", "#66418a", "#00798c", "#8c564b", "#444444")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _new(width: float = 5.6, height: float = 4.0) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def roc_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]], *, title: str = "ROC curves", log_fpr: bool = True
) -> bytes:
    """ROC curves of several detectors on one axis.

    Parameters
    ----------
    curves : mapping of str to mapping
        Model name -> ``{"fpr": [...], "tpr": [...], "auc": float (optional)}``.
    title : str, default="ROC curves"
    log_fpr : bool, default=True
        Log-scaled false-positive axis (from 1e-4): an IDS runs at low false-alarm rates, and
        near-perfect curves are indistinguishable on a linear axis.

    Returns
    -------
    bytes
        A PNG image.
    """
    fig, ax = _new()
    lo = 1e-4 if log_fpr else 0.0
    for i, (name, c) in enumerate(curves.items()):
        label = f"{name} (AUC {c['auc']:.4f})" if "auc" in c and c["auc"] is not None else name
        fpr = np.clip(np.asarray(c["fpr"], dtype=np.float64), lo, 1)
        ax.plot(fpr, c["tpr"], color=_COLORS[i % len(_COLORS)], lw=1.8, label=label, drawstyle="steps-post")
    ax.plot([lo, 1], [lo, 1], ls="--", color="#999999", lw=1)
    if log_fpr:
        ax.set_xscale("log")
    ax.set(xlabel="false positive rate" + (" (log scale)" if log_fpr else ""), ylabel="true positive rate",
           title=title, xlim=(lo, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _png(fig)


def heatmap_figure(
    values: Sequence[Sequence[float]] | np.ndarray,
    *,
    rows: Sequence[str],
    cols: Sequence[str],
    title: str = "",
    fmt: str = "{:.2f}",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    xlabel: str = "",
    ylabel: str = "",
) -> bytes:
    """An annotated matrix (cells may be NaN for "not run"), e.g. attack x defence.

    Parameters
    ----------
    values : array-like, shape (len(rows), len(cols))
    rows, cols : sequence of str
        Tick labels.
    title, xlabel, ylabel : str
    fmt : str, default="{:.2f}"
        Format of the number written in each cell.
    cmap : str, default="viridis"
    vmin, vmax : float or None
        Colour scale limits (None: data range).
    """
    v = np.asarray(values, dtype=np.float64)
    fig = Figure(figsize=(max(4.0, 0.75 * len(cols) + 2.2), max(2.6, 0.45 * len(rows) + 1.6)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(v), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), labels=list(cols), rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), labels=list(rows), fontsize=8)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            if np.isfinite(v[i, j]):
                # Pick the text colour from the cell's own luminance so every colormap stays legible.
                r, g, b, _ = im.cmap(im.norm(v[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                ax.text(j, i, fmt.format(v[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
            else:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#777777")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _png(fig)


def confusion_figure(
    matrix: Sequence[Sequence[float]] | np.ndarray, *, labels: Sequence[str], title: str = "Confusion matrix",
    normalize: bool = True,
) -> bytes:
    """A confusion matrix (rows: true class, columns: predicted), row-normalised by default.

    Parameters
    ----------
    matrix : array-like of int, shape (k, k)
        Counts, ``matrix[i, j]`` = rows of true class i predicted as j.
    labels : sequence of str
        Class names in matrix order.
    title : str, default="Confusion matrix"
    normalize : bool, default=True
        Show each row as fractions of that class (counts stay in the metrics table).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if normalize:
        sums = m.sum(axis=1, keepdims=True)
        m = np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
    return heatmap_figure(m, rows=labels, cols=labels, title=title, fmt="{:.3f}" if normalize else "{:.0f}",
                          cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None,
                          xlabel="predicted", ylabel="true")


def privacy_utility_figure(
    points: Sequence[Mapping[str, float]],
    *,
    metrics: Sequence[str] = ("roc_auc", "f1"),
    baseline: Mapping[str, float] | None = None,
    title: str = "Privacy / utility trade-off",
) -> bytes:
    """Utility against the privacy budget epsilon (log axis), with the non-private reference.

    Parameters
    ----------
    points : sequence of mapping
        One per DP run: ``{"epsilon": float, "<metric>": float, ...}``.
    metrics : sequence of str, default=("roc_auc", "f1")
        Keys plotted (missing keys are skipped).
    baseline : mapping or None
        Non-private values of the same metrics, drawn as dashed horizontal lines.
    title : str
    """
    fig, ax = _new()
    pts = sorted(points, key=lambda p: p["epsilon"])
    eps = [p["epsilon"] for p in pts]
    for i, key in enumerate(metrics):
        ys = [p.get(key) for p in pts]
        if not any(y is not None for y in ys):
            continue
        color = _COLORS[i % len(_COLORS)]
        ax.plot(eps, [np.nan if y is None else y for y in ys], marker="o", color=color, label=f"DP-SGD {key}")
        if baseline and baseline.get(key) is not None:
            ax.axhline(baseline[key], color=color, ls="--", lw=1, label=f"non-private {key}")
    ax.set_xscale("log")
    ax.set_xticks(eps, labels=[f"{e:.3g}" for e in eps])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="epsilon (log scale)", ylabel="test metric", title=title)
    ax.legend(fontsize=8, frameon=True, framealpha=0.85, loc="best")
    return _png(fig)


def rounds_figure(
    histories: Mapping[str, Mapping[str, Sequence[float]]], *, metric: str = "accuracy", title: str | None = None
) -> bytes:
    """A metric per federated round for several runs (FedAvg, DP-FedAvg, robust aggregators).

    Parameters
    ----------
    histories : mapping of str to mapping
        Run name -> ``{"round": [1, 2, ...], metric: [...]}``.
    metric : str, default="accuracy"
    title : str or None
    """
    fig, ax = _new()
    for i, (name, h) in enumerate(histories.items()):
        if metric in h:
            ax.plot(h["round"], h[metric], marker="o", ms=3, color=_COLORS[i % len(_COLORS)], label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="round", ylabel=metric, title=title or f"Federated {metric} per round")
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def membership_figure(results: Mapping[str, Mapping[str, object]], *, title: str = "Membership inference") -> bytes:
    """Attack ROC curves (log-log, where low-FPR leakage shows) for several target models.

    Parameters
    ----------
    results : mapping of str to mapping
        Target name -> ``{"fpr": [...], "tpr": [...], "advantage": float (optional)}``.
    title : str
    """
    fig, ax = _new()
    for i, (name, r) in enumerate(results.items()):
        fpr = np.clip(np.asarray(r["fpr"], dtype=np.float64), 1e-4, 1)
        tpr = np.clip(np.asarray(r["tpr"], dtype=np.float64), 1e-4, 1)
        adv = r.get("advantage")
        label = f"{name} (adv {adv:.3f})" if isinstance(adv, float | int) else name
        ax.plot(fpr, tpr, color=_COLORS[i % len(_COLORS)], lw=1.6, label=label)
    ax.plot([1e-4, 1], [1e-4, 1], ls="--", color="#999999", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="attack false positive rate", ylabel="attack true positive rate", title=title)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return _png(fig)


def importance_figure(importances: Mapping[str, float], *, top: int = 15, title: str = "Feature importance") -> bytes:
    """Horizontal bars of the ``top`` features by absolute importance.

    Parameters
    ----------
    importances : mapping of str to float
        Feature name -> importance (e.g. mean |SHAP| or permutation drop).
    top : int, default=15
    title : str
    """
    items = sorted(importances.items(), key=lambda kv: abs(kv[1]), reverse=True)[:top][::-1]
    fig, ax = _new(5.6, 0.28 * len(items) + 1.2)
    ax.barh([k for k, _ in items], [v for _, v in items], color=_COLORS[0])
    ax.tick_params(axis="y", labelsize=8)
    ax.set(xlabel="importance", title=title)
    return _png(fig)


def class_counts_figure(counts: Mapping[str, int], *, title: str = "Flows per class") -> bytes:
    """Horizontal bars of rows per class on a log axis (the imbalance is the point).

    Parameters
    ----------
    counts : mapping of str to int
    title : str
    """
    items = sorted(counts.items(), key=lambda kv: kv[1])
    fig, ax = _new(5.6, 0.28 * len(items) + 1.2)
    ax.barh([k for k, _ in items], [max(v, 0) for _, v in items], color=_COLORS[0])
    ax.set_xscale("log")
    ax.tick_params(axis="y", labelsize=8)
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:,}", va="center", fontsize=7)
    ax.set(xlabel="flows (log scale)", title=title)
    return _png(fig)
