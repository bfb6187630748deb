"""Parse one flow CSV (bytes) into canonical columns, recording every quirk in a FileReport.

The fast path is a single polars parse with an explicit Float32 schema for the features
(stack-probe section 4: the fastest reader here, and it never infers ``String`` for a column
that starts with ``Infinity``). Quirks are found with cheap whole-buffer byte searches before the
parse (BOM, CRLF, repeated header lines) and vectorised column statistics after it (padding rows,
non-finite and negative cells, the duplicated column). Only a file with a cell that is not a
number takes the slow path, which reads every cell as text to name the line and column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from privids.data.quirks import cell_counts, finite_rows, padding_rows
from privids.data.report import FileReport, line_set
from privids.data.schema import CANONICAL_FEATURES, ColumnMapping, map_columns
from privids.exceptions import ParseError, SchemaError

__all__ = ["LabelColumn", "ParsedFile", "parse_csv_bytes", "parse_csv_file"]

_BOM = b"\xef\xbb\xbf"


@dataclass
class ParsedFile:
    """One file's rows, still per file; ``loaders`` copies the features out and labels them.

    Attributes
    ----------
    frame : polars.DataFrame or None
        The parsed columns (Float32 features, null for empty or unparseable cells), every data
        row of the file; the loader copies the kept rows of ``feature_columns`` into the table's
        matrix and then drops the frame (None afterwards).
    feature_columns : list of str
        Column of ``frame`` holding each of :data:`CANONICAL_FEATURES`, in order.
    keep : ndarray of bool or None
        Rows of ``frame`` that are flows of the table (None: all of them).
    labels : LabelColumn or None
        The kept rows' labels (None when the file has no label column).
    identifiers : dict of str to polars.Series
        Identifier columns as text, kept rows only.
    lines : ndarray of int64
        1-based line of each kept row in the file (the header is line 1).
    status : list of (str, ndarray of int)
        Why some kept rows cannot be scored (score mode only), with their positions among the kept
        rows; a row listed twice keeps the later reason. Every other row's status is ``""``.
    report : FileReport
    """

    frame: pl.DataFrame | None
    feature_columns: list[str]
    keep: np.ndarray | None
    labels: LabelColumn | None
    identifiers: dict[str, pl.Series]
    lines: np.ndarray
    status: list[tuple[str, np.ndarray]]
    report: FileReport

    @property
    def n(self) -> int:
        """Number of flow rows."""
        return int(self.lines.size)


@dataclass(frozen=True)
class LabelColumn:
    """Labels as codes into the distinct stripped spellings (text work once per spelling).

    Attributes
    ----------
    codes : ndarray of int32
        Per kept row, an index into ``values``.
    values : list of str
        Distinct labels with surrounding whitespace stripped (``""`` for an empty cell).
    """

    codes: np.ndarray
    values: list[str]


def _label_codes(raw: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Per-row codes into the stripped distinct values of a label column (null -> ``""``)."""
    distinct = raw.drop_nulls().unique().sort()
    # Strip with the same polars rule as always, but once per distinct spelling, not per row.
    stripped = distinct.str.strip_chars().to_list()
    codes = raw.cast(pl.Enum(distinct.to_list())).to_physical().fill_null(len(stripped)).to_numpy()
    return codes.astype(np.int32, copy=False), [*stripped, ""]


_HEAD = 1 << 16


def _header(data: bytes, source: str) -> tuple[list[str], bytes, int]:
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)]
    if not first.strip():
        raise SchemaError(f"{source}: the first line is empty; got no header; fix: the file must start with the CSV header.")
    raw = first[3:] if first.startswith(_BOM) else first
    core = raw.rstrip(b"\r")
    names = next(csv.reader([core.decode("utf-8", errors="replace")]))
    return names, core, (end + 1 if end >= 0 else len(data))


