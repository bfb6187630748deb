"""Capture time of each flow: parsed timestamps and the capture day.

CIC-IDS2017 TrafficLabelling writes ``d/m/Y H:M[:S]`` on a 12-hour clock without AM/PM (an
afternoon flow reads ``3:56``); the capture ran from about 08:00 to 18:00, so a 2017 hour below 8
is read as p.m. and counted. CSE-CIC-IDS2018 writes ``d/m/Y H:M:S`` on a 24-hour clock; the
improved re-extraction writes ISO timestamps. Times carry no zone: they are stored as naive
epoch seconds (lab local time).
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

__all__ = ["WEEKDAYS", "day_from_name", "parse_timestamps", "weekday_names"]

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_RE = re.compile(r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)", re.IGNORECASE)


def parse_timestamps(text: pl.Series) -> tuple[np.ndarray, int]:
    """Parse a Timestamp column.

    Parameters
    ----------
    text : polars.Series of str

    Returns
    -------
    timestamps : ndarray of datetime64[s]
        NaT where the cell is empty or in no known format.
    pm_fixed : int
        2017 day-first timestamps moved by 12 h (12-hour clock without AM/PM).
    """
    s = text.str.strip_chars()
    dayfirst = pl.coalesce(
        [s.str.to_datetime(f, strict=False, time_unit="us") for f in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")]
    )
    iso = pl.coalesce(
        [
            s.str.to_datetime(f, strict=False, time_unit="us")
            for f in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %I:%M:%S %p")
        ]
    )
    frame = pl.DataFrame({"s": s}).select(dayfirst=dayfirst, iso=iso)
    needs_pm = (
        pl.col("dayfirst").is_not_null() & (pl.col("dayfirst").dt.year() == 2017) & (pl.col("dayfirst").dt.hour() < 8)
    )
    out = frame.select(
        ts=pl.when(needs_pm).then(pl.col("dayfirst") + pl.duration(hours=12)).otherwise(pl.col("dayfirst")),
        fixed=needs_pm.sum(),
        iso=pl.col("iso"),
    )
    ts = out["ts"].fill_null(out["iso"])
    values = ts.to_numpy().astype("datetime64[s]")
    return values, int(out["fixed"][0] or 0)


def weekday_names(ts: np.ndarray) -> np.ndarray:
    """Lower-case weekday names (``"friday"``) for datetime64 values; ``""`` for NaT."""
    names = np.array(WEEKDAYS + ("",), dtype=object)
    days = ts.astype("datetime64[D]")
    # 1970-01-01 was a Thursday (index 3).
    idx = (days.astype(np.int64) + 3) % 7
    idx = np.where(np.isnat(ts), 7, idx)
    return names[idx]


def day_from_name(name: str) -> str:
    """The capture day named in a file name (``Friday-WorkingHours-...``), else ``"unknown"``."""
    hit = _DAY_RE.search(name.rsplit("/", 1)[-1]) or _DAY_RE.search(name)
    return hit.group(1).lower() if hit else "unknown"
