"""SHAP importance: exact TreeSHAP for LightGBM, a sampled permutation explainer for any scorer."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from privids._rng import RandomLike, as_generator
from privids.evaluation.importance import FeatureImportance, stripped_names
from privids.exceptions import ConfigError, DataError

__all__ = ["sampled_shap_importance", "tree_shap_importance"]

Scorer = Callable[[np.ndarray], np.ndarray]


@contextmanager
def _isolated_global_numpy_rng() -> Iterator[None]:
    # shap's PermutationExplainer calls np.random.seed(seed) and draws from the global RNG; save and
    # restore its state so explaining a model never changes anyone else's random stream.
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _rows(X: np.ndarray, n: int | None, gen: np.random.Generator) -> np.ndarray:
    if n is None or X.shape[0] <= n:
        return X
    return X[np.sort(gen.choice(X.shape[0], size=n, replace=False))]


def _check(X: np.ndarray, feature_names: Sequence[str], what: str) -> None:
    if X.ndim != 2 or X.shape[1] != len(feature_names) or X.shape[0] == 0:
        raise DataError(
            f"{what} needs a non-empty X of shape (n, {len(feature_names)}) matching feature_names; got {X.shape}; "
            "pass the split's transformed X and PreparedData.feature_names."
        )


def tree_shap_importance(
    booster: Any,
    X: np.ndarray,
    *,
    feature_names: Sequence[str],
    max_rows: int | None = 2000,
    dropped: Sequence[str] = (),
    rng: RandomLike = None,
) -> FeatureImportance:
    """Mean absolute TreeSHAP value per feature of a LightGBM booster (exact, in log-odds units).

    Parameters
    ----------
    booster : lightgbm.Booster or lightgbm.LGBMClassifier
        The tree model.
    X : ndarray, shape (n, F)
        Rows to explain (the test split).
    feature_names : sequence of str
    max_rows : int or None, default=2000
        Seeded subsample of rows to explain (None: all).
    dropped : sequence of str, default=()
        Constant features removed before training.
    rng : int, numpy.random.Generator or None, default=None
        Chooses the subsample.

    Returns
    -------
    FeatureImportance
        ``values`` are mean ``|phi_j|``; ``details["additivity_error"]`` is the largest gap
        between ``sum(phi) + expected_value`` and the booster's raw score (a self-check).

    Raises
    ------
    DataError
        ``X`` does not match ``feature_names``.
    """
    import shap

    X = np.asarray(X, dtype=np.float64)
    _check(X, feature_names, "TreeSHAP")
    Xs = _rows(X, max_rows, as_generator(rng))
    explainer = shap.TreeExplainer(booster)
    with warnings.catch_warnings():
        # shap announces a changed output shape for LightGBM binary models; we handle both shapes.
        warnings.filterwarnings("ignore", message=".*shap values output has changed.*")
        phi = explainer.shap_values(Xs)
    phi = np.asarray(phi[-1] if isinstance(phi, list) else phi, dtype=np.float64)
    if phi.ndim == 3:  # (n, F, classes): explain the attack class
        phi = phi[:, :, -1]
    expected = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)[-1]
    raw = getattr(booster, "booster_", booster).predict(Xs, raw_score=True)
    raw = np.asarray(raw, dtype=np.float64).reshape(Xs.shape[0], -1)[:, -1]
    additivity = float(np.max(np.abs(phi.sum(axis=1) + expected - raw)))
    absphi = np.abs(phi)
    return FeatureImportance(
        method="shap",
        feature_names=stripped_names(feature_names),
        values=absphi.mean(axis=0),
        std=absphi.std(axis=0),
        dropped=stripped_names(dropped),
        details={"explainer": "tree", "rows": int(Xs.shape[0]), "expected_value": float(expected),
                 "additivity_error": additivity},
    )


def sampled_shap_importance(
    scorer: Scorer,
    X: np.ndarray,
    *,
    background: np.ndarray,
    feature_names: Sequence[str],
    n_background: int = 50,
    n_explain: int = 100,
    n_permutations: int = 1,
    dropped: Sequence[str] = (),
    rng: RandomLike = None,
) -> FeatureImportance:
    """Mean absolute SHAP value per feature of a black-box scorer (shap's PermutationExplainer).

    Each explained row is walked through ``n_permutations`` random feature orders (forward and
    backward, so additive models are explained exactly) against a small background sample drawn
    from the training split. The cost is about ``n_explain * n_permutations * (2F + 1) *
    n_background`` scorer rows, so keep the samples small.

    Parameters
    ----------
    scorer : callable
        ``X (n, F) -> scores (n,)``; e.g. the MLP's P(attack), DP-trained or not.
    X : ndarray, shape (n, F)
        Rows to explain (the test split).
    background : ndarray, shape (m, F)
        Reference rows, normally the training split; features are "removed" by replacing them with
        background values.
    feature_names : sequence of str
    n_background : int, default=50
    n_explain : int, default=100
    n_permutations : int, default=1
    dropped : sequence of str, default=()
    rng : int, numpy.random.Generator or None, default=None
        Chooses both samples and seeds the permutation orders.

    Returns
    -------
    FeatureImportance
        ``values`` are mean ``|phi_j|`` in score units (probability for the MLP).

    Raises
    ------
    ConfigError
        Non-positive sample sizes.
    DataError
        Shapes that do not match ``feature_names``.

    Notes
    -----
    The independent masker breaks feature correlations, so SHAP here answers "what if this
    feature took a typical value", which may be an unrealistic flow.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> imp = sampled_shap_importance(lambda a: 2 * a[:, 0], X, background=X, feature_names=("a", "b", "c"), rng=0)
    >>> imp.values[1:].tolist()
    [0.0, 0.0]
    """
    import shap

    for name, value in (("n_background", n_background), ("n_explain", n_explain), ("n_permutations", n_permutations)):
        if value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}.")
    X = np.asarray(X, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    _check(X, feature_names, "sampled SHAP")
    _check(background, feature_names, "sampled SHAP background")
    gen = as_generator(rng)
    bg = _rows(background, n_background, gen)
    Xs = _rows(X, n_explain, gen)
    seed = int(gen.integers(0, 2**31 - 1))

    def f(a: np.ndarray) -> np.ndarray:
        return np.asarray(scorer(np.asarray(a, dtype=np.float32)), dtype=np.float64).reshape(-1)

    n_features = X.shape[1]
    masker = shap.maskers.Independent(bg, max_samples=bg.shape[0])
    with _isolated_global_numpy_rng():
        explainer = shap.PermutationExplainer(f, masker, seed=seed)
        explanation = explainer(Xs, max_evals=n_permutations * (2 * n_features + 1), silent=True)
    phi = np.nan_to_num(np.asarray(explanation.values, dtype=np.float64), nan=0.0)
    absphi = np.abs(phi)
    return FeatureImportance(
        method="shap",
        feature_names=stripped_names(feature_names),
        values=absphi.mean(axis=0),
        std=absphi.std(axis=0),
        dropped=stripped_names(dropped),
        details={"explainer": "permutation", "rows": int(Xs.shape[0]), "background": int(bg.shape[0]),
                 "n_permutations": n_permutations},
    )
