"""Per-source sliding-window traffic features computed without look-ahead (usable at scoring time)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privids.data.dataset import PreparedData, SplitView
from privids.data.table import FlowTable
from privids.exceptions import ArtifactError, ConfigError, DataError

__all__ = [
    "TEMPORAL_RAW_COLUMNS",
    "TemporalFeatures",
    "failed_handshake",
    "temporal_from_table",
    "temporal_inputs",
    "timestamps_to_seconds",
    "window_stats",
    "with_temporal",
]

_KIND = "per_source_windows"
_VERSION = 1
_STATS = ("flows", "rate", "distinct_dst_ports", "failed_share")

# Raw feature columns the failed-handshake flag is read from (canonical, stripped names).
_SYN, _RST, _BWD = "SYN Flag Count", "RST Flag Count", "Total Backward Packets"
_PORT = "Destination Port"
#: Raw flow columns the scoring path reads (port, then the three failed-handshake inputs).
TEMPORAL_RAW_COLUMNS: tuple[str, ...] = (_PORT, _SYN, _RST, _BWD)


def timestamps_to_seconds(timestamps: np.ndarray) -> np.ndarray:
    """Seconds (float64) from numbers, ``datetime64`` values or timestamp strings.

    CIC files mix layouts (``7/7/2017 3:56``, ``2017-07-07 18:08:57.763666``, ``03/02/2018
    08:47:38``); strings are parsed with pandas, day first only when a field exceeds 12.

    Raises
    ------
    DataError
        Values that cannot be parsed, or missing timestamps.
    """
    ts = np.asarray(timestamps)
    if ts.dtype.kind in "iuf":
        out = ts.astype(np.float64)
    elif ts.dtype.kind == "M":
        us = ts.astype("datetime64[us]")
        out = np.where(np.isnat(us), np.nan, us.astype(np.int64) / 1e6)
    else:
        import pandas as pd

        try:
            parsed = pd.to_datetime(pd.Series(ts.astype(str)), format="mixed", dayfirst=False)
        except (ValueError, TypeError) as e:
            raise DataError(
                f"cannot parse timestamps such as {ts[:3].tolist()!r}: {e}; pass seconds or ISO-8601 strings."
            ) from e
        out = parsed.to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6
    if not np.all(np.isfinite(out)):
        raise DataError("temporal features need a timestamp on every flow; got missing values; drop those flows first.")
    return out


def failed_handshake(*, syn: np.ndarray, rst: np.ndarray, bwd_packets: np.ndarray) -> np.ndarray:
    """Flows whose TCP handshake failed: reset, or a SYN that got no packet back.

    Examples
    --------
    >>> failed_handshake(syn=np.array([1, 1, 0]), rst=np.array([0, 0, 1]), bwd_packets=np.array([0, 3, 2])).tolist()
    [True, False, True]
    """
    syn, rst, bwd = (np.asarray(a, dtype=np.float64) for a in (syn, rst, bwd_packets))
    return (rst > 0) | ((syn > 0) & (bwd <= 0))


def window_stats(
    timestamps: np.ndarray,
    sources: np.ndarray,
    dst_ports: np.ndarray,
    failed: np.ndarray,
    *,
    window: float,
    min_span: float = 1.0,
) -> dict[str, np.ndarray]:
    """Per-flow statistics of the same source's flows in the preceding ``window`` seconds.

    For flow ``i`` the window holds every flow ``j`` from the same source with
    ``t_i - window < t_j`` and ``(t_j, j) <= (t_i, i)``: earlier flows, plus flows with the same
    timestamp that arrived before it in the input. Nothing later is ever used, so appending flows
    can never change the values of flows already seen, and the same numbers are available when
    flows are scored one by one in arrival order.

    Parameters
    ----------
    timestamps : ndarray of float, shape (n,)
        Seconds (see :func:`timestamps_to_seconds`).
    sources : ndarray, shape (n,)
        Source address per flow; used for grouping only, never returned.
    dst_ports : ndarray, shape (n,)
        Destination port (any values: only distinctness matters).
    failed : ndarray of bool, shape (n,)
        Failed-handshake flag per flow (see :func:`failed_handshake`).
    window : float
        Window length in seconds.
    min_span : float, default=1.0
        Floor of the burst-rate denominator, so a burst within one clock tick stays finite
        (``flows / window`` would only repeat ``flows``).

    Returns
    -------
    dict of str to ndarray
        ``flows`` (count incl. the flow itself), ``rate`` (burst rate: flows per second over the
        span from the window's first flow to this one, at least ``min_span`` seconds),
        ``distinct_dst_ports`` and ``failed_share`` (share of the window's flows that failed).

    Raises
    ------
    ConfigError
        A non-positive window.
    DataError
        Arrays of different lengths.

    Examples
    --------
    >>> s = window_stats(np.array([0.0, 1.0, 100.0]), np.array(["a", "a", "a"]), np.array([80, 81, 80]),
    ...                  np.array([False, True, False]), window=10.0)
    >>> s["flows"].tolist(), s["distinct_dst_ports"].tolist(), s["failed_share"].tolist()
    ([1.0, 2.0, 1.0], [1.0, 2.0, 1.0], [0.0, 0.5, 0.0])
    """
    if not window > 0 or not min_span > 0:
        raise ConfigError(f"temporal window and min_span must be positive seconds; got {window!r} and {min_span!r}.")
    t = np.asarray(timestamps, dtype=np.float64)
    n = t.shape[0]
    arrays = {"sources": sources, "dst_ports": dst_ports, "failed": failed}
    bad = {k: np.shape(v) for k, v in arrays.items() if np.shape(v) != (n,)}
    if bad:
        raise DataError(f"temporal inputs must all have shape ({n},) like timestamps; got {bad}; pass one value per flow.")
    _, src_code = np.unique(np.asarray(sources).astype(str), return_inverse=True)
    _, port_code = np.unique(np.asarray(dst_ports), return_inverse=True)
    fail = np.asarray(failed, dtype=bool)
    # Causal order: by source, then time, then arrival index (lexsort keys are last-major).
    order = np.lexsort((np.arange(n), t, src_code))
    flows = np.zeros(n, dtype=np.float64)
    distinct = np.zeros(n, dtype=np.float64)
    failed_n = np.zeros(n, dtype=np.float64)
    span = np.zeros(n, dtype=np.float64)
    lo = 0
    ports: Counter[int] = Counter()
    n_failed = 0
    for pos in range(n):
        i = order[pos]
        if pos == 0 or src_code[order[pos - 1]] != src_code[i]:
            lo, ports, n_failed = pos, Counter(), 0
        while t[order[lo]] <= t[i] - window:
            j = order[lo]
            ports[port_code[j]] -= 1
            if ports[port_code[j]] == 0:
                del ports[port_code[j]]
            n_failed -= int(fail[j])
            lo += 1
        ports[port_code[i]] += 1
        n_failed += int(fail[i])
        flows[i] = pos - lo + 1
        distinct[i] = len(ports)
        failed_n[i] = n_failed
        span[i] = t[i] - t[order[lo]]
    return {
        "flows": flows,
        "rate": flows / np.maximum(span, min_span),
        "distinct_dst_ports": distinct,
        "failed_share": failed_n / np.maximum(flows, 1.0),
    }


def temporal_inputs(
    X: np.ndarray,
    meta: Mapping[str, np.ndarray],
    *,
    feature_names: Sequence[str],
    zero_point: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps, sources, destination ports and failed flags of a transformed split.

    The split's ``X`` is already scaled, but the fitted transform is monotone increasing per
    column, so a raw count is positive exactly when its scaled value exceeds the scaled image of
    0 (``zero_point``), and distinct scaled ports are distinct raw ports.

    Parameters
    ----------
    X : ndarray, shape (n, F)
        Transformed features.
    meta : mapping
        The split's identifiers; needs ``timestamp`` and ``src_ip``.
    feature_names : sequence of str
        Columns of ``X``.
    zero_point : ndarray, shape (F,)
        ``transform.transform(zeros((1, F)))[0]``: where raw 0 lands in each column.

    Returns
    -------
    tuple of ndarray
        ``(seconds, sources, dst_ports, failed)``.

    Raises
    ------
    DataError
        The schema has no timestamps or source addresses (e.g. the MachineLearningCVE or
        processed CSE-CIC-IDS2018 files), or no destination port.
    """
    missing = [k for k in ("timestamp", "src_ip") if k not in meta]
    if missing:
        raise DataError(
            f"temporal features need per-flow timestamps and source addresses; got no {missing} in this data "
            f"(identifiers present: {sorted(meta)}); use the TrafficLabelling or improved CIC-IDS2017 files."
        )
    col = {n: i for i, n in enumerate(feature_names)}
    zero = np.asarray(zero_point, dtype=np.float64).reshape(-1)

    def positive(name: str) -> np.ndarray:
        if name not in col:  # dropped as constant: the same (zero) count on every training flow
            return np.zeros(X.shape[0], dtype=bool)
        return np.asarray(X[:, col[name]], dtype=np.float64) > zero[col[name]] + 1e-6

    if "dst_port" in meta:
        ports = np.asarray(meta["dst_port"])
    elif _PORT in col:
        ports = np.asarray(X[:, col[_PORT]])
    else:
        raise DataError(
            f"temporal features count distinct destination ports; got neither meta 'dst_port' nor a {_PORT!r} feature; "
            "keep data.use_destination_port=True."
        )
    failed = positive(_RST) | (positive(_SYN) & ~positive(_BWD))
    return timestamps_to_seconds(meta["timestamp"]), np.asarray(meta["src_ip"]), ports, failed


@dataclass(frozen=True)
class TemporalFeatures:
    """The stored recipe for per-source window features (windows only: nothing is fitted).

    Counts are returned as ``log1p`` so they sit on the same scale as the other scaled inputs;
    the failed share stays in [0, 1].

    Parameters
    ----------
    windows : tuple of float, default=(60.0, 300.0)
        Window lengths in seconds. CIC-IDS2017 TrafficLabelling timestamps have minute resolution,
        so windows shorter than 60 s only see flows of the same minute.

    Examples
    --------
    >>> TemporalFeatures(windows=(60.0,)).names()
    ('src_flows_60s', 'src_rate_60s', 'src_distinct_dst_ports_60s', 'src_failed_share_60s')
    """

    windows: tuple[float, ...] = (60.0, 300.0)

    def __post_init__(self) -> None:
        if not self.windows or any(not w > 0 for w in self.windows):
            raise ConfigError(f"temporal windows must be positive seconds; got {self.windows!r}.")

    def names(self) -> tuple[str, ...]:
        """Names of the produced columns, in order (no identifier ever appears among them)."""
        return tuple(f"src_{s}_{w:g}s" for w in self.windows for s in _STATS)

    def compute(self, timestamps: np.ndarray, sources: np.ndarray, dst_ports: np.ndarray, failed: np.ndarray) -> np.ndarray:
        """Feature matrix of shape ``(n, 4 * len(windows))``, float32 and finite."""
        seconds = timestamps_to_seconds(timestamps)
        cols: list[np.ndarray] = []
        for w in self.windows:
            st = window_stats(seconds, sources, dst_ports, failed, window=w)
            cols += [np.log1p(st["flows"]), np.log1p(st["rate"]), np.log1p(st["distinct_dst_ports"]), st["failed_share"]]
        return np.column_stack(cols).astype(np.float32) if cols else np.zeros((len(seconds), 0), np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe recipe."""
        return {"kind": _KIND, "version": _VERSION, "windows": list(self.windows), "names": list(self.names())}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> TemporalFeatures:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ArtifactError
            State of another kind or version.
        """
        if state.get("kind") != _KIND or state.get("version") != _VERSION:
            raise ArtifactError(
                f"temporal state must have kind={_KIND!r}, version={_VERSION}; got kind={state.get('kind')!r}, "
                f"version={state.get('version')!r}; re-create it with this privids version."
            )
        return cls(windows=tuple(float(w) for w in state["windows"]))


def _append(split: SplitView, extra: np.ndarray) -> SplitView:
    return dataclasses.replace(split, X=np.hstack([split.X, extra]).astype(np.float32))


def with_temporal(data: PreparedData, recipe: TemporalFeatures | None = None) -> PreparedData:
    """``data`` with per-source window features appended to every split.

    The windows run over the flows of all three splits merged in time order, as a scorer watching
    the traffic would see them: a test flow's history includes earlier flows that landed in the
    training split. Only identifiers and flag columns are used, never labels, so merging the
    splits leaks nothing about the targets.

    Parameters
    ----------
    data : PreparedData
        Splits whose ``meta`` holds ``timestamp`` and ``src_ip``.
    recipe : TemporalFeatures or None, default=None
        Window lengths (None: ``TemporalFeatures()``).

    Returns
    -------
    PreparedData
        Same rows, ``len(recipe.names())`` extra columns at the end, ``feature_names`` extended;
        ``report["temporal"]`` records the recipe.

    Raises
    ------
    DataError
        The schema has no timestamps or source addresses.
    """
    recipe = recipe or TemporalFeatures()
    splits = (data.train, data.val, data.test)
    X = np.vstack([s.X for s in splits])
    keys = ("timestamp", "src_ip")
    meta = {k: np.concatenate([s.meta[k] for s in splits]) for k in keys if all(k in s.meta for s in splits)}
    zero = data.transform.transform(np.zeros((1, len(data.feature_names)), dtype=np.float32))[0]
    t, src, ports, failed = temporal_inputs(X, meta, feature_names=data.feature_names, zero_point=zero)
    feats = recipe.compute(t, src, ports, failed)
    bounds = np.cumsum([0] + [len(s) for s in splits])
    parts = [feats[bounds[i] : bounds[i + 1]] for i in range(3)]
    return dataclasses.replace(
        data,
        train=_append(data.train, parts[0]),
        val=_append(data.val, parts[1]),
        test=_append(data.test, parts[2]),
        feature_names=(*data.feature_names, *recipe.names()),
        report={**data.report, "temporal": recipe.to_dict()},
    )


def temporal_from_table(table: FlowTable, recipe: TemporalFeatures | None = None) -> np.ndarray:
    """Window features of raw flows in arrival order: the scoring-time path.

    A scorer receiving a batch (or a stream) of flows calls this on the raw table before the
    model: each flow's values use only itself and earlier flows of the batch, exactly as
    :func:`with_temporal` computed them for training.

    Parameters
    ----------
    table : FlowTable
        Raw flows (``privids.data.load_flows``), with ``timestamp`` and ``src_ip`` in ``meta``.
    recipe : TemporalFeatures or None, default=None
        The recipe stored with the model (None: ``TemporalFeatures()``).

    Returns
    -------
    ndarray of float32, shape (n, len(recipe.names()))

    Raises
    ------
    DataError
        The schema has no timestamps or source addresses.
    """
    recipe = recipe or TemporalFeatures()
    missing = [k for k in ("timestamp", "src_ip") if k not in table.meta]
    if missing:
        raise DataError(
            f"temporal features need per-flow timestamps and source addresses; got no {missing} in this data "
            f"(identifiers present: {sorted(table.meta)}); use the TrafficLabelling or improved CIC-IDS2017 files."
        )
    raw = table.matrix(TEMPORAL_RAW_COLUMNS).astype(np.float64)
    failed = failed_handshake(syn=raw[:, 1], rst=raw[:, 2], bwd_packets=raw[:, 3])
    return recipe.compute(table.meta["timestamp"], table.meta["src_ip"], raw[:, 0], failed)
