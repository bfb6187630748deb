"""Score flows with a stored model: one result per input row, in input order, never a dropped row."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from privids.exceptions import ArtifactError, ConfigError, DataError

__all__ = ["IDENTIFIER_FIELDS", "ScoreResult", "Scorer", "score_table", "write_alerts"]

# Identifier columns echoed into alerts when the input has them; they are never model features.
IDENTIFIER_FIELDS: tuple[str, ...] = (
    "source_file", "source_line", "flow_id", "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "timestamp",
)

_BENIGN = "BENIGN"
_FORMATS = ("jsonl", "csv")
_CHUNK = 1024


@dataclass(frozen=True)
class ScoreResult:
    """Column-wise scoring results, one entry per input row in input order.

    Attributes
    ----------
    row : ndarray of int64
        0-based position of the flow in the input.
    status : ndarray of str
        ``"scored"`` or ``"unscorable"``.
    reason : ndarray of str
        Why a row was not scored, or a note on a scored row (e.g. non-finite rates that the
        stored transform capped); empty when there is nothing to say.
    probability : ndarray of float64
        P(attack); NaN for unscorable rows (written as null).
    verdict : ndarray of str
        ``"attack"``, ``"benign"`` or ``"unscored"``.
    family : ndarray of str or None
        Most probable attack family for attack verdicts, ``"BENIGN"`` otherwise, ``""`` when
        unscored; None when the model has no family head.
    identifiers : dict of str to ndarray
        The flow's identifiers (see :data:`IDENTIFIER_FIELDS`) when the input has them.
    """

    row: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    probability: np.ndarray
    verdict: np.ndarray
    family: np.ndarray | None = None
    identifiers: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.row.shape[0])

    def counts(self) -> dict[str, int]:
        """Rows per verdict (``attack``, ``benign``, ``unscored``)."""
        return {v: int(np.count_nonzero(self.verdict == v)) for v in ("attack", "benign", "unscored")}

    def to_arrow(self) -> pa.Table:
        """The results as an Arrow table (identifiers first, then row and the scores)."""
        cols: dict[str, pa.Array] = {}
        for name in IDENTIFIER_FIELDS:
            if name in self.identifiers:
                cols[name] = _plain(self.identifiers[name])
        cols["row"] = pa.array(self.row, type=pa.int64())
        cols["status"] = pa.array(self.status.astype(str), type=pa.string())
        cols["probability"] = pa.array(self.probability, type=pa.float64(), mask=np.isnan(self.probability))
        cols["verdict"] = pa.array(self.verdict.astype(str), type=pa.string())
        if self.family is not None:
            cols["family"] = pa.array(self.family.astype(str), type=pa.string())
        cols["reason"] = pa.array(self.reason.astype(str), type=pa.string())
        return pa.table(cols)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per row (null probability for unscorable rows)."""
        return self.to_arrow().to_pylist()


def _plain(values: np.ndarray) -> pa.Array:
    # Identifier arrays from loaders may be object arrays holding None/NaN for missing cells.
    if values.dtype.kind in "iub":
        return pa.array(values)
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if whole[~np.isnan(values)].all():
            return pa.array(np.nan_to_num(values).astype(np.int64), mask=np.isnan(values))
        return pa.array(values, mask=np.isnan(values))
    if values.dtype.kind == "M":
        text = np.datetime_as_string(values.astype("datetime64[s]"), unit="s")
        return pa.array(text, type=pa.string(), mask=np.isnat(values))
    try:
        # from_pandas maps None and NaN to null in one vectorised pass.
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values.tolist()],
                        type=pa.string())