def _drop_repeated_headers(data: bytes, core: bytes, body_start: int) -> tuple[bytes, np.ndarray]:
    """Remove header lines repeated inside the data; return their 1-based line numbers."""
    needle = b"\n" + core
    hits: list[int] = []
    pos = data.find(needle, body_start - 1)
    while pos >= 0:
        after = pos + len(needle)
        if after == len(data) or data[after : after + 1] in (b"\n", b"\r"):
            hits.append(pos + 1)
        pos = data.find(needle, pos + 1)
    if not hits:
        return data, np.empty(0, dtype=np.int64)
    lines, pieces, prev, counted, at = [], [data[:body_start]], body_start, 0, 0
    for start in hits:
        counted += data.count(b"\n", at, start)
        at = start
        lines.append(counted + 1)
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        pieces.append(data[prev:start])
        prev = end
    pieces.append(data[prev:])
    return b"".join(pieces), np.asarray(lines, dtype=np.int64)


def _read(src: Path | bytes, n_cols: int, mapping: ColumnMapping, *, numeric: bool, lossy: bool) -> pl.DataFrame:
    wanted = sorted({*mapping.features.values(), *mapping.identifiers.values()}
                    | ({mapping.duplicate} if mapping.duplicate is not None else set())
                    | ({mapping.label} if mapping.label is not None else set()))  # fmt: skip
    numeric_cols = {*mapping.features.values(), *(() if mapping.duplicate is None else (mapping.duplicate,))}
    schema = {
        f"column_{i + 1}": (pl.Float32 if numeric and i in numeric_cols else pl.String) for i in range(n_cols)
    }
    return pl.read_csv(
        src,
        has_header=False,
        skip_rows=1,
        schema=schema,
        columns=[f"column_{i + 1}" for i in wanted],
        encoding="utf8-lossy" if lossy else "utf8",
        truncate_ragged_lines=True,
    )


def _read_any(src: Path | bytes, n_cols: int, mapping: ColumnMapping, numeric_cols: list[str], *, strict_first: bool):
    """Fast typed parse; on a non-UTF-8 label retry lossily; on a bad cell fall back to text."""
    lossy = not strict_first
    if strict_first:
        try:
            return _read(src, n_cols, mapping, numeric=True, lossy=False), {}, None, lossy
        except pl.exceptions.ComputeError as e:
            # Only the label can be non-UTF-8 (the cp1252 dash): decode it lossily; U+FFFD is normalised later.
            lossy = "utf-8" in str(e).lower() or "utf8" in str(e).lower()
    if lossy:
        try:
            return _read(src, n_cols, mapping, numeric=True, lossy=True), {}, None, lossy
        except pl.exceptions.ComputeError:
            pass
    text = _read(src, n_cols, mapping, numeric=False, lossy=True)
    df, bad = _cast_text(text, numeric_cols)
    return df, bad, text, True


