"""``prepare_data``: flow files -> cleaned, de-duplicated, split and scaled :class:`PreparedData`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privids._rng import RandomLike
from privids.config import DataConfig
from privids.data.cache import default_cache_dir
from privids.data.cleaning import constant_columns, duplicate_rows, finite_rows, label_codes
from privids.data.dataset import PreparedData, SplitView
from privids.data.labels import BENIGN, attack_family
from privids.data.loaders import load_flows
from privids.data.report import line_set
from privids.data.splits import MIN_STRATIFY, stratified_split, time_split
from privids.data.table import FlowTable
from privids.exceptions import DataError
from privids.features.transforms import FlowTransform

__all__ = ["choose_features", "data_report", "prepare_data"]

_log = logging.getLogger(__name__)

_META_KEEP = ("day", "timestamp", "source_file", "source_line", "flow_id", "src_ip", "src_port", "dst_ip", "protocol")


def choose_features(
    table: FlowTable, cfg: DataConfig, rows: np.ndarray | None = None
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The model's feature list: canonical features minus constant columns (and the port if off).

    Constancy is judged on the whole cleaned table (``rows``; a label-free property), so that
    every split, every federated client and the scorer share one list.
    """
    constant = constant_columns(table.X, table.feature_names, rows)
    excluded = set(constant)
    if not cfg.use_destination_port:
        excluded.add("Destination Port")
    chosen = tuple(n for n in table.feature_names if n not in excluded)
    info = {
        "constant": constant,
        "destination_port": cfg.use_destination_port,
        "identifiers_never_features": ["Flow ID", "Source IP", "Source Port", "Destination IP", "Timestamp", "id",
                                       "Attempted Category", "Protocol (kept as metadata)"],
        "chosen": list(chosen),
        "n_chosen": len(chosen),
    }  # fmt: skip
    return chosen, info


@dataclass(frozen=True)
class _Labels:
    """Labels encoded once: every later step works on integer codes, not millions of strings."""

    codes: np.ndarray
    classes: np.ndarray
    families: np.ndarray
    attack: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, rows: np.ndarray) -> _Labels:
        codes, classes = label_codes(labels)
        present = np.bincount(codes[rows], minlength=len(classes)) > 0
        # Unknown labels stop here, before any work is spent; absent classes (e.g. "") are skipped.
        families = np.array([attack_family(str(c)) if p else "" for c, p in zip(classes, present, strict=True)],
                            dtype=object)  # fmt: skip
        attack = np.array([str(c) != BENIGN for c in classes], dtype=np.int64)
        return cls(codes, classes, families, attack)

    def counts(self, rows: np.ndarray) -> dict[str, int]:
        n = np.bincount(self.codes[rows], minlength=len(self.classes))
        return {str(self.classes[k]): int(n[k]) for k in np.flatnonzero(n)}


def _view(table: FlowTable, rows: np.ndarray, cols: list[int], transform: FlowTransform, lab: _Labels) -> SplitView:
    codes = lab.codes[rows]
    return SplitView(
        X=transform.transform(table.X, rows=rows, columns=cols),
        y=lab.attack[codes],
        labels=lab.classes[codes],
        families=lab.families[codes],
        meta={k: table.meta[k][rows] for k in _META_KEEP if k in table.meta},
    )


def _load(source: str | Path | FlowTable, cfg: DataConfig) -> FlowTable:
    if isinstance(source, FlowTable):
        return source
    cache = None if not cfg.cache else (cfg.cache_dir if cfg.cache_dir is not None else default_cache_dir())
    return load_flows(source, mode="train", nonfinite=cfg.nonfinite, cache_dir=cache)