@dataclass(frozen=True)
class Scorer:
    """Everything needed to score raw flows, resolved once from a model artifact.

    Parameters
    ----------
    feature_names : tuple of str
        Raw columns read from each flow, in order: the stored flow features (model input order),
        then, for a model with temporal features, the raw columns they need that are not features.
    transform : object with ``transform(raw) -> ndarray``
        The transform fitted at training time (never refitted here).
    predict : callable
        ``predict(X_transformed) -> P(attack) (n,) or class probabilities (n, K)``.
    threshold : float
        Decision threshold on P(attack).
    family_names : tuple of str or None, default=None
        Class names of a multi-class head, in output order (must include ``"BENIGN"``).
    extras : privids.features.ExtraInputs or None, default=None
        Stored anomaly score / temporal recipe appended after the transformed features.
    n_flow_features : int or None, default=None
        How many leading ``feature_names`` the transform takes (None: all of them).

    Notes
    -----
    With temporal features, each scored batch (a file, a CSV body, a JSON request) is its own
    history: a flow's windows count the earlier flows of the same source *in that batch*, as in
    training, where the whole training file was the history. Flows need ``timestamp`` and
    ``src_ip`` identifiers; a flow without them is unscorable (and outside every window).
    """

    feature_names: tuple[str, ...]
    transform: Any
    predict: Callable[[np.ndarray], np.ndarray]
    threshold: float
    family_names: tuple[str, ...] | None = None
    extras: Any = None
    n_flow_features: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ArtifactError(f"model threshold must be in [0, 1]; got {self.threshold!r}. Re-save the artifact.")
        if self.family_names is not None and _BENIGN not in self.family_names:
            raise ArtifactError(f"a family head needs a {_BENIGN!r} class; got {list(self.family_names)}. Re-train.")

    @classmethod
    def from_artifact(cls, artifact: Any) -> Scorer:
        """Build a scorer from a loaded :class:`privids.artifacts.ModelArtifact`.

        Raises
        ------
        ArtifactError
            Metadata without a feature list, threshold or (multi-class) label map.
        """
        try:
            features = tuple(artifact.feature_names)
            threshold = float(artifact.threshold)
            fams = tuple(artifact.class_names) if artifact.task == "multiclass" else None
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"artifact metadata needs feature_names, threshold, task and label_map; got keys "
                                f"{sorted(artifact.metadata)}. Re-save the model with privids.artifacts.") from e
        extras = getattr(artifact, "extra_inputs", None)
        if extras is None or extras.empty:
            return cls(feature_names=features, transform=artifact.transform, predict=artifact.predict_scores,
                       threshold=threshold, family_names=fams)
        flow = tuple(artifact.flow_feature_names)
        return cls(feature_names=tuple(artifact.input_columns), transform=artifact.transform,
                   predict=artifact.predict_scores, threshold=threshold, family_names=fams, extras=extras,
                   n_flow_features=len(flow))

    def score_matrix(self, raw: np.ndarray, *, row_status: Sequence[str] | np.ndarray | None = None,
                     identifiers: Mapping[str, np.ndarray] | None = None) -> ScoreResult:
        """Score a raw feature matrix whose columns follow :attr:`feature_names`.

        Parameters
        ----------
        raw : ndarray, shape (n, F)
            Untransformed values; NaN/inf allowed (the stored transform decides what they become).
        row_status : sequence of str, optional
            Per-row reason from the loader why a row cannot be scored (empty string or ``"ok"``
            for a usable row).
        identifiers : dict of str to ndarray, optional
            Identifier columns of the same length, echoed into the results; a model with
            temporal features reads ``timestamp`` and ``src_ip`` from them.

        Returns
        -------
        ScoreResult
            Exactly ``n`` results in input order.

        Raises
        ------
        DataError
            Wrong shapes, or a temporal model given no timestamps or source addresses at all.
        """
        raw = np.asarray(raw)
        n = raw.shape[0] if raw.ndim == 2 else -1
        if raw.ndim != 2 or raw.shape[1] != len(self.feature_names):
            raise DataError(f"raw flows must have shape (n, {len(self.feature_names)}) in the stored feature order; "
                            f"got {raw.shape}. Build the matrix with table.matrix(feature_names).")
        reason = np.full(n, "", dtype=object)
        usable = np.ones(n, dtype=bool)
        if row_status is not None:
            st = np.asarray(row_status, dtype=object)
            if st.shape != (n,):
                raise DataError(f"row_status must have one entry per row ({n}); got shape {st.shape}.")
            bad = (st != "") & (st != "ok") & np.not_equal(st, None)
            usable &= ~bad
            reason[bad] = st[bad]
        temporal = None
        if self.extras is not None and self.extras.temporal is not None:
            temporal, no_history = self._temporal(raw, identifiers or {}, n)
            reason[usable & no_history] = "no timestamp or source address (needed by the temporal features)"
            usable &= ~no_history
        n_flow = raw.shape[1] if self.n_flow_features is None else self.n_flow_features
        flow_raw = raw if n_flow == raw.shape[1] else np.ascontiguousarray(raw[:, :n_flow])
        idx = np.flatnonzero(usable)
        X = np.zeros((n, n_flow), dtype=np.float32)
        self._transform_into(X, flow_raw, None if idx.size == n else idx)
        out_bad = usable & ~np.isfinite(X).all(axis=1)
        for i in np.flatnonzero(out_bad):
            cols = [self.feature_names[j] for j in np.flatnonzero(~np.isfinite(X[i]))]
            reason[i] = f"non-finite after the stored transform: {', '.join(cols)}"
        usable &= ~out_bad
        for i in np.flatnonzero(usable & ~np.isfinite(raw).all(axis=1)):
            cols = [f"{self.feature_names[j]}={raw[i, j]}" for j in np.flatnonzero(~np.isfinite(raw[i]))]
            reason[i] = f"non-finite input handled by the stored transform: {', '.join(cols)}"
        prob = np.full(n, np.nan)
        family = np.full(n, "", dtype=object) if self.family_names is not None else None
        idx = np.flatnonzero(usable)
        if idx.size:
            Xm = X[idx] if idx.size < n else X
            if self.extras is not None:
                Xm = self.extras.append(Xm, temporal=None if temporal is None else temporal[idx])
            scores = np.asarray(self.predict(Xm), dtype=np.float64)
            if self.family_names is None:
                prob[idx] = scores.reshape(-1)
            else:
                prob[idx], family[idx] = self._families(scores)  # type: ignore[index]
        # NaN >= t is False, so unscored rows need their own mask, not the comparison alone.
        verdict = np.where(usable, np.where(prob >= self.threshold, "attack", "benign"), "unscored")
        if family is not None:
            family[verdict == "benign"] = _BENIGN
        status = np.where(usable, "scored", "unscorable")
        ids = {k: np.asarray(v) for k, v in (identifiers or {}).items() if k in IDENTIFIER_FIELDS}
        for k, v in ids.items():
            if v.shape[0] != n:
                raise DataError(f"identifier {k!r} must have one entry per row ({n}); got {v.shape[0]}.")
        return ScoreResult(row=np.arange(n, dtype=np.int64), status=status, reason=reason, probability=prob,
                           verdict=verdict, family=family, identifiers=ids)

    def _temporal(self, raw: np.ndarray, identifiers: Mapping[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Temporal columns for the flows that have a time and a source, and the mask of those that do not."""
        from privids.features.extra_inputs import flow_seconds

        missing = [k for k in ("timestamp", "src_ip") if k not in identifiers]
        if missing:
            raise DataError(f"this model uses temporal features, which need each flow's timestamp and source address; "
                            f"got no {missing} (send Timestamp and Source IP with every flow), or score with a model "
                            "trained without --temporal.")
        seconds = flow_seconds(np.asarray(identifiers["timestamp"]))
        src = np.asarray(identifiers["src_ip"], dtype=object)
        if seconds.shape != (n,) or src.shape != (n,):
            raise DataError(f"timestamp and src_ip must have one entry per flow ({n}); got {seconds.shape}, {src.shape}.")
        blank = np.array([v is None or (isinstance(v, float) and v != v) or str(v).strip() == "" for v in src.tolist()],
                         dtype=bool)
        no_history = np.isnan(seconds) | blank
        out = np.zeros((n, len(self.extras.temporal.names())), dtype=np.float32)
        ok = np.flatnonzero(~no_history)
        if ok.size:
            out[ok] = self.extras.temporal_matrix(raw[ok], self.feature_names, timestamps=seconds[ok],
                                                  sources=src[ok].astype(str))
        return out, no_history

    def _transform_into(self, X: np.ndarray, raw: np.ndarray, rows: np.ndarray | None) -> None:
        # 1024-row blocks keep every pass of the transform inside the CPU cache: measured 2.7x less
        # CPU per flow than one call on a million rows, with identical output (it is row-wise).
        if rows is None:
            for start in range(0, raw.shape[0], _CHUNK):
                X[start : start + _CHUNK] = self.transform.transform(raw[start : start + _CHUNK])
            return
        for start in range(0, rows.size, _CHUNK):
            sel = rows[start : start + _CHUNK]
            X[sel] = self.transform.transform(raw[sel])

    def _families(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names = self.family_names or ()
        if probs.ndim != 2 or probs.shape[1] != len(names):
            raise ArtifactError(f"model returned class probabilities of shape {probs.shape}; the artifact lists "
                                f"{len(names)} families {list(names)}. Re-save the artifact with its family list.")
        b = names.index(_BENIGN)
        attack_only = probs.copy()
        attack_only[:, b] = -1.0
        fam = np.asarray(names, dtype=object)[attack_only.argmax(axis=1)]
        return 1.0 - probs[:, b], fam


def score_table(artifact: Any, table: Any, *, scorer: Scorer | None = None) -> ScoreResult:
    """Score a loaded flow table with a stored model.

    Parameters
    ----------
    artifact : privids.artifacts.ModelArtifact
        The loaded model (feature list, fitted transform, threshold, optional family head).
    table : privids.data.FlowTable
        Flows read with ``load_flows(path, mode="score")``: every input row, in input order,
        with ``meta["row_status"]`` reasons and identifier columns in ``meta``.
    scorer : Scorer, optional
        A scorer already built from ``artifact`` (the API builds one at start-up).

    Returns
    -------
    ScoreResult
        One result per row of ``table``.

    Notes
    -----
    The transform stored with the model is applied as is; nothing is refitted on the scored
    flows, so a column that was constant at training time may vary here without error.
    """
    sc = scorer or Scorer.from_artifact(artifact)
    # For a temporal model these columns include the flag columns its windows read (not features).
    raw = table.matrix(sc.feature_names)
    meta = getattr(table, "meta", None) or {}
    return sc.score_matrix(raw, row_status=meta.get("row_status"), identifiers=meta)


def write_alerts(result: ScoreResult, dest: str | Path | IO[bytes], *, fmt: str | None = None) -> str:
    """Write results as JSON lines or CSV.

    Parameters
    ----------
    result : ScoreResult
    dest : str, Path or binary file object
        Output file (parent folders are created) or an open binary stream.
    fmt : {"jsonl", "csv"} or None, default=None
        None takes the format from the file suffix (``.csv``; anything else is JSON lines).

    Returns
    -------
    str
        Where the alerts went (path or ``"<stream>"``).

    Raises
    ------
    ConfigError
        Unknown format.
    """
    is_path = isinstance(dest, str | Path)
    suffix = Path(dest).suffix.lstrip(".").lower() if is_path else ""  # type: ignore[arg-type]
    chosen = (fmt or ("csv" if suffix == "csv" else "jsonl")).lower()
    chosen = "jsonl" if chosen in ("json", "ndjson") else chosen
    if chosen not in _FORMATS:
        raise ConfigError(f"--format must be one of {list(_FORMATS)}; got {chosen!r}. Pass --format jsonl or csv.")
    import polars as pl

    frame = pl.from_arrow(result.to_arrow())
    assert isinstance(frame, pl.DataFrame)
    target: Any = dest
    if is_path:
        target = Path(dest)  # type: ignore[arg-type]
        target.parent.mkdir(parents=True, exist_ok=True)
    if chosen == "csv":
        frame.write_csv(target)
    else:
        frame.write_ndjson(target)
    return str(target) if is_path else "<stream>"
