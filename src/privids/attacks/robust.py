"""Robust aggregation rules and the per-client suspicion score, as pure NumPy functions.

These are privids' own implementations of the rules Flower ships (Krum, Multi-Krum, FedMedian,
FedTrimmedAvg, Bulyan) plus norm bounding. :mod:`privids.attacks.defences` runs Flower's real
strategies; these functions are the independent oracle the tests compare Flower against, and
the place the suspicion score lives.

Every function takes the client updates stacked as one array of shape ``(n_clients, d)``
(updates, not weights: all the rules are translation-equivariant, so aggregating updates and
adding the global model back is the same as aggregating weights).
"""

from __future__ import annotations

import numpy as np

from privids.exceptions import ConfigError

__all__ = [
    "bulyan",
    "clip_to_norm",
    "coordinate_median",
    "krum_scores",
    "multikrum",
    "pairwise_sq_distances",
    "suspicion_scores",
    "trimmed_mean",
    "weighted_mean",
]


def _check_stack(updates: np.ndarray) -> np.ndarray:
    arr = np.asarray(updates, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ConfigError(f"updates must be a non-empty (n_clients, d) array; got shape {arr.shape}.")
    return arr


def pairwise_sq_distances(updates: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between every pair of client updates.

    Parameters
    ----------
    updates : ndarray, shape (n, d)

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric, zero diagonal.

    Examples
    --------
    >>> pairwise_sq_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[ 0., 25.],
           [25.,  0.]])
    """
    u = _check_stack(updates)
    diff = u[:, None, :] - u[None, :, :]
    return np.einsum("ijk,ijk->ij", diff, diff)


def krum_scores(updates: np.ndarray, *, n_malicious: int) -> np.ndarray:
    """Krum score of each update: the sum of squared distances to its ``n - f - 2`` nearest others.

    Parameters
    ----------
    updates : ndarray, shape (n, d)
    n_malicious : int
        ``f``, the number of Byzantine clients the defender assumes.

    Returns
    -------
    ndarray, shape (n,)
        Lower is more central; Krum keeps the argmin.

    References
    ----------
    Blanchard et al., "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent",
    NeurIPS 2017.
    """
    dist = pairwise_sq_distances(updates)
    n = dist.shape[0]
    k = max(1, n - n_malicious - 2)
    # Sorting each row puts the zero self-distance first; skip it.
    return np.sort(dist, axis=1)[:, 1 : k + 1].sum(axis=1)


def multikrum(updates: np.ndarray, *, n_malicious: int, n_select: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Average of the ``n_select`` updates with the lowest Krum scores (Krum when ``n_select == 1``).

    Parameters
    ----------
    updates : ndarray, shape (n, d)
    n_malicious : int
    n_select : int
    weights : ndarray of shape (n,) or None, default=None
        Example counts for the weighted average of the kept updates (None: equal weights).

    Returns
    -------
    aggregate : ndarray, shape (d,)
    selected : ndarray of int
        Indices of the kept clients, best first.
    """
    u = _check_stack(updates)
    if not 1 <= n_select <= u.shape[0]:
        raise ConfigError(f"n_select must be in [1, {u.shape[0]}]; got {n_select}.")
    order = np.argsort(krum_scores(u, n_malicious=n_malicious), kind="stable")[:n_select]
    w = np.ones(u.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return weighted_mean(u[order], w[order]), order


def weighted_mean(updates: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """FedAvg: the example-weighted mean of the updates."""
    u = _check_stack(updates)
    w = np.ones(u.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (u.shape[0],) or w.sum() <= 0:
        raise ConfigError(f"weights must be {u.shape[0]} non-negative numbers with a positive sum; got {w!r}.")
    return (w[:, None] * u).sum(axis=0) / w.sum()


def coordinate_median(updates: np.ndarray) -> np.ndarray:
    """FedMedian: the coordinate-wise median."""
    return np.median(_check_stack(updates), axis=0)


def trimmed_mean(updates: np.ndarray, *, beta: float) -> np.ndarray:
    """FedTrimmedAvg: per coordinate, drop the ``int(beta * n)`` smallest and largest values, then average.

    Parameters
    ----------
    updates : ndarray, shape (n, d)
    beta : float
        Fraction cut from each end, in ``[0, 0.5)``.
    """
    u = _check_stack(updates)
    if not 0 <= beta < 0.5:
        raise ConfigError(f"beta must be in [0, 0.5); got {beta!r}.")
    cut = int(beta * u.shape[0])
    return np.sort(u, axis=0)[cut : u.shape[0] - cut].mean(axis=0)


def bulyan(updates: np.ndarray, *, n_malicious: int) -> tuple[np.ndarray, np.ndarray]:
    """Bulyan: Multi-Krum picks ``theta = n - 2f`` updates, then per coordinate average the
    ``beta = theta - 2f`` values closest to their median.

    Returns
    -------
    aggregate : ndarray, shape (d,)
    selected : ndarray of int
        Indices chosen by the Multi-Krum step.

    Raises
    ------
    ConfigError
        When ``n < 4 f + 3``, the condition under which Bulyan's guarantee holds.

    References
    ----------
    El Mhamdi et al., "The Hidden Vulnerability of Distributed Learning in Byzantium", ICML 2018.
    """
    u = _check_stack(updates)
    n, f = u.shape[0], n_malicious
    if n < 4 * f + 3:
        raise ConfigError(f"Bulyan needs n_clients >= 4 * n_malicious + 3 = {4 * f + 3}; got {n} clients.")
    theta = n - 2 * f
    beta = theta - 2 * f
    _, selected = multikrum(u, n_malicious=f, n_select=theta)
    chosen = u[selected]
    med = np.median(chosen, axis=0)
    idx = np.argsort(np.abs(chosen - med), axis=0, kind="stable")[:beta]
    return np.take_along_axis(chosen, idx, axis=0).mean(axis=0), selected


def clip_to_norm(updates: np.ndarray, *, max_norm: float) -> np.ndarray:
    """Scale each update down so its L2 norm is at most ``max_norm`` (norm bounding).

    Examples
    --------
    >>> clip_to_norm(np.array([[3.0, 4.0], [0.3, 0.4]]), max_norm=1.0)
    array([[0.6, 0.8],
           [0.3, 0.4]])
    """
    u = _check_stack(updates)
    if max_norm <= 0:
        raise ConfigError(f"max_norm must be positive; got {max_norm!r}.")
    norms = np.linalg.norm(u, axis=1)
    factor = np.minimum(1.0, max_norm / np.maximum(norms, 1e-12))
    return u * factor[:, None]


def suspicion_scores(updates: np.ndarray, *, k: int | None = None) -> np.ndarray:
    """How far each client's update sits from the others, normalised so a typical client scores 1.

    The raw score is the mean Euclidean distance from a client's update to its ``k`` nearest
    other updates; dividing by the median raw score over clients makes rounds comparable
    (updates shrink as training converges). An honest client scores about 1; a client whose
    update is far from everyone else's scores well above (the default report flags > 2).

    Parameters
    ----------
    updates : ndarray, shape (n, d)
    k : int or None, default=None
        Neighbours averaged; None uses ``max(1, n // 2 - 1)`` so that a colluding minority
        (fewer than half the clients) cannot make each other look central.

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> u = np.array([[0.0], [0.1], [-0.1], [0.05], [5.0]])
    >>> bool(suspicion_scores(u)[4] > 10)
    True
    """
    u = _check_stack(updates)
    n = u.shape[0]
    if n < 2:
        return np.ones(n)
    kk = max(1, n // 2 - 1) if k is None else k
    if not 1 <= kk <= n - 1:
        raise ConfigError(f"k must be in [1, {n - 1}]; got {kk}.")
    dist = np.sqrt(np.maximum(pairwise_sq_distances(u), 0.0))
    raw = np.sort(dist, axis=1)[:, 1 : kk + 1].mean(axis=1)
    scale = np.median(raw)
    return raw / scale if scale > 0 else np.where(raw > 0, np.inf, 1.0)
