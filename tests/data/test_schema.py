"""Tests for privids.data.schema: the canonical 77 features and every layout's aliases."""

from __future__ import annotations

import pytest

from conftest import shared_path
from privids.data.schema import CANONICAL_FEATURES, map_columns
from privids.exceptions import SchemaError


def _header(path) -> list[str]:
    return path.read_bytes().split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r").split(",")


def test_canonical_set_is_the_78_reference_features_with_the_duplicate_merged():
    assert len(CANONICAL_FEATURES) == 77 == len(set(CANONICAL_FEATURES))
    assert CANONICAL_FEATURES[0] == "Destination Port"
    assert all(n == n.strip() for n in CANONICAL_FEATURES)


@pytest.mark.shared
def test_raw_mlcve_header_maps_with_the_second_fwd_header_length_as_duplicate():
    names = _header(shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv"))
    assert len(names) == 79 and sum(n.startswith(" ") for n in names) == 65
    m = map_columns(names, source="x.csv")
    assert m.schema == "cicids2017-mlcve"
    assert (m.features["Fwd Header Length"], m.duplicate, m.label) == (34, 55, 78)
    assert m.unused == () and m.identifiers == {}


@pytest.mark.shared
def test_cse2018_abbreviations_map_onto_every_feature():
    names = _header(shared_path("cases/06-cicids2018-repeated-header-rows/Thursday-01-03-2018_sample_repeated_header.csv"))
    m = map_columns(names, source="x.csv")
    assert m.schema == "cse-cic-ids2018"
    assert names[m.features["Total Fwd Packets"]] == "Tot Fwd Pkts"
    assert names[m.features["Init_Win_bytes_forward"]] == "Init Fwd Win Byts"
    assert m.identifiers == {"protocol": 1, "timestamp": 2}


def test_missing_features_are_listed_in_one_error():
    names = [*CANONICAL_FEATURES[:-2], "Label"]
    with pytest.raises(SchemaError, match=r"missing 2 of 77 canonical features: \['Idle Max', 'Idle Min'\]"):
        map_columns(names, source="short.csv")
