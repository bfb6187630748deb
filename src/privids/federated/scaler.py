"""The federation's feature list and transform, merged from per-organisation summaries (no rows shared)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from privids.data.loaders import load_flows
from privids.exceptions import DataError
from privids.features.transforms import FlowTransform

__all__ = ["merge_summaries", "organisation_summary", "read_summary", "write_summary"]

_KIND = "privids.OrganisationSummary/1"


def organisation_summary(source: str | Path, *, log_transform: bool = True) -> dict[str, Any]:
    """What one organisation shares so the federation can agree on features and scaling.

    Per canonical feature: the row count, the raw finite minimum and maximum (for the
    constant-column rule) and the organisation's own ``FlowTransform`` fit (caps, mean, scale,
    median). No flow leaves the organisation, but these are exact per-column aggregates, not
    differentially private ones.

    Parameters
    ----------
    source : str or Path
        The organisation's flows (rows with Infinity/NaN are dropped, as in ``prepare_data``).
    log_transform : bool, default=True

    Returns
    -------
    dict
        JSON-ready; see :func:`merge_summaries`.
    """
    table = load_flows(source, mode="train")
    names = tuple(table.feature_names)
    raw = table.matrix(names).astype(np.float64)
    finite = np.isfinite(raw)
    with np.errstate(invalid="ignore"):
        raw_low = np.where(finite, raw, np.inf).min(axis=0)
        raw_high = np.where(finite, raw, -np.inf).max(axis=0)
    fitted = FlowTransform.fit(raw, names, log_transform=log_transform)
    return {
        "kind": _KIND,
        "n": int(len(table)),
        "raw_low": [None if not math.isfinite(v) else float(v) for v in raw_low],
        "raw_high": [None if not math.isfinite(v) else float(v) for v in raw_high],
        "transform": fitted.to_dict(),
    }


def _column(values: Sequence[Any], default: float) -> np.ndarray:
    return np.array([default if v is None else float(v) for v in values], dtype=np.float64)


def merge_summaries(summaries: Sequence[dict[str, Any]], *, use_destination_port: bool = True) -> FlowTransform:
    """The federation's transform, as if fitted on the union of every organisation's rows.

    Exact for the feature list (globally constant columns dropped, as ``choose_features``
    does), the caps (min of minima, max of maxima) and the standardisation (Chan's merge of
    counts, means and squared deviations). The NaN fill is the row-weighted median of the
    organisations' medians, an approximation; it is used only for NaN cells at scoring time,
    since training rows with NaN are dropped.

    Parameters
    ----------
    summaries : sequence of dict
        :func:`organisation_summary` outputs (organisations with 0 rows are ignored).
    use_destination_port : bool, default=True

    Returns
    -------
    FlowTransform

    Raises
    ------
    DataError
        No summary with rows, or summaries over different feature lists.
    """
    used = [s for s in summaries if s.get("n", 0) > 0]
    if not used:
        raise DataError("no organisation summary has any flows; got only empty summaries; fix: summarise non-empty data.")
    fits = [FlowTransform.from_dict(s["transform"]) for s in used]
    names = fits[0].feature_names
    if any(f.feature_names != names for f in fits):
        raise DataError("organisation summaries list different features; got mismatched feature lists; fix: use one privids version.")
    n = np.array([s["n"] for s in used], dtype=np.float64)
    raw_low = np.min([_column(s["raw_low"], np.inf) for s in used], axis=0)
    raw_high = np.max([_column(s["raw_high"], -np.inf) for s in used], axis=0)
    keep = [
        j for j, name in enumerate(names)
        if np.isfinite(raw_low[j]) and raw_low[j] != raw_high[j] and (use_destination_port or name != "Destination Port")
    ]  # fmt: skip
    low = np.min([f.low for f in fits], axis=0)
    high = np.max([f.high for f in fits], axis=0)
    means = np.array([f.mean for f in fits])
    # A column constant inside one organisation has scale 1 by convention, but no spread.
    spread = np.array([np.asarray(f.high) > np.asarray(f.low) for f in fits])
    m2_k = np.where(spread, n[:, None] * np.square(np.array([f.scale for f in fits])), 0.0)
    total = n.sum()
    mean = (n[:, None] * means).sum(axis=0) / total
    m2 = (m2_k + n[:, None] * np.square(means - mean)).sum(axis=0)
    sd = np.sqrt(m2 / total)
    scale = np.where((sd > 0) & np.isfinite(sd), sd, 1.0)
    medians = np.array([f.median for f in fits])
    median = np.array([_weighted_median(medians[:, j], n) for j in range(len(names))])
    return FlowTransform(
        tuple(names[j] for j in keep),
        tuple(fits[0].log[j] for j in keep),
        tuple(float(median[j]) for j in keep),
        tuple(float(low[j]) for j in keep),
        tuple(float(high[j]) for j in keep),
        tuple(float(mean[j]) for j in keep),
        tuple(float(scale[j]) for j in keep),
    )


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][int(np.searchsorted(cum, cum[-1] / 2.0))])


def write_summary(summary: dict[str, Any], path: str | Path) -> Path:
    """Write a summary as strict JSON."""
    p = Path(path)
    p.write_text(json.dumps(summary, allow_nan=False) + "\n", encoding="utf-8")
    return p


def read_summary(path: str | Path) -> dict[str, Any]:
    """Read a summary written by :func:`write_summary`.

    Raises
    ------
    DataError
        Unreadable file or not a privids organisation summary.
    """
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read organisation summary {path}: {e}; fix: pass files written by privids federate-org --summary.") from e
    if not isinstance(summary, dict) or summary.get("kind") != _KIND:
        raise DataError(f"{path} is not an organisation summary; got kind {summary.get('kind') if isinstance(summary, dict) else None!r}; "
                        "fix: pass files written by privids federate-org --summary.")  # fmt: skip
    return summary
