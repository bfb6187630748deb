"""The prepared, split and scaled dataset that every training path consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["FeatureTransform", "PreparedData", "SplitView"]


class FeatureTransform(Protocol):
    """A transform fitted on the training split only and stored with the model."""

    feature_names: tuple[str, ...]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map raw canonical feature values (n, F) to finite float32 model inputs."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters; ``from_dict`` rebuilds an identical transform."""
        ...


@dataclass(frozen=True)
class SplitView:
    """One split (train, val or test) of a :class:`PreparedData`.

    Attributes
    ----------
    X : ndarray of float32, shape (n, F)
        Transformed features, all finite.
    y : ndarray of int64, shape (n,)
        Binary target: 0 BENIGN, 1 attack.
    labels : ndarray of str, shape (n,)
        Canonical attack label (``"BENIGN"``, ``"DDoS"``, ``"Web Attack - XSS"``, ...).
    families : ndarray of str, shape (n,)
        Attack family (``"BENIGN"``, ``"DoS"``, ``"DDoS"``, ``"PortScan"``, ...).
    meta : dict of str to ndarray
        Identifier columns kept aside (never features): e.g. ``"day"``, ``"timestamp"``,
        ``"src_ip"``; absent when the schema has none.
    """

    X: np.ndarray
    y: np.ndarray
    labels: np.ndarray
    families: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class PreparedData:
    """Train/validation/test splits plus what a model must store to score new flows.

    Attributes
    ----------
    train, val, test : SplitView
    feature_names : tuple of str
        The chosen feature list (constant columns and identifiers removed), in model input order.
    transform : FeatureTransform
        Scaler fitted on ``train`` only.
    family_names : tuple of str
        Global, sorted class list for multi-class heads (fixed before any partitioning).
    fingerprint : str
        Content hash of the source files (not their names).
    report : dict
        The data report (rows per file and label, everything dropped or repaired and why, split sizes).
    synthetic : bool
        True when the flows are the built-in generated demo data, not real captures.
    """

    train: SplitView
    val: SplitView
    test: SplitView
    feature_names: tuple[str, ...]
    transform: FeatureTransform
    family_names: tuple[str, ...]
    fingerprint: str
    report: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False

    def family_index(self, families: np.ndarray) -> np.ndarray:
        """Map family names to indices into :attr:`family_names` (multi-class targets)."""
        lookup = {name: i for i, name in enumerate(self.family_names)}
        return np.fromiter((lookup[f] for f in families), dtype=np.int64, count=len(families))
