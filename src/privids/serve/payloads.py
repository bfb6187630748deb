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
    payload : list of dict, or dict with key ``"flows"``
        Each flow maps feature names to numbers. Names are matched after stripping spaces and
        ignoring case, so raw CIC headers (``" Flow Duration"``) and stripped ones both work.
        Identifier keys (``flow_id``, ``src_ip``, ``Source IP``, ...) are echoed back; other
        keys (e.g. ``Label``) are ignored.
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
    """
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
                k = _key(key)
                target = index.get(k)
                if target is None:
                    target = k if k in IDENTIFIER_FIELDS else _IDENTIFIER_ALIASES.get(k)
                memo[key] = target
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
