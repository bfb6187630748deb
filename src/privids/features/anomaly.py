"""Behavioural anomaly score: distance to the nearest k-means centre of benign training flows."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from privids._rng import RandomLike, child_seed
from privids.data.dataset import PreparedData
from privids.exceptions import ArtifactError, ConfigError, DataError

__all__ = ["ANOMALY_FEATURE", "BenignDistanceScore", "fit_benign_distance", "with_anomaly"]

#: Name of the extra model input appended by :meth:`BenignDistanceScore.augment`.
ANOMALY_FEATURE = "anomaly_benign_distance"

_KIND = "benign_kmeans_distance"
_VERSION = 1


def _min_sq_distance(X: np.ndarray, centres: np.ndarray, *, chunk: int = 65536) -> np.ndarray:
    # One centre at a time, differences summed per row: each row's value depends on that row alone
    # (a matrix product may change its summation order with the batch size), so a flow scores the
    # same in training, in a file and in a one-flow API request; it also avoids the cancellation of
    # ||x||^2 - 2x.c + ||c||^2. Chunks bound the float64 temporaries.
    out = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], chunk):
        xb = X[start : start + chunk].astype(np.float64, copy=False)
        best = np.full(xb.shape[0], np.inf)
        for c in centres:
            np.minimum(best, np.square(xb - c).sum(axis=1), out=best)
        out[start : start + chunk] = best
    return out


@dataclass(frozen=True)
class BenignDistanceScore:
    """A fitted transform: how far a flow lies from normal behaviour, as one extra feature.

    The score is ``log1p(d / scale)`` where ``d`` is the Euclidean distance from the (scaled) flow
    to the nearest k-means centre of *benign* training flows and ``scale`` is the median of that
    distance over those same benign flows. Benign traffic therefore scores around ``log(2)``, and
    flows unlike any benign cluster score higher, whether or not their attack family was seen in
    training. Its whole state is the centres and one number, so it is stored as JSON (no pickle).

    Attributes
    ----------
    centres_ : ndarray of float64, shape (k, F)
    scale_ : float
    feature_names : tuple of str
        The model inputs it was fitted on (in order).

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])
    >>> s = fit_benign_distance(X, np.array([0, 0, 1]), n_clusters=1, rng=0, feature_names=("a", "b"))
    >>> bool(s.transform(X)[2] > s.transform(X)[0])
    True
    """

    centres_: np.ndarray
    scale_: float
    feature_names: tuple[str, ...]

    @property
    def output_name(self) -> str:
        """Name of the appended feature."""
        return ANOMALY_FEATURE

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.centres_.shape[1]:
            raise DataError(
                f"anomaly score was fitted on {self.centres_.shape[1]} features; got X of shape {X.shape}; "
                "pass the same transformed feature list the score was fitted on."
            )
        if not np.all(np.isfinite(X)):
            raise DataError("anomaly score needs finite inputs; got NaN/Infinity; apply the fitted transform first.")
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Anomaly score per row, shape ``(n,)``, float32, finite and >= 0."""
        X = self._check(X)
        d = np.sqrt(_min_sq_distance(X, self.centres_))
        return np.log1p(d / self.scale_).astype(np.float32)

    def augment(self, X: np.ndarray) -> np.ndarray:
        """``X`` with the anomaly score appended as the last column (shape ``(n, F + 1)``, float32)."""
        X = self._check(X)
        return np.hstack([X.astype(np.float32, copy=False), self.transform(X)[:, None]])

    def augmented_names(self) -> tuple[str, ...]:
        """Feature names matching :meth:`augment`'s columns."""
        return (*self.feature_names, ANOMALY_FEATURE)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state; :meth:`from_dict` rebuilds an identical score."""
        return {
            "kind": _KIND,
            "version": _VERSION,
            "feature_names": list(self.feature_names),
            "scale": float(self.scale_),
            "centres": self.centres_.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> BenignDistanceScore:
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ArtifactError
            State of another kind or version, or inconsistent shapes.
        """
        if state.get("kind") != _KIND or state.get("version") != _VERSION:
            raise ArtifactError(
                f"anomaly state must have kind={_KIND!r}, version={_VERSION}; got kind={state.get('kind')!r}, "
                f"version={state.get('version')!r}; re-fit the score with this privids version."
            )
        centres = np.asarray(state["centres"], dtype=np.float64)
        names = tuple(state["feature_names"])
        scale = float(state["scale"])
        if centres.ndim != 2 or centres.shape[1] != len(names) or not (scale > 0 and math.isfinite(scale)):
            raise ArtifactError(
                f"anomaly state is inconsistent: centres {centres.shape}, {len(names)} feature names, scale {scale}; "
                "restore the artifact or re-fit."
            )
        return cls(centres_=centres, scale_=scale, feature_names=names)


