"""Turn API request bodies (JSON flow lists) into the raw feature matrix the scorer expects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from privids.data.schema import IDENTIFIER_COLUMNS
from privids.exceptions import DataError
from privids.serve.scoring import IDENTIFIER_FIELDS

__all__ = ["ParsedFlows", "RequestError", "flows_from_json"]

# Raw CIC-IDS2017/2018 spellings of the identifier columns ("Source IP", "Src IP", ...) are
# accepted as JSON keys too; the data layer's schema is the one list of them.
_IDENTIFIER_ALIASES: dict[str, str] = {
    " ".join(alias.split()).casefold(): meta
    for meta, aliases in IDENTIFIER_COLUMNS.items() if meta in IDENTIFIER_FIELDS for alias in aliases
}
# JSON has no literal for infinity or NaN; flow exporters write them as strings.
_SPECIAL = {"infinity": math.inf, "inf": math.inf, "+infinity": math.inf, "-infinity": -math.inf,
            "-inf": -math.inf, "nan": math.nan, "": math.nan}


_UNSEEN = object()


class RequestError(DataError):
    """A request body the API refuses; ``status`` is the HTTP code and ``field`` the culprit.

    Parameters
    ----------
    message : str
        What, got, fix.
    field : str, default=""
        JSON path of the offending value, e.g. ``"flows[3].Flow Duration"``.
    status : int, default=422
    """

    def __init__(self, message: str, *, field: str = "", status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class ParsedFlows:
    """Raw matrix (stored feature order) plus the identifiers that came with the flows."""

    raw: np.ndarray
    identifiers: dict[str, np.ndarray]


def _key(name: str) -> str:
    # Same normalisation as the file loader: raw CIC headers differ only in spacing and case.
    return " ".join(str(name).lstrip("\ufeff").split()).casefold()


def _key_index(feature_names: Sequence[str]) -> dict[str, int]:
    return {_key(name): j for j, name in enumerate(feature_names)}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise RequestError(f"{where} must be a number; got the boolean {value!r}. Send 0/1 for flag counts.", field=where)
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return math.nan
    if isinstance(value, str):
        s = value.strip().lower()
        if s in _SPECIAL:
            return _SPECIAL[s]
        try:
            return float(s)
        except ValueError:
            pass
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    raise RequestError(f"{where} must be a number (or \"Infinity\"/\"NaN\"/null); got {shown}.", field=where)


def flows_from_json(payload: Any, feature_names: Sequence[str], *, max_rows: int) -> ParsedFlows:
    """Validate a JSON body and build the raw feature matrix in the stored feature order.

    Parameters
    ----------
    payload : list of dict, dict with key ``"flows"``, or dict with ``"columns"`` and ``"rows"``
        Each flow maps feature names to numbers. Names are matched after stripping spaces and
        ignoring case, so raw CIC headers (``" Flow Duration"``) and stripped ones both work.
        Identifier keys (``flow_id``, ``src_ip``, ``Source IP``, ...) are echoed back; other
        keys (e.g. ``Label``) are ignored. The columnar form names the columns once and sends
        each flow as a list of values in that order (smaller and faster to parse).
    feature_names : sequence of str
        The model's stored feature list.
    max_rows : int
        Largest accepted number of flows.

    Returns
    -------
    ParsedFlows

    Raises
    ------
    RequestError
        Wrong shape (422), too many flows (413), a missing feature or a non-numeric value (422,
        with the field named).

    Examples
    --------
    >>> p = flows_from_json([{" Flow Duration": 3, "b": "Infinity"}], ["Flow Duration", "b"], max_rows=10)
    >>> p.raw.tolist()
    [[3.0, inf]]
    >>> flows_from_json({"columns": ["b", "flow duration"], "rows": [[1, 2]]}, ["Flow Duration", "b"], max_rows=10).raw
    array([[2., 1.]])
    """
    if isinstance(payload, Mapping) and "columns" in payload:
        return _columnar(payload, feature_names, max_rows=max_rows)
    flows = payload.get("flows") if isinstance(payload, Mapping) else payload
    if not isinstance(flows, list):
        got = type(flows).__name__ if not isinstance(payload, Mapping) else f"object with keys {sorted(payload)[:5]}"
        raise RequestError(f"body must be a JSON list of flows or {{\"flows\": [...]}}; got {got}.", field="flows")
    if len(flows) > max_rows:
        raise RequestError(f"at most {max_rows} flows per request; got {len(flows)}. Split the batch.",
                           field="flows", status=413)
    index = _key_index(feature_names)
    n, F = len(flows), len(feature_names)
    # Flows in one body share their keys, so each distinct key is normalised once:
    # key -> feature column (>= 0), identifier name (str) or None (ignored, e.g. "Label").
    memo: dict[Any, int | str | None] = {}
    rows: list[list[float]] = []
    ids: dict[str, list[Any]] = {}
    for i, flow in enumerate(flows):
        if not isinstance(flow, Mapping):
            raise RequestError(f"flows[{i}] must be an object of feature name to value; got {type(flow).__name__}.",
                               field=f"flows[{i}]")
        row = [math.nan] * F
        filled = 0
        for key, value in flow.items():
            target = memo.get(key, _UNSEEN)
            if target is _UNSEEN:
                target = memo[key] = _target(key, index)
            if type(target) is int:
                tv = type(value)
                row[target] = value if tv is float or tv is int else _number(value, f"flows[{i}].{feature_names[target]}")
                filled += 1
            elif target is not None:
                ids.setdefault(target, [None] * n)[i] = value  # type: ignore[index]
        if filled < F or any(v is math.nan for v in row):
            _check_complete(row, flow, memo, feature_names, i)
        rows.append(row)
    raw = np.array(rows, dtype=np.float64).reshape(n, F)
    return ParsedFlows(raw=raw, identifiers={k: np.asarray(v, dtype=object) for k, v in ids.items()})


def _check_complete(row: list[float], flow: Mapping[Any, Any], memo: Mapping[Any, int | str | None],
                    feature_names: Sequence[str], i: int) -> None:
    seen = {memo[k] for k in flow if type(memo.get(k)) is int}
    missing = [feature_names[j] for j in range(len(feature_names)) if j not in seen]
    if missing:
        shown = missing[:5] + (["..."] if len(missing) > 5 else [])
        raise RequestError(f"flows[{i}] is missing {len(missing)} of the model's {len(feature_names)} features: {shown}. "
                           "Send every stored feature (GET /model lists them; raw or stripped names both work).",
                           field=f"flows[{i}].{missing[0]}")


def _target(key: Any, index: Mapping[str, int]) -> int | str | None:
    k = _key(key)
    j = index.get(k)
    if j is not None:
        return j
    return k if k in IDENTIFIER_FIELDS else _IDENTIFIER_ALIASES.get(k)


def _columnar(payload: Mapping[str, Any], feature_names: Sequence[str], *, max_rows: int) -> ParsedFlows:
    columns, rows = payload.get("columns"), payload.get("rows")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise RequestError(f"columns must be a list of column names; got {type(columns).__name__}.", field="columns")
    if not isinstance(rows, list):
        raise RequestError(f"rows must be a list of flows (lists of values); got {type(rows).__name__}.", field="rows")
    if len(rows) > max_rows:
        raise RequestError(f"at most {max_rows} flows per request; got {len(rows)}. Split the batch.", field="rows",
                           status=413)
    index = _key_index(feature_names)
    targets = [_target(c, index) for c in columns]
    where: dict[int, int] = {}
    for k, t in enumerate(targets):
        if type(t) is int:
            if t in where:
                raise RequestError(f"columns[{k}] {columns[k]!r} repeats feature {feature_names[t]!r} (already "
                                   f"columns[{where[t]}]); got a duplicate. Send each feature once.",
                                   field=f"columns[{k}]")
            where[t] = k
    missing = [feature_names[j] for j in range(len(feature_names)) if j not in where]
    if missing:
        shown = missing[:5] + (["..."] if len(missing) > 5 else [])
        raise RequestError(f"columns lack {len(missing)} of the model's {len(feature_names)} features: {shown}. "
                           "GET /model lists them; raw or stripped names both work.", field=f"columns.{missing[0]}")
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
            raise RequestError(f"rows[{i}] must be a list of {width} values (one per column); got {got}.",
                               field=f"rows[{i}]")
    n = len(rows)
    raw = np.empty((n, len(feature_names)), dtype=np.float64)
    for j, k in where.items():
        col = [row[k] for row in rows]
        try:
            if any(v is True or v is False for v in col):
                raise TypeError("boolean")
            raw[:, j] = np.array(col, dtype=np.float64)
        except (TypeError, ValueError):
            # Slow path only to name the first bad cell (None and "NaN"/"Infinity" are fine).
            raw[:, j] = [_number(v, f"rows[{i}].{feature_names[j]}") for i, v in enumerate(col)]
    ids = {t: np.asarray([row[k] for row in rows], dtype=object) for k, t in enumerate(targets) if isinstance(t, str)}
    return ParsedFlows(raw=raw, identifiers=ids)
