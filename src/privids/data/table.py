"""FlowTable: loaded flows in the canonical schema, before cleaning and splitting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from privids.data.report import DataReport
from privids.exceptions import SchemaError

__all__ = ["FlowTable"]


@dataclass(frozen=True)
class FlowTable:
    """Raw canonical features, labels and identifier metadata of one load.

    Attributes
    ----------
    X : ndarray of float32, shape (n, 77)
        Every canonical feature, unscaled, C-ordered. May hold inf/NaN in score mode or with
        the ``impute`` policy.
    feature_names : tuple of str
        Column names of ``X`` (:data:`privids.data.schema.CANONICAL_FEATURES`).
    labels : ndarray of object or None
        Canonical label per row (``""`` for an empty label in score mode); None when no file
        had a label column.
    meta : dict of str to ndarray
        Always ``day``, ``timestamp`` (datetime64[s], NaT when unknown; ``.astype("int64")`` is
        epoch seconds), ``source_file``, ``source_line`` (1-based, header = line 1) and
        ``row_status`` (``""`` or why the row cannot be scored); plus ``flow_id``, ``src_ip``,
        ``src_port``, ``dst_ip``, ``protocol`` ... when the schema has them.
    report : DataReport
    fingerprint : str
        Content hash of the input files (not their names); ``""`` for a score-mode load without
        a cache (scoring needs no name for its input, and hashing it would cost a pass over the bytes).
    """

    X: np.ndarray
    feature_names: tuple[str, ...]
    labels: np.ndarray | None
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    report: DataReport = field(default_factory=lambda: DataReport(files=()))
    fingerprint: str = ""

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def matrix(self, feature_names: Sequence[str]) -> np.ndarray:
        """The raw feature columns in the given order (e.g. a stored model's feature list).

        Parameters
        ----------
        feature_names : sequence of str
            Canonical (stripped) names.

        Returns
        -------
        ndarray of float32, shape (n, len(feature_names))

        Raises
        ------
        SchemaError
            Some names are not columns of this table; the message lists all of them.
        """
        index = {n: i for i, n in enumerate(self.feature_names)}
        missing = [n for n in feature_names if n not in index]
        if missing:
            raise SchemaError(
                f"the flow table lacks {len(missing)} requested feature(s): {missing}; got {len(self.feature_names)} "
                "canonical features; fix: score with files in a supported schema, or retrain on these features."
            )
        cols = [index[n] for n in feature_names]
        if cols == list(range(len(self.feature_names))):
            return self.X
        return np.ascontiguousarray(self.X[:, cols])

    def take(self, rows: np.ndarray) -> FlowTable:
        """A table of the selected rows (index or boolean mask), same report and fingerprint."""
        return FlowTable(
            X=self.X[rows],
            feature_names=self.feature_names,
            labels=None if self.labels is None else self.labels[rows],
            meta={k: v[rows] for k, v in self.meta.items()},
            report=self.report,
            fingerprint=self.fingerprint,
        )
