"""Figure of the privacy/utility trade-off (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

from privids.privacy.tradeoff import TradeoffResult

__all__ = ["plot_tradeoff"]


def _log_axis(ax: object, eps: list[float]) -> None:
    # Label the budgets actually trained rather than powers of ten.
    ax.set_xscale("log")  # type: ignore[attr-defined]
    ax.set_xticks(eps, [f"{e:.3g}" for e in eps])  # type: ignore[attr-defined]
    ax.minorticks_off()  # type: ignore[attr-defined]


def plot_tradeoff(result: TradeoffResult, path: str | Path) -> Path:
    """Write a two-panel figure: detection metrics vs epsilon, and per-attack-label recall vs epsilon.

    The non-private model is drawn as dashed horizontal lines, so the cost of each budget reads
    as the gap to them. Label legends carry the test support, because a recall over 5 flows moves
    in steps of 20 points.

    Parameters
    ----------
    result : TradeoffResult
    path : str or Path
        Output file (``.png`` or ``.svg``).

    Returns
    -------
    Path
        The written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    dp = [p for p in result.points if p.spent is not None]
    eps = [p.spent.epsilon for p in dp if p.spent is not None]
    base = result.baseline.test
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.6), constrained_layout=True)
    # F1/recall live near 1 and the false-positive rate near 0: give the FPR its own axis so
    # both gaps to the non-private model stay visible.
    fpr_axis = left.twinx()
    handles = []
    for key, colour, ax in (("f1", "tab:blue", left), ("recall", "tab:green", left), ("fpr", "tab:red", fpr_axis)):
        handles += ax.plot(eps, [p.test[key] for p in dp], "o-", color=colour, label=f"{key} (DP)")
        if not math.isnan(base[key]):
            handles.append(ax.axhline(base[key], color=colour, ls="--", lw=1, label=f"{key} (non-private)"))
    shown = [v for p in result.points for v in (p.test["f1"], p.test["recall"]) if not math.isnan(v)]
    if shown:
        pad = max(0.005, 0.1 * (max(shown) - min(shown)))
        left.set_ylim(max(0.0, min(shown) - pad), min(1.0 + pad, max(shown) + pad))
    _log_axis(left, eps)
    left.set_xlabel("epsilon spent (log scale)")
    left.set_ylabel("test F1 / recall")
    fpr_axis.set_ylabel("test false-positive rate", color="tab:red")
    fpr_axis.set_ylim(bottom=0)
    left.set_title("Detection vs privacy budget")
    left.grid(True, which="both", alpha=0.3)
    left.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)

    support = base["per_label_support"]
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(result.attack_labels):
        colour = cmap(i % 10)
        right.plot(eps, [p.test["per_label_recall"].get(name, float("nan")) for p in dp], "o-", color=colour,
                   label=f"{name} (n={support.get(name, 0)})")
        right.axhline(base["per_label_recall"].get(name, float("nan")), color=colour, ls="--", lw=1)
    _log_axis(right, eps)
    right.set_xlabel("epsilon spent (log scale)")
    right.set_ylabel("test recall (detection rate)")
    right.set_title("Per-attack-label recall (dashed: non-private)")
    right.set_ylim(-0.02, 1.02)
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    note = " (synthetic demo data)" if result.synthetic else ""
    fig.suptitle(f"Privacy/utility trade-off, n_train={result.n_train}{note}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
