"""Tests for privids.features.transforms: documented rules against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_path
from privids.data import CANONICAL_FEATURES, load_flows
from privids.exceptions import ModelError
from privids.features import FlowTransform

NAMES = ("Flow Duration", "Init_Win_bytes_forward", "Destination Port")


def _fit():
    raw = np.array([[0, 100, 80], [10, -1, 443], [20, 200, 80], [np.inf, 300, 22], [np.nan, 100, 80]], dtype=np.float32)
    return FlowTransform.fit(raw, NAMES), raw


def test_parameters_match_hand_computed_values():
    t, _ = _fit()
    # Flow Duration finite train values 0, 10, 20 -> median 10, caps 0 and 20;
    # filled column [0, 10, 20, 20, 10] in signed log1p.
    assert (t.median[0], t.low[0], t.high[0]) == (10.0, 0.0, 20.0)
    x = np.log1p(np.array([0, 10, 20, 20, 10], dtype=np.float64))
    assert t.mean[0] == pytest.approx(x.mean()) and t.scale[0] == pytest.approx(x.std())
    assert t.log == (True, True, False)
    ports = np.array([80, 443, 80, 22, 80], dtype=np.float64)
    assert t.mean[2] == pytest.approx(ports.mean()) and t.scale[2] == pytest.approx(ports.std())


def test_sentinels_negatives_and_non_finite_inputs_map_to_finite_values():
    t, _ = _fit()
    odd = np.array([[-1, -1, 80], [-12, -5, 80], [np.inf, np.inf, np.inf], [-np.inf, np.nan, np.nan],
                    [3e38, 3e38, 3e38]], dtype=np.float32)  # fmt: skip
    out = t.transform(odd)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    zero = t.transform(np.array([[0, 0, 80]], dtype=np.float32))
    # negative duration is clipped to 0; any negative window is the "not observed" sentinel -1
    np.testing.assert_allclose(out[0, 0], zero[0, 0])
    np.testing.assert_allclose(out[0, 1], out[1, 1])
    expected = (np.log1p(1.0) * -1 - t.mean[1]) / t.scale[1]
    assert out[0, 1] == pytest.approx(expected, rel=1e-5)
    # +inf becomes the training max (20), NaN the training median (100 for the window)
    assert out[2, 0] == pytest.approx(((np.log1p(20.0)) - t.mean[0]) / t.scale[0], rel=1e-5)
    assert out[3, 1] == pytest.approx(((np.log1p(t.median[1])) - t.mean[1]) / t.scale[1], rel=1e-5)


def test_round_trip_through_json_is_exact():
    t, raw = _fit()
    again = FlowTransform.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t
    np.testing.assert_array_equal(again.transform(raw), t.transform(raw))
    with pytest.raises(ModelError, match="not a stored FlowTransform"):
        FlowTransform.from_dict({"kind": "pickle"})


def test_wrong_width_is_refused():
    t, _ = _fit()
    with pytest.raises(ModelError, match=r"expects 3 columns.*got shape \(2, 2\)"):
        t.transform(np.zeros((2, 2)))


@pytest.mark.shared
def test_case08_naive_log_breaks_but_the_transform_stays_finite():
    table = load_flows(shared_path("cases/08-negative-sentinel-values/negatives.csv"))
    with np.errstate(all="ignore"):
        naive = np.log1p(table.X.astype(np.float64))
    # The case counts 15 over the 79 raw columns; the merged duplicate Fwd Header Length (-32) is one of them.
    assert int((~np.isfinite(naive)).sum()) == 15 - 1
    t = FlowTransform.fit(table.X, CANONICAL_FEATURES)
    out = t.transform(table.X)
    assert out.shape == (8, 77) and np.isfinite(out).all()


@pytest.mark.shared
def test_case09_constant_columns_scale_to_zero_and_scoring_new_values_is_finite():
    train = load_flows(shared_path("cases/09-constant-zero-columns/constant_cols.csv"))
    t = FlowTransform.fit(train.X, CANONICAL_FEATURES)
    j = CANONICAL_FEATURES.index("Bwd PSH Flags")
    assert t.scale[j] == 1.0
    assert np.all(t.transform(train.X)[:, j] == 0)
    score = load_flows(shared_path("cases/09-constant-zero-columns/scoring_nonzero_in_constant_cols.csv"), mode="score")
    out = t.transform(score.X)
    assert out.shape == (2, 77) and np.isfinite(out).all() and out[0, j] == 1.0


def test_fit_and_transform_do_not_depend_on_threads_or_blocks(monkeypatch):
    from privids.data import row_blocks

    rng = np.random.default_rng(5)
    raw = rng.lognormal(2, 3, size=(5000, 3)).astype(np.float32)
    raw[::97, 0] = np.inf
    raw[::89, 1] = -1
    rows = np.sort(rng.choice(5000, 3000, replace=False))
    monkeypatch.setenv("PRIVIDS_THREADS", "1")
    ref = FlowTransform.fit(raw, NAMES, rows=rows)
    ref_out = ref.transform(raw, rows=rows)
    monkeypatch.setattr(row_blocks, "BLOCK_ROWS", 257)
    one = FlowTransform.fit(raw, NAMES, rows=rows)
    monkeypatch.setenv("PRIVIDS_THREADS", "3")
    t = FlowTransform.fit(raw, NAMES, rows=rows)
    # Same blocks, more threads: bit-identical. Other block sizes: the same up to float32 rounding.
    assert t == one
    np.testing.assert_array_equal(t.transform(raw, rows=rows), one.transform(raw, rows=rows))
    np.testing.assert_allclose(t.mean, ref.mean, rtol=1e-6)
    np.testing.assert_allclose(t.scale, ref.scale, rtol=1e-6)
    np.testing.assert_allclose(t.transform(raw, rows=rows), ref_out, atol=1e-5)
    # rows/columns select exactly what a copied sub-matrix would give
    wide = np.concatenate([raw, np.zeros((len(raw), 1), np.float32)], axis=1)[:, [3, 0, 1, 2]]
    np.testing.assert_array_equal(t.transform(wide, rows=rows, columns=[1, 2, 3]), t.transform(raw[rows]))


def test_inputs_are_never_modified():
    t, raw = _fit()
    before = raw.copy()
    t.transform(raw)
    t.transform(raw, rows=np.array([0, 3]))
    FlowTransform.fit(raw, NAMES)
    np.testing.assert_array_equal(raw, before)
