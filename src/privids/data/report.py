"""The data report: every quirk found, repaired or dropped, per file and in total.

Nothing is fixed silently. Each reader step records what it saw in a :class:`FileReport`; the
:class:`DataReport` sums them, and ``prepare_data`` appends the cleaning and split sections.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MAX_LINES", "DataReport", "FileReport", "line_set"]

MAX_LINES = 50
"""How many line numbers a report entry lists (the count is always exact)."""


def line_set(lines: np.ndarray | list[int]) -> dict[str, Any]:
    """``{"count": n, "lines": [first MAX_LINES line numbers]}`` for one quirk."""
    arr = np.asarray(lines, dtype=np.int64)
    return {"count": int(arr.size), "lines": [int(v) for v in arr[:MAX_LINES]]}


@dataclass
class FileReport:
    """What one input file contained and what happened to it.

    Attributes
    ----------
    path : str
    schema : str
        Detected layout (see :func:`privids.data.schema.map_columns`).
    bytes : int
    bom, crlf : bool
        A UTF-8 byte-order mark / Windows line endings were present (both handled).
    data_lines : int
        Lines after the header, before any skipping.
    rows : int
        Flow rows kept in the table.
    padding_rows, repeated_headers, empty_labels : dict
        ``line_set`` entries: rows whose every field is empty (skipped), header lines repeated
        inside the data (skipped), flows with an empty label (excluded in train mode).
    nonfinite : dict
        Column -> ``{"inf": n, "nan": n, "empty": n}`` (``NaN`` text vs. an empty cell).
    nonfinite_rows : dict
        ``line_set`` of rows with at least one non-finite feature.
    negatives : dict
        Column -> number of negative cells (sentinels such as ``-1`` window sizes).
    duplicate_column : dict
        The duplicated ``Fwd Header Length``: ``{"present", "conflicting": line_set}``.
    label_counts : dict
        Canonical label -> rows kept.
    label_spellings : dict
        Raw spelling -> ``{"canonical", "rows"}`` for every label that was rewritten.
    unparseable : dict
        Column -> ``line_set`` of cells that are not numbers (score mode flags, train mode raises).
    dropped : dict
        Reason -> rows removed from this file.
    unused_columns : list of str
        Header names that are neither features, identifiers nor the label.
    timestamps_pm_fixed, timestamps_unparsed : int
        2017 12-hour-clock timestamps read as p.m.; Timestamp cells in no known format (NaT).
    """

    path: str
    schema: str = ""
    bytes: int = 0
    bom: bool = False
    crlf: bool = False
    data_lines: int = 0
    rows: int = 0
    padding_rows: dict[str, Any] = field(default_factory=lambda: line_set([]))
    repeated_headers: dict[str, Any] = field(default_factory=lambda: line_set([]))
    empty_labels: dict[str, Any] = field(default_factory=lambda: line_set([]))
    nonfinite: dict[str, dict[str, int]] = field(default_factory=dict)
    nonfinite_rows: dict[str, Any] = field(default_factory=lambda: line_set([]))
    negatives: dict[str, int] = field(default_factory=dict)
    duplicate_column: dict[str, Any] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    label_spellings: dict[str, dict[str, Any]] = field(default_factory=dict)
    unparseable: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    unused_columns: list[str] = field(default_factory=list)
    timestamps_pm_fixed: int = 0
    timestamps_unparsed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class DataReport:
    """All file reports of one load, their totals, and the steps applied after loading.

    Attributes
    ----------
    files : tuple of FileReport
    mode : str
        ``"train"`` or ``"score"``.
    nonfinite_policy : str
    sections : dict
        Later steps (``cleaning``, ``features``, ``split``) add their own entries here.
    """

    files: tuple[FileReport, ...]
    mode: str = "train"
    nonfinite_policy: str = "drop"
    sections: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        """Counts summed over files (rows, skipped lines, non-finite cells, labels, drops)."""
        labels: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        negatives: Counter[str] = Counter()
        nonfinite: dict[str, Counter[str]] = {}
        for f in self.files:
            labels.update(f.label_counts)
            dropped.update(f.dropped)
            negatives.update(f.negatives)
            for col, kinds in f.nonfinite.items():
                nonfinite.setdefault(col, Counter()).update(kinds)
        return {
            "files": len(self.files),
            "bytes": sum(f.bytes for f in self.files),
            "data_lines": sum(f.data_lines for f in self.files),
            "rows": sum(f.rows for f in self.files),
            "padding_rows": sum(f.padding_rows["count"] for f in self.files),
            "repeated_headers": sum(f.repeated_headers["count"] for f in self.files),
            "empty_labels": sum(f.empty_labels["count"] for f in self.files),
            "nonfinite_rows": sum(f.nonfinite_rows["count"] for f in self.files),
            "duplicate_column_conflicts": sum(
                f.duplicate_column.get("conflicting", {}).get("count", 0) for f in self.files
            ),
            "nonfinite": {c: dict(k) for c, k in sorted(nonfinite.items())},
            "negatives": dict(sorted(negatives.items())),
            "label_counts": dict(sorted(labels.items())),
            "dropped": dict(sorted(dropped.items())),
        }

    def with_section(self, name: str, content: Any) -> DataReport:
        """A copy with one more post-load section (the report itself stays immutable)."""
        return DataReport(self.files, self.mode, self.nonfinite_policy, {**self.sections, name: content})

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready nested dicts."""
        return {
            "mode": self.mode,
            "nonfinite_policy": self.nonfinite_policy,
            "totals": self.totals(),
            "files": [f.to_dict() for f in self.files],
            **self.sections,
        }
