"""Benign-distance anomaly score: brute-force distances, benign-only fitting, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_synthetic

from privids.exceptions import ArtifactError, ConfigError, DataError
from privids.features.anomaly import ANOMALY_FEATURE, BenignDistanceScore, fit_benign_distance


def _fit(seed: int = 0, **kw) -> tuple[BenignDistanceScore, np.ndarray, np.ndarray]:
    d = make_synthetic(n=600, seed=seed)
    s = fit_benign_distance(d.train.X, d.train.y, n_clusters=4, feature_names=d.feature_names, rng=seed, **kw)
    return s, d.train.X, d.train.y


def test_score_matches_brute_force_nearest_centre() -> None:
    # Arrange
    s, X, _ = _fit()
    # Act
    got = s.transform(X[:40])
    # Assert: loop over rows and centres with plain Python distances.
    want = []
    for row in X[:40].astype(np.float64):
        d = min(float(np.sqrt(sum((a - b) ** 2 for a, b in zip(row, c, strict=True)))) for c in s.centres_)
        want.append(np.log1p(d / s.scale_))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_scale_is_median_benign_distance() -> None:
    s, X, y = _fit()
    d = np.expm1(s.transform(X[y == 0]).astype(np.float64)) * s.scale_
    assert np.median(d) == pytest.approx(s.scale_, rel=1e-4)


def test_fitted_on_benign_rows_only() -> None:
    # Arrange: the same benign rows with and without (many, shifted) attack rows alongside.
    d = make_synthetic(n=600, seed=1)
    X, y = d.train.X, d.train.y
    only_benign = fit_benign_distance(X[y == 0], y[y == 0], n_clusters=3, rng=7)
    extra = np.vstack([X, X[y == 1] + 10.0])
    with_attacks = fit_benign_distance(extra, np.r_[y, np.ones((y == 1).sum(), dtype=np.int64)], n_clusters=3, rng=7)
    # Assert: identical state, so attack flows cannot have influenced it.
    np.testing.assert_array_equal(only_benign.centres_, with_attacks.centres_)
    assert only_benign.scale_ == with_attacks.scale_


def test_attacks_and_injected_anomaly_score_higher_than_benign() -> None:
    s, _, _ = _fit()
    test = make_synthetic(n=600, seed=0).test
    scores = s.transform(test.X)
    assert scores[test.y == 1].mean() > scores[test.y == 0].mean()
    outlier = test.X[:1] + 25.0
    assert s.transform(outlier)[0] > scores.max()


def test_augment_appends_one_named_column() -> None:
    s, X, _ = _fit()
    A = s.augment(X)
    assert A.shape == (X.shape[0], X.shape[1] + 1) and A.dtype == np.float32
    np.testing.assert_array_equal(A[:, :-1], X)
    np.testing.assert_array_equal(A[:, -1], s.transform(X))
    assert s.augmented_names()[-1] == ANOMALY_FEATURE


def test_json_round_trip_gives_identical_scores() -> None:
    s, X, _ = _fit()
    back = BenignDistanceScore.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(back.transform(X), s.transform(X))
    assert back.feature_names == s.feature_names


def test_seeded() -> None:
    a, X, _ = _fit(seed=2)
    b, _, _ = _fit(seed=2)
    np.testing.assert_array_equal(a.centres_, b.centres_)


def test_duplicated_benign_rows_keep_a_finite_score() -> None:
    X = np.zeros((20, 3))
    s = fit_benign_distance(X, np.zeros(20, dtype=np.int64), n_clusters=4, rng=0)
    assert s.centres_.shape[0] == 1 and s.scale_ == 1.0
    assert np.isfinite(s.transform(np.ones((2, 3)))).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"X": np.ones((4, 2)), "y": np.ones(4, dtype=np.int64)}, DataError, "0 benign rows"),
        ({"X": np.ones((4, 2)), "y": np.zeros(3, dtype=np.int64)}, DataError, "one target per row"),
        ({"X": np.full((4, 2), np.inf), "y": np.zeros(4, dtype=np.int64)}, DataError, "finite"),
        ({"X": np.ones((4, 2)), "y": np.zeros(4, dtype=np.int64), "n_clusters": 0}, ConfigError, "n_clusters"),
    ],
    ids=["no-benign", "length", "nonfinite", "clusters"],
)
def test_fit_validation(kwargs, error, match) -> None:
    X, y = kwargs.pop("X"), kwargs.pop("y")
    with pytest.raises(error, match=match):
        fit_benign_distance(X, y, rng=0, **kwargs)


def test_transform_and_state_validation() -> None:
    s, _, _ = _fit()
    with pytest.raises(DataError, match="fitted on 8 features"):
        s.transform(np.zeros((2, 3)))
    with pytest.raises(ArtifactError, match="kind"):
        BenignDistanceScore.from_dict({"kind": "isolation_forest", "version": 1})
    bad = s.to_dict() | {"scale": 0.0}
    with pytest.raises(ArtifactError, match="inconsistent"):
        BenignDistanceScore.from_dict(bad)


def test_with_anomaly_appends_the_score_fitted_on_train_benign() -> None:
    from privids.features.anomaly import with_anomaly

    d = make_synthetic(n=600, seed=3)
    aug, score = with_anomaly(d, n_clusters=4, rng=0)
    assert aug.feature_names == (*d.feature_names, ANOMALY_FEATURE)
    for before, after in ((d.train, aug.train), (d.val, aug.val), (d.test, aug.test)):
        np.testing.assert_array_equal(after.X[:, :-1], before.X)
        np.testing.assert_array_equal(after.X[:, -1], score.transform(before.X))
    refit = fit_benign_distance(d.train.X[d.train.y == 0], d.train.y[d.train.y == 0], n_clusters=4, rng=0)
    np.testing.assert_array_equal(refit.centres_, score.centres_)
