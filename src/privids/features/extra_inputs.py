"""Extra model inputs after the scaled flow features: the anomaly score and per-source windows."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privids._rng import RandomLike
from privids.data.dataset import PreparedData, SplitView
from privids.data.table import FlowTable
from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.features.anomaly import ANOMALY_FEATURE, BenignDistanceScore, fit_benign_distance
from privids.features.temporal import TEMPORAL_RAW_COLUMNS, TemporalFeatures, failed_handshake, temporal_from_table

__all__ = ["ExtraInputs", "apply_extra_inputs", "fit_extra_inputs", "flow_seconds", "table_rows"]

# Raw column names behind the identifiers temporal features group and order by (for messages).
_NEEDED = {"timestamp": "Timestamp", "src_ip": "Source IP (or Src IP)"}


@dataclass(frozen=True)
class ExtraInputs:
    """The fitted recipe of the inputs a model gets after its scaled flow features.

    Column order is fixed: the scaled flow features, then :data:`ANOMALY_FEATURE` (when
    ``anomaly`` is set), then ``temporal.names()``. The anomaly score is computed from the scaled
    flow features only; the temporal columns from timestamps, source addresses and four raw
    columns (:data:`TEMPORAL_RAW_COLUMNS`), none of which becomes a feature itself.

    Parameters
    ----------
    anomaly : BenignDistanceScore or None, default=None
    temporal : TemporalFeatures or None, default=None

    Examples
    --------
    >>> ExtraInputs(temporal=TemporalFeatures(windows=(60.0,))).names()
    ('src_flows_60s', 'src_rate_60s', 'src_distinct_dst_ports_60s', 'src_failed_share_60s')
    >>> ExtraInputs().empty
    True
    """

    anomaly: BenignDistanceScore | None = None
    temporal: TemporalFeatures | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is appended (the model sees the scaled flow features only)."""
        return self.anomaly is None and self.temporal is None

    def names(self) -> tuple[str, ...]:
        """Names of the appended columns, in order."""
        return ((ANOMALY_FEATURE,) if self.anomaly is not None else ()) + (
            self.temporal.names() if self.temporal is not None else ()
        )

    def raw_columns(self, base: Sequence[str]) -> tuple[str, ...]:
        """Raw columns a scorer reads: ``base`` (the transform's inputs), then the temporal ones it lacks."""
        base = tuple(base)
        if self.temporal is None:
            return base
        return (*base, *(c for c in TEMPORAL_RAW_COLUMNS if c not in base))

    def temporal_matrix(self, raw: np.ndarray, raw_names: Sequence[str], *, timestamps: np.ndarray,
                        sources: np.ndarray) -> np.ndarray:
        """Temporal columns of raw flows in arrival order (the scoring path).

        Parameters
        ----------
        raw : ndarray, shape (n, len(raw_names))
            Raw (untransformed) values holding every column of :data:`TEMPORAL_RAW_COLUMNS`.
        raw_names : sequence of str
        timestamps : ndarray of float, shape (n,)
            Seconds (see :func:`flow_seconds`), all finite.
        sources : ndarray, shape (n,)
            Source address per flow (grouping only).

        Returns
        -------
        ndarray of float32, shape (n, len(temporal.names()))
        """
        if self.temporal is None:
            return np.zeros((raw.shape[0], 0), dtype=np.float32)
        index = {n: j for j, n in enumerate(raw_names)}
        flags = np.asarray(raw, dtype=np.float64)[:, [index[c] for c in TEMPORAL_RAW_COLUMNS]]
        failed = failed_handshake(syn=flags[:, 1], rst=flags[:, 2], bwd_packets=flags[:, 3])
        return self.temporal.compute(np.asarray(timestamps, dtype=np.float64), np.asarray(sources), flags[:, 0], failed)

    def table_temporal(self, table: FlowTable) -> np.ndarray | None:
        """Temporal columns over every flow of ``table`` in arrival order (None without temporal features).

        Raises
        ------
        DataError
            A table without timestamps or source addresses (the message names the columns).
        """
        if self.temporal is None:
            return None
        _require_identifiers(table.meta)
        return temporal_from_table(table, self.temporal)

    def append(self, X: np.ndarray, *, temporal: np.ndarray | None = None) -> np.ndarray:
        """``X`` (scaled flow features) with the extra columns appended, float32.

        Raises
        ------
        DataError
            Temporal columns missing or of the wrong shape for a recipe with temporal features.
        """
        X = np.asarray(X, dtype=np.float32)
        parts = [X]
        if self.anomaly is not None:
            parts.append(self.anomaly.transform(X)[:, None])
        if self.temporal is not None:
            k = len(self.temporal.names())
            if temporal is None or np.shape(temporal) != (X.shape[0], k):
                got = None if temporal is None else np.shape(temporal)
                raise DataError(f"this model appends {k} temporal columns; got {got} for {X.shape[0]} flows; "
                                "compute them with temporal_matrix() or temporal_from_table().")
            parts.append(np.asarray(temporal, dtype=np.float32))
        return np.hstack(parts) if len(parts) > 1 else X

    def to_metadata(self) -> dict[str, Any]:
        """``{"anomaly": ..., "temporal": ...}`` JSON states for the artifact (keys only when used)."""
        out: dict[str, Any] = {}
        if self.anomaly is not None:
            out["anomaly"] = self.anomaly.to_dict()
        if self.temporal is not None:
            out["temporal"] = self.temporal.to_dict()
        return out

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> ExtraInputs:
        """Rebuild from artifact metadata (absent or null keys: not used).

        Raises
        ------
        ArtifactError
            A stored state that cannot be rebuilt.
        """
        anomaly, temporal = metadata.get("anomaly"), metadata.get("temporal")
        try:
            return cls(
                anomaly=BenignDistanceScore.from_dict(anomaly) if anomaly is not None else None,
                temporal=TemporalFeatures.from_dict(temporal) if temporal is not None else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ArtifactError):
                raise
            raise ArtifactError(f"stored anomaly/temporal state cannot be rebuilt: {e!r}; re-train the model.") from e


