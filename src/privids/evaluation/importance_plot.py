"""Bar chart comparing the top features of several importance methods (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from privids.evaluation.importance import FeatureImportance
from privids.exceptions import ConfigError

__all__ = ["plot_importance"]


def plot_importance(results: Sequence[FeatureImportance], path: str | Path, *, top: int = 5) -> Path:
    """Write a grouped horizontal bar chart of the union of each method's top features.

    Each method's values are divided by its largest value, so methods measured in different units
    (an F1 drop, a gain share, a mean ``|SHAP|``) share one axis from 0 to 1.

    Parameters
    ----------
    results : sequence of FeatureImportance
        One per method.
    path : str or Path
        Output file (``.png`` or ``.svg``); parent folders are created.
    top : int, default=5
        Features taken from each method before the union.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ConfigError
        Nothing to plot or a non-positive ``top``.
    """
    # The object-oriented API with an Agg canvas never touches pyplot's global figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results or top < 1:
        raise ConfigError(f"plot_importance needs at least one result and top >= 1; got {len(results)} results, top={top}.")
    names: list[str] = []
    for res in results:
        for n in res.ranking()[:top]:
            if n not in names:
                names.append(n)
    fig = Figure(figsize=(8, 0.22 * len(names) * len(results) + 1.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    height = 0.8 / len(results)
    ypos = np.arange(len(names), dtype=np.float64)
    for i, res in enumerate(results):
        lookup = dict(zip(res.feature_names, res.values, strict=True))
        vals = np.array([lookup.get(n, 0.0) for n in names], dtype=np.float64)
        peak = np.max(np.abs(res.values)) if res.values.size else 0.0
        vals = vals / peak if peak > 0 else np.zeros_like(vals)
        ax.barh(ypos + i * height, vals, height=height, label=res.method)
    ax.set_yticks(ypos + height * (len(results) - 1) / 2, labels=names)
    ax.invert_yaxis()
    ax.set_xlabel("importance (relative to each method's top feature)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