def fit_benign_distance(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_clusters: int = 8,
    max_rows: int | None = 20000,
    feature_names: tuple[str, ...] | None = None,
    rng: RandomLike = None,
) -> BenignDistanceScore:
    """Fit the anomaly score on the benign rows (``y == 0``) of a training split only.

    Parameters
    ----------
    X : ndarray, shape (n, F)
        Transformed training features (never validation or test rows: that would leak).
    y : ndarray of int, shape (n,)
        Binary targets; attack rows are ignored, so the score never learns what attacks look like.
    n_clusters : int, default=8
        k-means centres (capped at the number of distinct benign rows).
    max_rows : int or None, default=20000
        Fit on a seeded subsample of at most this many benign rows (None: all).
    feature_names : tuple of str or None, default=None
        Stored for checking at scoring time (None: ``f0, f1, ...``).
    rng : int, numpy.random.Generator or None, default=None
        Seeds the subsample and k-means.

    Returns
    -------
    BenignDistanceScore

    Raises
    ------
    ConfigError
        Non-positive ``n_clusters``.
    DataError
        No benign rows, or shapes that do not match.
    """
    from sklearn.cluster import KMeans

    if n_clusters < 1:
        raise ConfigError(f"n_clusters must be a positive integer; got {n_clusters!r}.")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise DataError(f"X must be (n, F) with one target per row; got X {X.shape}, y {y.shape}; pass one split.")
    benign = X[y == 0]
    if benign.shape[0] == 0:
        raise DataError(
            f"the anomaly score is fitted on benign flows only; got 0 benign rows out of {X.shape[0]}; "
            "include BENIGN traffic in the training split."
        )
    if not np.all(np.isfinite(benign)):
        raise DataError("anomaly score needs finite inputs; got NaN/Infinity; apply the fitted transform first.")
    seed = child_seed(rng)
    gen = np.random.default_rng(seed)
    if max_rows is not None and benign.shape[0] > max_rows:
        benign = benign[np.sort(gen.choice(benign.shape[0], size=max_rows, replace=False))]
    k = min(n_clusters, np.unique(benign, axis=0).shape[0])
    km = KMeans(n_clusters=k, n_init=3, random_state=seed % (2**32 - 1)).fit(benign)
    centres = np.asarray(km.cluster_centers_, dtype=np.float64)
    d = np.sqrt(_min_sq_distance(benign, centres))
    scale = float(np.median(d))
    if not scale > 0:
        # Most benign rows sit exactly on a centre (heavily duplicated flows): use the mean instead,
        # and 1.0 when every row is a centre, so the score stays finite.
        scale = float(d.mean()) if d.mean() > 0 else 1.0
    names = feature_names if feature_names is not None else tuple(f"f{i}" for i in range(X.shape[1]))
    if len(names) != X.shape[1]:
        raise DataError(f"feature_names must name every column; got {len(names)} names for {X.shape[1]} columns.")
    return BenignDistanceScore(centres_=centres, scale_=scale, feature_names=tuple(names))


def with_anomaly(data: PreparedData, *, n_clusters: int = 8, rng: RandomLike = None) -> tuple[PreparedData, BenignDistanceScore]:
    """Fit the score on ``data.train``'s benign flows and append it to every split.

    Returns
    -------
    tuple of (PreparedData, BenignDistanceScore)
        The augmented data (``feature_names`` ends with :data:`ANOMALY_FEATURE`) and the fitted
        score, whose ``to_dict()`` belongs in the model artifact next to the transform.
    """
    score = fit_benign_distance(
        data.train.X, data.train.y, n_clusters=n_clusters, feature_names=tuple(data.feature_names), rng=rng
    )
    out = dataclasses.replace(
        data,
        train=dataclasses.replace(data.train, X=score.augment(data.train.X)),
        val=dataclasses.replace(data.val, X=score.augment(data.val.X)),
        test=dataclasses.replace(data.test, X=score.augment(data.test.X)),
        feature_names=score.augmented_names(),
    )
    return out, score