def flow_seconds(values: np.ndarray) -> np.ndarray:
    """Seconds per flow (float64, NaN where the time is unknown) from datetimes, numbers or strings.

    Strings go through the loader's own parser (:func:`privids.data.capture_time.parse_timestamps`),
    so an API request's ``"7/7/2017 3:56"`` lands where the same CSV cell does (15:56).

    Examples
    --------
    >>> flow_seconds(np.array(["2017-07-07 15:56:00", None], dtype=object)).tolist()[1]
    nan
    """
    v = np.asarray(values)
    if v.dtype.kind in "iuf":
        return v.astype(np.float64)
    if v.dtype.kind != "M":
        import polars as pl

        from privids.data.capture_time import parse_timestamps

        text = [None if x is None or (isinstance(x, float) and x != x) else str(x) for x in v.tolist()]
        v, _ = parse_timestamps(pl.Series(text, dtype=pl.String))
    us = v.astype("datetime64[us]")
    # Same arithmetic as timestamps_to_seconds, so file and request paths agree to the bit.
    return np.where(np.isnat(us), np.nan, us.astype(np.int64) / 1e6)


def _require_identifiers(meta: Mapping[str, np.ndarray]) -> None:
    missing = [raw for k, raw in _NEEDED.items() if k not in meta or not _any_known(meta[k])]
    if missing:
        raise DataError(
            f"temporal features need per-flow timestamps and source addresses; got data without the column(s) "
            f"{missing} (identifiers present: {sorted(k for k in meta if _any_known(meta[k]))}); use TrafficLabelling, "
            "improved CIC-IDS2017 or raw CSE-CIC-IDS2018 files, or train without --temporal."
        )


def _any_known(values: np.ndarray) -> bool:
    v = np.asarray(values)
    if v.dtype.kind == "M":
        return bool((~np.isnat(v)).any())
    if v.dtype.kind == "f":
        return bool(np.isfinite(v).any())
    # Stops at the first real value: a loaded column is either filled or absent.
    return any(x is not None and not (isinstance(x, float) and x != x) and str(x) != "" for x in v)