def prepare_data(source: str | Path | FlowTable, cfg: DataConfig | None = None, *, rng: RandomLike = None) -> PreparedData:
    """Load (train mode), clean, de-duplicate, choose features, split and scale.

    Parameters
    ----------
    source : str, Path or FlowTable
        Anything :func:`privids.data.load_flows` accepts, or a table it returned.
    cfg : DataConfig, optional
        Defaults to ``DataConfig()`` (stratified 70/15/15, seed 42, rows with inf/NaN dropped).
    rng : int, Generator or None
        Split randomness; None uses ``cfg.seed``.

    Returns
    -------
    PreparedData
        Splits with transformed float32 ``X``; the transform is fitted on ``train`` only.

    Raises
    ------
    DataError
        No labels, unknown labels, too few rows, or a rare class under ``rare_policy="error"``.

    Notes
    -----
    Cleaning selects rows by index; the raw matrix is never copied, only the scaled splits are
    materialised (peak memory: the raw table plus the float32 splits).
    """
    cfg = cfg or DataConfig()
    table = _load(source, cfg)
    if table.labels is None:
        raise DataError("prepare_data needs labelled flows; got a table without labels; fix: load in train mode.")
    sections: dict[str, Any] = {}
    rows = np.arange(len(table), dtype=np.int64)
    empty = table.labels == ""
    if empty.any():
        sections["empty_labels_removed"] = int(empty.sum())
        rows = rows[~empty]
    # A table loaded in train mode with the drop policy is already finite; others are checked.
    already_finite = table.report.mode == "train" and table.report.nonfinite_policy == "drop"
    if cfg.nonfinite == "drop" and not already_finite:
        finite = finite_rows(table.X)[rows]
        if not finite.all():
            bad = rows[~finite]
            sections["nonfinite_removed"] = {"removed": int(bad.size), "lines": line_set(table.meta["source_line"][bad])}
            rows = rows[finite]
    lab = _Labels.of(table.labels, rows)
    rows_loaded = int(rows.size)
    cleaned = rows
    if cfg.dedup:
        rows, sections["duplicates"] = duplicate_rows(table.X, lab.codes, lab.classes, rows)
    if rows.size < 3:
        raise DataError(f"only {rows.size} flow(s) left after cleaning; got too few to split into train/val/test; "
                        "fix: supply more flows.")  # fmt: skip
    # Dropping exact copies never changes which values a column takes, so constancy is judged on
    # the rows before de-duplication: the same answer, read in place without gathering rows.
    names, sections["features"] = choose_features(table, cfg, cleaned)

    if cfg.split == "time":
        tr, va, te, split_info = time_split({k: v[rows] for k, v in table.meta.items()}, cfg.fractions)
    else:
        tr, va, te, split_info = stratified_split(
            lab.codes[rows], cfg.fractions, rng=cfg.seed if rng is None else rng, rare_policy=cfg.rare_policy,
            sources=_rare_sources(table, lab, rows), classes=lab.classes,
        )  # fmt: skip
    if split_info.get("rare"):
        _log.warning("classes too small to stratify %s: rare_policy=%r (see report['split'])",
                     split_info["rare"], cfg.rare_policy)  # fmt: skip
    tr, va, te = rows[tr], rows[va], rows[te]
    # Columns are read straight from the table (no copy of the chosen-feature matrix).
    cols = [table.feature_names.index(n) for n in names]
    transform = FlowTransform.fit(table.X, names, log_transform=cfg.log_transform, rows=tr, columns=cols)
    split_info["sizes"] = {"train": int(tr.size), "val": int(va.size), "test": int(te.size)}
    split_info["labels"] = {k: lab.counts(i) for k, i in (("train", tr), ("val", va), ("test", te))}
    sections["split"] = split_info
    sections["rows"] = {"loaded": rows_loaded, "after_cleaning": int(rows.size)}

    train, val, test = (_view(table, i, cols, transform, lab) for i in (tr, va, te))
    used = np.flatnonzero(np.bincount(lab.codes[rows], minlength=len(lab.classes)))
    family_names = tuple(sorted({str(lab.families[k]) for k in used}))
    report = table.report
    for k, v in sections.items():
        report = report.with_section(k, v)
    return PreparedData(
        train=train,
        val=val,
        test=test,
        feature_names=names,
        transform=transform,
        family_names=family_names,
        fingerprint=table.fingerprint,
        report=report.to_dict(),
    )


def _rare_sources(table: FlowTable, lab: _Labels, rows: np.ndarray) -> dict[str, list[str]]:
    """Label -> files, for the classes too small to stratify (to name them in messages)."""
    counts = np.bincount(lab.codes[rows], minlength=len(lab.classes))
    out: dict[str, list[str]] = {}
    for k in np.flatnonzero((counts > 0) & (counts < MIN_STRATIFY)):
        these = rows[lab.codes[rows] == k]
        out[str(lab.classes[k])] = sorted({str(f) for f in table.meta["source_file"][these]})
    return out


def data_report(source: str | Path, cfg: DataConfig | None = None, *, mode: str = "train") -> dict[str, Any]:
    """The data report of a source, without keeping the arrays (``privids data inspect``).

    Parameters
    ----------
    source : str or Path
    cfg : DataConfig, optional
    mode : {"train", "score"}, default="train"
        ``train`` runs the whole :func:`prepare_data` (so the report has the duplicate, feature
        and split sections); ``score`` only loads, as the scorer would (labels optional).

    Returns
    -------
    dict
        ``DataReport.to_dict()`` plus the post-load sections.
    """
    cfg = cfg or DataConfig()
    if mode == "score":
        cache = None if not cfg.cache else (cfg.cache_dir if cfg.cache_dir is not None else default_cache_dir())
        return load_flows(source, mode="score", cache_dir=cache).report.to_dict()
    return prepare_data(source, cfg).report
