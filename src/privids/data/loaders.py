"""``load_flows``: a CSV file, a folder of CSVs, a Parquet file or the official zip -> FlowTable.

Files are parsed one at a time (so at most one file's bytes are held in memory), then their
feature blocks are copied into one C-ordered float32 matrix while the per-file blocks are freed.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from privids.data import cache as _cache
from privids.data.capture_time import day_from_name, parse_timestamps, weekday_names
from privids.data.csvfile import ParsedFile, parse_csv_bytes, parse_csv_file
from privids.data.labels import canonical_label
from privids.data.matrix import RowBuffer
from privids.data.report import DataReport, FileReport
from privids.data.row_blocks import workers
from privids.data.schema import CANONICAL_FEATURES, map_columns
from privids.data.table import FlowTable
from privids.exceptions import ConfigError, DataError

__all__ = ["load_flows", "source_files"]

_MODES = ("train", "score")
_NONFINITE = ("drop", "impute")


def source_files(path: str | Path) -> list[Path]:
    """The data files a path stands for (a folder gives its ``*.csv``/``*.parquet``, sorted)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"flow data not found: got {str(p)!r}; fix: pass an existing CSV, folder, Parquet or zip file.")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix.lower() in (".csv", ".parquet") and f.is_file())
        if not files:
            raise DataError(f"{p}: the folder holds no .csv or .parquet files; fix: point at the folder of day files.")
        return files
    return [p]


def _parse_source(path: Path, mode: str, nonfinite: str) -> Iterator[ParsedFile]:
    """Parse every flow file a path holds (zip members and Parquet go through the bytes path)."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".csv") and not n.startswith("__MACOSX"))
            if not names:
                raise DataError(f"{path}: the zip holds no .csv member; fix: use MachineLearningCSV.zip or a CSV.")
            for n in names:
                yield parse_csv_bytes(zf.read(n), f"{path.name}/{n}", mode=mode, nonfinite=nonfinite)
    elif suffix == ".parquet":
        df = pl.read_parquet(path)
        map_columns(df.columns, source=path.name)
        # Parquet has no lines: re-serialise through the CSV path so every rule is applied once.
        yield parse_csv_bytes(df.write_csv().encode(), path.name, mode=mode, nonfinite=nonfinite)
    else:
        yield parse_csv_file(path, path.name, mode=mode, nonfinite=nonfinite)


def _labels(parsed: ParsedFile, rep: FileReport) -> tuple[np.ndarray, list[str]] | None:
    """Per-row codes into a list of canonical labels, and the file's label report entries."""
    if parsed.labels is None:
        return None
    col = parsed.labels
    # Distinct raw spellings can strip to the same label: count per stripped spelling.
    cats = sorted(set(col.values))
    index = {c: i for i, c in enumerate(cats)}
    to_cat = np.array([index[v] for v in col.values], dtype=np.int64)
    counts = np.bincount(to_cat, weights=np.bincount(col.codes, minlength=len(col.values)), minlength=len(cats))
    counts = counts.astype(np.int64)
    canon = [sys.intern(canonical_label(c)) if n else c for c, n in zip(cats, counts, strict=True)]
    rep.label_spellings = {
        c: {"canonical": k, "rows": int(n)} for c, k, n in zip(cats, canon, counts, strict=True) if c != k and n
    }
    totals: dict[str, int] = {}
    for k, n in zip(canon, counts, strict=True):
        if n:
            totals[k] = totals.get(k, 0) + int(n)
    rep.label_counts = dict(sorted(totals.items()))
    return to_cat[col.codes], canon


def _meta(parsed: ParsedFile, source: str) -> dict[str, np.ndarray]:
    """The file's identifier columns, timestamps and (when it has timestamps) capture days."""
    meta: dict[str, np.ndarray] = {}
    for key, series in parsed.identifiers.items():
        if key != "timestamp":
            meta[key] = series.str.strip_chars().fill_null("").to_numpy().astype(object)
    if "timestamp" in parsed.identifiers:
        ts, parsed.report.timestamps_pm_fixed = parse_timestamps(parsed.identifiers["timestamp"])
        parsed.report.timestamps_unparsed = int(np.isnat(ts).sum())
        day = weekday_names(ts)
        day[day == ""] = day_from_name(source)
        meta["day"] = day
    else:
        ts = np.full(parsed.n, np.datetime64("NaT"), dtype="datetime64[s]")
    meta["timestamp"] = ts
    return meta