def table_rows(table: FlowTable, split: SplitView) -> np.ndarray:
    """Position in ``table`` of each row of ``split`` (matched by source file and line).

    Raises
    ------
    DataError
        A split row that is not in the table (the split was prepared from other data).
    """
    files = np.asarray(table.meta["source_file"]).astype(str)
    lines = np.asarray(table.meta["source_line"]).astype(np.int64)
    names, code = np.unique(files, return_inverse=True)
    width = int(lines.max(initial=0)) + 1
    key = code.astype(np.int64) * width + lines
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    s_files = np.asarray(split.meta["source_file"]).astype(str)
    s_lines = np.asarray(split.meta["source_line"]).astype(np.int64)
    s_code = np.clip(np.searchsorted(names, s_files), 0, max(len(names) - 1, 0))
    s_key = s_code.astype(np.int64) * width + s_lines
    pos = np.clip(np.searchsorted(sorted_key, s_key), 0, max(len(sorted_key) - 1, 0))
    found = (names[s_code] == s_files) & (sorted_key[pos] == s_key) if len(names) else np.zeros(len(s_key), bool)
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        raise DataError(f"split row {s_files[i]}:{s_lines[i]} is not in the flow table; got a split prepared from other "
                        "data; pass the table prepare_data was given.")
    return order[pos]


def apply_extra_inputs(data: PreparedData, table: FlowTable | None, extras: ExtraInputs) -> PreparedData:
    """``data`` with the (already fitted) extra columns appended to every split; nothing is refitted.

    Temporal columns are computed over **every flow of** ``table`` in arrival order (duplicates and
    rows that cleaning dropped included), exactly as a scorer given the same file computes them,
    and then picked out for the rows each split kept.

    Parameters
    ----------
    data : PreparedData
        Prepared from ``table`` (``prepare_data(table, cfg)``).
    table : FlowTable or None
        The loaded flows; required when ``extras.temporal`` is set.
    extras : ExtraInputs

    Returns
    -------
    PreparedData
        Same rows; ``feature_names`` extended with ``extras.names()``; ``report["extra_inputs"]``
        lists the appended columns.

    Raises
    ------
    ConfigError
        Temporal features without a table.
    DataError
        A table without timestamps or source addresses (the message names the columns).
    """
    if extras.empty:
        return data
    splits = (data.train, data.val, data.test)
    temporal: list[np.ndarray | None] = [None, None, None]
    if extras.temporal is not None:
        if table is None:
            raise ConfigError("temporal features are computed from the loaded flow table; got table=None; pass the "
                              "FlowTable that prepare_data was given (load_flows(path, mode='train')).")
        feats = extras.table_temporal(table)
        assert feats is not None
        temporal = [feats[table_rows(table, s)] for s in splits]
    out = [dataclasses.replace(s, X=extras.append(s.X, temporal=t)) for s, t in zip(splits, temporal, strict=True)]
    return dataclasses.replace(
        data, train=out[0], val=out[1], test=out[2], feature_names=(*data.feature_names, *extras.names()),
        report={**data.report, "extra_inputs": {"columns": list(extras.names()), **extras.to_metadata()}},
    )  # fmt: skip


def fit_extra_inputs(
    data: PreparedData,
    table: FlowTable | None = None,
    *,
    anomaly: bool = False,
    temporal: TemporalFeatures | None = None,
    n_clusters: int = 8,
    rng: RandomLike = None,
) -> tuple[PreparedData, ExtraInputs]:
    """Fit the extra inputs on the training split only and append them to every split.

    Parameters
    ----------
    data : PreparedData
    table : FlowTable or None, default=None
        The table ``data`` was prepared from; needed for ``temporal``.
    anomaly : bool, default=False
        Fit :func:`~privids.features.anomaly.fit_benign_distance` on the benign flows of
        ``data.train`` (validation and test rows are never seen).
    temporal : TemporalFeatures or None, default=None
        Window recipe (nothing is fitted: no labels, no statistics).
    n_clusters : int, default=8
    rng : int, numpy.random.Generator or None, default=None
        Seeds the anomaly score's subsample and k-means.

    Returns
    -------
    tuple of (PreparedData, ExtraInputs)
        Augmented data and the recipe whose ``to_metadata()`` goes into the artifact.

    Raises
    ------
    ConfigError, DataError
        See :func:`apply_extra_inputs`; no benign training flow for ``anomaly``.
    """
    if temporal is not None and table is not None:
        _require_identifiers(table.meta)  # fail before k-means work
    score = None
    if anomaly:
        score = fit_benign_distance(data.train.X, data.train.y, n_clusters=n_clusters,
                                    feature_names=tuple(data.feature_names), rng=rng)  # fmt: skip
    extras = ExtraInputs(anomaly=score, temporal=temporal)
    return apply_extra_inputs(data, table, extras), extras
