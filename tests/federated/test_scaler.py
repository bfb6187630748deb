"""Tests for privids.federated.scaler: the merged transform equals a pooled fit, without pooling."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from privids.config import DataConfig
from privids.data import load_flows
from privids.exceptions import DataError
from privids.features.pipeline import choose_features
from privids.features.transforms import FlowTransform
from privids.federated.scaler import merge_summaries, organisation_summary, read_summary, write_summary

pytestmark = pytest.mark.shared

FILES = ("friday_ddos_sample_pecord.csv", "friday_portscan_sample_pecord.csv", "thursday_webattacks_sample_neil-cipher.csv")


def _paths():
    return [shared_path("data", "cicids2017", "machinelearningcve", f) for f in FILES]


@pytest.fixture(scope="module")
def summaries():
    return [organisation_summary(p) for p in _paths()]


def test_merged_transform_equals_the_pooled_fit_on_every_exact_parameter(summaries):
    # Arrange: the oracle pools the three organisations' rows, which the federation never does
    tables = [load_flows(p, mode="train") for p in _paths()]
    names = tables[0].feature_names
    raw = np.concatenate([t.matrix(names) for t in tables])
    pooled_table = tables[0].take(np.zeros(len(tables[0]), bool))
    pooled_table = type(pooled_table)(X=raw, feature_names=names, labels=np.concatenate([t.labels for t in tables]), meta={},
                                      report=tables[0].report, fingerprint="pooled")  # fmt: skip
    chosen, _ = choose_features(pooled_table, DataConfig())
    pooled = FlowTransform.fit(pooled_table.matrix(chosen), chosen)
    # Act
    merged = merge_summaries(summaries)
    # Assert
    assert merged.feature_names == chosen
    assert merged.log == pooled.log
    np.testing.assert_array_equal(merged.low, pooled.low)
    np.testing.assert_array_equal(merged.high, pooled.high)
    # The pooled fit accumulates in blocks (float32 inputs), so agreement is to ~1e-7, not bitwise.
    np.testing.assert_allclose(merged.mean, pooled.mean, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(merged.scale, pooled.scale, rtol=1e-6)
    # Same inputs to the model, row for row.
    np.testing.assert_allclose(merged.transform(pooled_table.matrix(chosen)), pooled.transform(pooled_table.matrix(chosen)), rtol=1e-5, atol=1e-5)


def test_a_column_constant_in_one_organisation_is_still_scaled_by_the_global_spread(summaries):
    merged = merge_summaries(summaries)
    fits = [FlowTransform.from_dict(s["transform"]) for s in summaries]
    j = next(i for i, n in enumerate(fits[0].feature_names)
             if any(f.high[i] == f.low[i] for f in fits) and n in merged.feature_names)  # fmt: skip
    assert merged.scale[merged.feature_names.index(fits[0].feature_names[j])] != 1.0


def test_destination_port_can_be_left_out(summaries):
    assert "Destination Port" not in merge_summaries(summaries, use_destination_port=False).feature_names
    assert "Destination Port" in merge_summaries(summaries).feature_names


def test_summary_round_trip_and_refusals(tmp_path, summaries):
    p = write_summary(summaries[0], tmp_path / "s.json")
    assert read_summary(p) == summaries[0]
    (tmp_path / "bad.json").write_text('{"kind": "other"}')
    with pytest.raises(DataError, match="not an organisation summary"):
        read_summary(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no organisation summary has any flows"):
        merge_summaries([{**summaries[0], "n": 0}])