def _cast_text(df: pl.DataFrame, cols: list[str]) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Cast text feature columns to Float32; return a mask of the cells that are not numbers."""
    out = df.with_columns([pl.col(c).str.strip_chars().cast(pl.Float32, strict=False) for c in cols])
    bad: dict[str, np.ndarray] = {}
    for c in cols:
        mask = ((df[c].str.strip_chars().str.len_chars() > 0) & out[c].is_null()).fill_null(False).to_numpy()
        if mask.any():
            bad[c] = mask
    return out, bad


def _duplicate_conflicts(
    df: pl.DataFrame, first: str, second: str, lines: np.ndarray, keep: np.ndarray
) -> dict[str, object]:
    a = df[first].to_numpy()
    b = df[second].to_numpy()
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return {"present": True, "kept": "first copy", "conflicting": line_set(lines[~same & keep])}


def parse_csv_bytes(data: bytes, source: str, *, mode: str = "train", nonfinite: str = "drop") -> ParsedFile:
    """Parse one CIC flow CSV held in memory (a zip member, a re-serialised Parquet file).

    See :func:`parse_csv_file` for the parameters and rules.
    """
    names, core, body_start = _header(data, source)
    rep = _start_report(source, data[: body_start + 1], len(data), names)
    data, header_lines = _drop_repeated_headers(data, core, body_start)
    return _parse(data, names, header_lines, rep, mode=mode, nonfinite=nonfinite)


def parse_csv_file(path: Path, source: str, *, mode: str = "train", nonfinite: str = "drop") -> ParsedFile:
    """Parse one CIC flow CSV file; polars reads the file itself (no Python copy of its bytes).

    Parameters
    ----------
    path : Path
    source : str
        Name used in reports and errors.
    mode : {"train", "score"}
        Train mode raises :class:`ParseError` on a cell that is not a number and excludes rows with
        an empty label; score mode keeps every flow row (a bad cell becomes NaN and the row is
        flagged in ``status``).
    nonfinite : {"drop", "impute"}
        Train mode only: drop rows with an Infinity/NaN/empty feature, or keep them for the
        fitted transform to impute.

    Returns
    -------
    ParsedFile

    Raises
    ------
    SchemaError
        Unknown layout, or no label column in train mode.
    ParseError
        A non-numeric feature cell in train mode (names file, line and column).
    """
    with path.open("rb") as fh:
        head = fh.read(_HEAD)
    names, core, body_start = _header(head, source)
    if body_start >= len(head) and len(head) == _HEAD:
        with path.open("rb") as fh:  # a header longer than the probe: read the whole file
            return parse_csv_bytes(fh.read(), source, mode=mode, nonfinite=nonfinite)
    rep = _start_report(source, head[: body_start + 1], path.stat().st_size, names)
    mapping = _mapping(names, source, mode)
    try:
        frame = _read(path, len(names), mapping, numeric=True, lossy=False)
    except pl.exceptions.ComputeError:
        # A typed parse fails on a repeated header line (its cells are names, not numbers), on a
        # non-UTF-8 label or on a bad cell. Only the first needs the bytes rewritten.
        data, header_lines = _drop_repeated_headers(path.read_bytes(), core, body_start)
        if header_lines.size:
            return _parse(data, names, header_lines, rep, mode=mode, nonfinite=nonfinite)
        del data
        return _parse(path, names, header_lines, rep, mode=mode, nonfinite=nonfinite, strict_first=False)
    return _parse(path, names, np.empty(0, dtype=np.int64), rep, mode=mode, nonfinite=nonfinite, frame=frame)


def _mapping(names: list[str], source: str, mode: str) -> ColumnMapping:
    mapping = map_columns(names, source=source)
    if mode == "train" and mapping.label is None:
        seen = [n.strip() for n in names]
        raise SchemaError(
            f"{source}: no 'Label' column found, so these flows cannot be used for training; got columns "
            f"{seen[:6]} ... {seen[-3:]}; fix: add the label column, or score the file instead of training on it."
        )
    return mapping


def _start_report(source: str, head: bytes, size: int, names: list[str]) -> FileReport:
    rep = FileReport(path=source, bytes=size, bom=head.startswith(_BOM))
    end = head.find(b"\n")
    rep.crlf = end > 0 and head[end - 1 : end] == b"\r"
    return rep


def _parse(
    src: Path | bytes,
    names: list[str],
    header_lines: np.ndarray,
    rep: FileReport,
    *,
    mode: str,
    nonfinite: str,
    frame: pl.DataFrame | None = None,
    strict_first: bool = True,
) -> ParsedFile:
    source = rep.path
    mapping = _mapping(names, source, mode)
    rep.schema = mapping.schema
    rep.unused_columns = list(mapping.unused)
    rep.repeated_headers = line_set(header_lines)

    col = {canon: f"column_{i + 1}" for canon, i in mapping.features.items()}
    canon_of = {v: k for k, v in col.items()}
    dup_col = None if mapping.duplicate is None else f"column_{mapping.duplicate + 1}"
    label_col = None if mapping.label is None else f"column_{mapping.label + 1}"
    numeric_cols = [col[c] for c in CANONICAL_FEATURES] + ([dup_col] if dup_col else [])
    if frame is not None:
        df, bad, text = frame, {}, None
    else:
        df, bad, text, _ = _read_any(src, len(names), mapping, numeric_cols, strict_first=strict_first)
    del src, frame

    n = df.height
    # Lines removed as repeated headers shift every later row; map rows back to file lines.
    lines = np.arange(2, 2 + n + header_lines.size, dtype=np.int64)
    if header_lines.size:
        lines = np.delete(lines, header_lines - 2)
    rep.data_lines = n + int(header_lines.size)

    if bad and mode == "train":
        first = min(bad, key=lambda c: int(np.argmax(bad[c])))
        row = int(np.argmax(bad[first]))
        name = canon_of.get(first, "Fwd Header Length (second copy)")
        value = text[first][row] if text is not None else None
        raise ParseError(
            f"{source}, line {int(lines[row])}, column {name!r}: expected a number, got {value!r} "
            f"({int(bad[first].sum())} such cell(s) in this column); fix: correct or remove the line, "
            "or score the file (score mode flags such rows instead of stopping).",
            path=source,
            line=int(lines[row]),
            column=name,
        )
    del text

    pad = padding_rows(df)
    keep = np.ones(n, dtype=bool) if pad is None else ~pad
    rep.padding_rows = line_set(lines[pad] if pad is not None else lines[:0])
    label_codes, label_values = (None, None) if label_col is None else _label_codes(df[label_col])
    if label_codes is not None:
        empty_value = np.array([v == "" for v in label_values])
        empty_label = empty_value[label_codes] & keep
        rep.empty_labels = line_set(lines[empty_label])
        if mode == "train" and empty_label.any():
            keep &= ~empty_label
            rep.dropped["empty label"] = int(empty_label.sum())

    # Column statistics over the flow rows only (padding / excluded rows counted apart, not copied).
    counts = cell_counts(df, col, None if keep.all() else ~keep)
    for canon in CANONICAL_FEATURES:
        inf, nan, empty, neg = counts[canon]
        if inf or nan or empty:
            rep.nonfinite[canon] = {"inf": inf, "nan": nan, "empty": empty}
        if neg:
            rep.negatives[canon] = neg
    if dup_col is not None:
        rep.duplicate_column = _duplicate_conflicts(df, col["Fwd Header Length"], dup_col, lines, keep)
    else:
        rep.duplicate_column = {"present": False}

    finite = finite_rows(df, col, counts)
    nonfinite_rows = keep & ~finite if finite is not None else np.zeros(n, dtype=bool)
    rep.nonfinite_rows = line_set(lines[nonfinite_rows])
    if mode == "train" and nonfinite == "drop" and nonfinite_rows.any():
        rep.dropped["non-finite feature (Infinity/NaN/empty)"] = int(nonfinite_rows.sum())
        keep &= ~nonfinite_rows

    lines = lines[keep]
    status: list[tuple[str, np.ndarray]] = []
    for c, mask in bad.items():
        m = mask[keep]
        name = canon_of.get(c, "Fwd Header Length")
        status.append((f"not a number in column {name!r}", np.flatnonzero(m)))
        rep.unparseable[name] = line_set(lines[m])

    every = bool(keep.all())
    keep_s = None if every else pl.Series(keep)
    labels = None
    if label_codes is not None:
        labels = LabelColumn(codes=label_codes if every else label_codes[keep], values=label_values)
    idents = {key: (df[f"column_{i + 1}"] if keep_s is None else df[f"column_{i + 1}"].filter(keep_s))
              for key, i in mapping.identifiers.items()}  # fmt: skip
    rep.rows = int(lines.size)
    feature_columns = [col[c] for c in CANONICAL_FEATURES]
    return ParsedFile(frame=df, feature_columns=feature_columns, keep=None if every else keep, labels=labels,
                      identifiers=idents, lines=lines, status=status, report=rep)  # fmt: skip
