"""Tests for privids.data.cache: keyed on content, not names; identical tables on reload."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import shared_path
from privids.data import load_flows

pytestmark = pytest.mark.shared


def _same(a, b):
    np.testing.assert_array_equal(a.X, b.X)
    assert a.labels.tolist() == b.labels.tolist()
    assert a.feature_names == b.feature_names and a.fingerprint == b.fingerprint
    assert set(a.meta) == set(b.meta)
    for k in a.meta:
        assert np.array_equal(a.meta[k], b.meta[k]), k
    assert a.report.to_dict()["totals"] == b.report.to_dict()["totals"]


def test_second_load_hits_the_cache_and_renamed_copy_too(tmp_path):
    src = shared_path("cases/06-cicids2018-repeated-header-rows/Thursday-01-03-2018_sample_repeated_header.csv")
    cache = tmp_path / "cache"
    first = load_flows(src, cache_dir=cache)
    assert "cache" not in first.report.sections
    again = load_flows(src, cache_dir=cache)
    assert again.report.sections["cache"]["hit"] is True
    _same(first, again)
    renamed = tmp_path / "other-name.csv"
    shutil.copy(src, renamed)
    assert load_flows(renamed, cache_dir=cache).report.sections["cache"]["hit"] is True


def test_edited_file_or_other_options_miss(tmp_path):
    src = shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv")
    copy = tmp_path / "flows.csv"
    shutil.copy(src, copy)
    cache = tmp_path / "cache"
    load_flows(copy, cache_dir=cache)
    assert "cache" not in load_flows(copy, cache_dir=cache, mode="score").report.sections
    copy.write_bytes(copy.read_bytes().replace(b"BENIGN", b"DDoS", 1))
    edited = load_flows(copy, cache_dir=cache)
    assert "cache" not in edited.report.sections
    assert edited.labels.tolist().count("DDoS") == 2


def test_digest_is_sha256_even_beside_a_stale_unversioned_memo(tmp_path):
    """Regression: an old ``digests.json`` (another digest scheme) must not answer for the file."""
    import hashlib
    import json

    from privids.data.cache import content_digest

    f = tmp_path / "flows.csv"
    f.write_bytes(b"a,b\n1,2\n")
    st = f.stat()
    stale_key = f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "digests.json").write_text(json.dumps({stale_key: "0" * 32}))
    expected = hashlib.sha256(f.read_bytes()).hexdigest()[:32]
    assert content_digest(f, cache) == expected
    assert content_digest(f, cache) == expected  # second call answered by the memo