def _options_key(digests: list[str], mode: str, nonfinite: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in (_cache.CACHE_VERSION, mode, nonfinite, *digests):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


_Block = tuple[ParsedFile, tuple[np.ndarray, list[str]] | None, dict[str, np.ndarray]]


def _join(blocks: list[_Block]) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Labels and metadata of all files, in file order.

    Each text column is written once into its final array (a file's constant name and day are
    filled in, labels are taken from integer codes): object arrays cost a reference count per
    row for every copy, so none is built per file and then concatenated.
    """
    sizes = [b[0].n for b in blocks]
    starts = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    total = int(starts[-1])
    fixed = {"day", "row_status", "source_file", "source_line", "timestamp"}
    keys = sorted({k for b in blocks for k in b[2]} | fixed)
    meta: dict[str, np.ndarray] = {}
    for k in keys:
        if k == "timestamp":
            meta[k] = np.concatenate([b[2]["timestamp"] for b in blocks]) if blocks else np.empty(0, "datetime64[s]")
        elif k == "source_line":
            meta[k] = np.concatenate([b[0].lines for b in blocks]) if blocks else np.empty(0, np.int64)
        else:
            out = np.full(total, "", dtype=object)
            for (parsed, _, m), a, b in zip(blocks, starts[:-1], starts[1:], strict=True):
                if k == "source_file":
                    out[a:b] = sys.intern(parsed.report.path)
                elif k == "day":
                    out[a:b] = m["day"] if "day" in m else sys.intern(day_from_name(parsed.report.path))
                elif k == "row_status":
                    for why, at in parsed.status:
                        out[a + at] = why
                elif k in m:
                    out[a:b] = m[k]
            meta[k] = out
    if not any(b[1] is not None for b in blocks):
        return None, meta
    index: dict[str, int] = {}
    codes = []
    for (parsed, lab, _), n in zip(blocks, sizes, strict=True):
        if lab is None:
            codes.append(np.full(n, index.setdefault("", len(index)), dtype=np.int64))
        else:
            remap = np.array([index.setdefault(c, len(index)) for c in lab[1]], dtype=np.int64)
            codes.append(remap[lab[0]])
    values = np.empty(len(index), dtype=object)
    values[:] = list(index)
    return values[np.concatenate(codes)], meta


def _copy_features(matrix: RowBuffer, frame: pl.DataFrame, columns: list[str], keep: np.ndarray | None) -> None:
    """Append the kept rows of ``columns`` to ``matrix``, one parsed chunk at a time.

    polars 2 leaves a parsed file in chunks (about a hundred per column, the same boundaries in
    every column): a chunk's slice is a zero-copy NumPy view, where a whole column would first be
    copied into one piece.
    """
    series = [frame.get_column(c) for c in columns]
    lengths = series[0].chunk_lengths() if series else []
    if any(s.chunk_lengths() != lengths for s in series[1:]):
        series = [s.rechunk() for s in series]
        lengths = [frame.height]
    start = 0
    for length in lengths:
        part = None if keep is None else keep[start : start + length]
        matrix.append([s.slice(start, length).to_numpy() for s in series], part)
        start += length


def _expected_rows(first: ParsedFile, files: list[Path]) -> int:
    """Rows to reserve for the table: the first file's rows per byte times all the input bytes."""
    total = sum(f.stat().st_size for f in files)
    per_byte = first.n / max(1, first.report.bytes)
    return int(per_byte * max(total, first.report.bytes) * 1.1) + 1


def load_flows(
    path: str | Path,
    *,
    mode: str = "train",
    nonfinite: str = "drop",
    cache_dir: str | Path | None = None,
) -> FlowTable:
    """Read flow files into the canonical schema, counting every quirk in the report.

    Parameters
    ----------
    path : str or Path
        A CSV file, a folder of CSV/Parquet files, a Parquet file, or the official zip.
    mode : {"train", "score"}, default="train"
        ``train`` needs a label column, drops rows with an empty label, raises on a cell that is
        not a number and applies ``nonfinite``. ``score`` keeps every flow row in input order
        (labels optional, non-finite cells kept for the stored transform, a bad cell flagged in
        ``meta["row_status"]``). Padding rows and repeated header lines are skipped (and counted)
        in both modes: they are not flows.
    nonfinite : {"drop", "impute"}, default="drop"
        Train mode: drop rows with Infinity/NaN/empty features (the reference notebook), or keep
        them for the transform to cap/impute from training statistics.
    cache_dir : str, Path or None, default=None
        Content-keyed cache folder; None disables caching.

    Returns
    -------
    FlowTable

    Raises
    ------
    SchemaError
        Unknown schema or missing features (one message listing them all), or no label column in
        train mode.
    ParseError
        A non-numeric feature cell in train mode, naming file, line and column.
    DataError
        A missing path, or no flow left.
    """
    if mode not in _MODES:
        raise ConfigError(f"mode must be one of {list(_MODES)}; got {mode!r}.")
    if nonfinite not in _NONFINITE:
        raise ConfigError(f"nonfinite must be one of {list(_NONFINITE)}; got {nonfinite!r}.")
    files = source_files(path)
    cdir = None if cache_dir is None else Path(cache_dir)
    hashing: ThreadPoolExecutor | None = None
    digest_job: Future | None = None
    digests: list[str] = []
    if cdir is not None:
        digests = [_cache.content_digest(f, cdir) for f in files]
        hit = _cache.load_cached(cdir, _options_key(digests, mode, nonfinite))
        if hit is not None:
            return hit
    elif mode == "train":
        # Without a cache the digest only names the data (the training fingerprint): hash on a
        # side thread (hashlib releases the GIL) while the files are parsed. Scoring needs no name.
        hashing = ThreadPoolExecutor(max_workers=1)
        digest_job = hashing.submit(lambda: [_cache.content_digest(f, None) for f in files])

    def one_file(f: Path) -> list[_Block]:
        return [(p, _labels(p, p.report), _meta(p, p.report.path)) for p in _parse_source(f, mode, nonfinite)]

    blocks: list[_Block] = []
    matrix: RowBuffer | None = None

    def take(done: list[_Block]) -> None:
        nonlocal matrix
        for parsed, lab, m in done:
            if matrix is None:
                matrix = RowBuffer(len(CANONICAL_FEATURES), _expected_rows(parsed, files))
            if parsed.frame is not None:
                _copy_features(matrix, parsed.frame, parsed.feature_columns, parsed.keep)
            # The file's parsed columns are no longer needed: free them before the next file.
            parsed.frame = None
            blocks.append((parsed, lab, m))

    # Two files in flight: polars parses one (GIL released) while Python finishes the other.
    # Results are taken in file order, so the table does not depend on the thread timing.
    with ThreadPoolExecutor(max_workers=min(2, workers())) as pool:
        pending: deque[Future] = deque()
        for f in files:
            pending.append(pool.submit(one_file, f))
            if len(pending) >= 2:
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
    reports = [b[0].report for b in blocks]
    X = matrix.result() if matrix is not None else np.empty((0, len(CANONICAL_FEATURES)), dtype=np.float32)
    labels, meta = _join(blocks)
    del blocks
    if digest_job is not None:
        digests = digest_job.result()
    if hashing is not None:
        hashing.shutdown()
    fingerprint = hashlib.blake2b("".join(digests).encode(), digest_size=16).hexdigest() if digests else ""
    if mode == "train" and X.shape[0] == 0:
        raise DataError(
            f"{path}: no flow rows left after loading ({len(reports)} file(s)); got only padding, header "
            "or dropped rows; fix: check the files, or use nonfinite='impute' if every row has Infinity/NaN."
        )
    table = FlowTable(
        X=X,
        feature_names=CANONICAL_FEATURES,
        labels=labels,
        meta=meta,
        report=DataReport(files=tuple(reports), mode=mode, nonfinite_policy=nonfinite),
        fingerprint=fingerprint,
    )
    if cdir is not None:
        _cache.store_cached(cdir, _options_key(digests, mode, nonfinite), table)
    return table
