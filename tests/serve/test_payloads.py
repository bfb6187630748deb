"""JSON flow bodies: name matching, special values, and 4xx errors that name the field."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privids.serve.payloads import RequestError, flows_from_json

NAMES = ("Destination Port", "Flow Duration", "Flow Bytes/s")


def test_raw_and_stripped_names_give_the_same_matrix() -> None:
    raw = [{" Destination Port": 80, " Flow Duration": 5, "Flow Bytes/s": "Infinity", " Label": "BENIGN"}]
    stripped = {"flows": [{"Destination Port": 80, "flow duration": 5.0, "Flow Bytes/s": "inf"}]}
    a, b = flows_from_json(raw, NAMES, max_rows=5), flows_from_json(stripped, NAMES, max_rows=5)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert a.raw.tolist() == [[80.0, 5.0, math.inf]]


def test_null_and_nan_strings_become_nan_and_identifiers_are_kept() -> None:
    body = [{"Destination Port": 1, "Flow Duration": None, "Flow Bytes/s": "NaN", "Source IP": "10.0.0.1"},
            {"Destination Port": 2, "Flow Duration": "3.5", "Flow Bytes/s": 0, "flow_id": "f-2"}]
    p = flows_from_json(body, NAMES, max_rows=5)
    assert np.isnan(p.raw[0, 1]) and np.isnan(p.raw[0, 2]) and p.raw[1].tolist() == [2.0, 3.5, 0.0]
    assert p.identifiers["src_ip"].tolist() == ["10.0.0.1", None]
    assert p.identifiers["flow_id"].tolist() == [None, "f-2"]


@pytest.mark.parametrize(
    ("body", "status", "field", "match"),
    [
        ({"rows": []}, 422, "flows", "JSON list of flows"),
        ("text", 422, "flows", "got str"),
        ([1], 422, "flows[0]", "must be an object"),
        ([{"Destination Port": 1, "Flow Duration": 2}], 422, "flows[0].Flow Bytes/s", r"missing 1 of the model's 3"),
        ([{"Destination Port": 1, "Flow Duration": "abc", "Flow Bytes/s": 0}], 422, "flows[0].Flow Duration",
         "must be a number"),
        ([{"Destination Port": True, "Flow Duration": 1, "Flow Bytes/s": 0}], 422, "flows[0].Destination Port",
         "boolean"),
        ([{"Destination Port": [1], "Flow Duration": 1, "Flow Bytes/s": 0}], 422, "flows[0].Destination Port",
         "got \\[1\\]"),
        ([{}] * 4, 413, "flows", "at most 3 flows"),
    ],
    ids=["no-flows-key", "not-a-list", "not-an-object", "missing-feature", "text-value", "bool", "list-value",
         "too-many"],
)
def test_bad_bodies_name_the_field(body: object, status: int, field: str, match: str) -> None:
    with pytest.raises(RequestError, match=match) as info:
        flows_from_json(body, NAMES, max_rows=3)
    assert (info.value.status, info.value.field) == (status, field)


def test_columnar_form_equals_object_form() -> None:
    objs = [{"Destination Port": 80, " Flow Duration": 5, "Flow Bytes/s": "Infinity", "Source IP": "10.0.0.1"},
            {"Destination Port": 53, " Flow Duration": None, "Flow Bytes/s": 1.5, "Source IP": "10.0.0.2"}]
    cols = {"columns": ["Source IP", "Flow Bytes/s", " Flow Duration", "Destination Port", " Label"],
            "rows": [["10.0.0.1", "Infinity", 5, 80, "BENIGN"], ["10.0.0.2", 1.5, None, 53, "DDoS"]]}
    a, b = flows_from_json(objs, NAMES, max_rows=5), flows_from_json(cols, NAMES, max_rows=5)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert b.identifiers["src_ip"].tolist() == ["10.0.0.1", "10.0.0.2"] and "label" not in b.identifiers


@pytest.mark.parametrize(
    ("body", "status", "field", "match"),
    [
        ({"columns": "x", "rows": []}, 422, "columns", "list of column names"),
        ({"columns": list(NAMES), "rows": {}}, 422, "rows", "list of flows"),
        ({"columns": list(NAMES[:2]), "rows": []}, 422, "columns.Flow Bytes/s", "lack 1 of"),
        ({"columns": [*NAMES, " Flow Duration"], "rows": []}, 422, "columns[3]", "repeats feature 'Flow Duration'"),
        ({"columns": list(NAMES), "rows": [[1, 2]]}, 422, "rows[0]", "list of 3 values"),
        ({"columns": list(NAMES), "rows": [[1, 2, 3], [1, "x", 3]]}, 422, "rows[1].Flow Duration", "must be a number"),
        ({"columns": list(NAMES), "rows": [[1, 2, True]]}, 422, "rows[0].Flow Bytes/s", "boolean"),
        ({"columns": list(NAMES), "rows": [[1, 2, 3]] * 4}, 413, "rows", "at most 3 flows"),
    ],
    ids=["columns-not-list", "rows-not-list", "missing", "duplicate", "short-row", "text", "bool", "too-many"],
)
def test_bad_columnar_bodies_name_the_field(body: object, status: int, field: str, match: str) -> None:
    with pytest.raises(RequestError, match=match) as info:
        flows_from_json(body, NAMES, max_rows=3)
    assert (info.value.status, info.value.field) == (status, field)
