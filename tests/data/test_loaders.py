"""Tests for privids.data.loaders (and csvfile): the shared cases and the real samples."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter

import numpy as np
import polars as pl
import pytest

from conftest import shared_path
from privids.data import CANONICAL_FEATURES, load_flows
from privids.exceptions import ParseError, SchemaError

pytestmark = pytest.mark.shared



def _counts(table):
    return dict(Counter(table.labels.tolist()))


def _line(table, n):
    return int(np.flatnonzero(table.meta["source_line"] == n)[0])


# --- case 01: Infinity / NaN rates -----------------------------------------------------------


def test_case01_inf_nan_counted_per_column_and_dropped():
    t = load_flows(shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv"))
    f = t.report.files[0]
    assert f.nonfinite == {
        "Flow Bytes/s": {"inf": 2, "nan": 2, "empty": 0},
        "Flow Packets/s": {"inf": 4, "nan": 0, "empty": 0},
    }
    assert f.nonfinite_rows == {"count": 4, "lines": [4, 5, 7, 9]}
    assert f.dropped == {"non-finite feature (Infinity/NaN/empty)": 4}
    assert len(t) == 6 and _counts(t) == {"BENIGN": 4, "DDoS": 1, "PortScan": 1}
    assert np.isfinite(t.X).all()


def test_case01_impute_policy_keeps_all_ten_rows():
    t = load_flows(shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv"), nonfinite="impute")
    assert len(t) == 10
    j = CANONICAL_FEATURES.index("Flow Bytes/s")
    line4 = _line(t, 4)
    assert np.isnan(t.X[line4, j]) and np.isposinf(t.X[_line(t, 5), j])


def test_case01_score_mode_keeps_ten_rows_in_input_order():
    t = load_flows(shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv"), mode="score")
    assert len(t) == 10
    assert t.meta["source_line"].tolist() == list(range(2, 12))
    assert set(t.meta["row_status"]) == {""}


# --- case 02: cp1252 dash ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["webattacks_cp1252.csv", "webattacks_fffd_utf8.csv", "webattacks_utf8.csv"])
def test_case02_every_encoding_gives_three_web_classes(name):
    t = load_flows(shared_path("cases/02-cp1252-en-dash-labels", name))
    assert len(t) == 8
    assert _counts(t) == {
        "BENIGN": 2,
        "Web Attack - Brute Force": 3,
        "Web Attack - XSS": 2,
        "Web Attack - Sql Injection": 1,
    }


def test_case02_feature_values_identical_across_encodings():
    base = shared_path("cases/02-cp1252-en-dash-labels")
    mats = [load_flows(base / n).X for n in ("webattacks_cp1252.csv", "webattacks_fffd_utf8.csv", "webattacks_utf8.csv")]
    assert mats[0].tobytes() == mats[1].tobytes() == mats[2].tobytes()


def test_case02_spelling_rewrites_are_reported():
    t = load_flows(shared_path("cases/02-cp1252-en-dash-labels/webattacks_cp1252.csv"))
    spell = t.report.files[0].label_spellings
    assert sum(v["rows"] for v in spell.values()) == 6
    assert {v["canonical"] for v in spell.values()} == {
        "Web Attack - Brute Force", "Web Attack - XSS", "Web Attack - Sql Injection"
    }  # fmt: skip


# --- case 03: leading spaces ------------------------------------------------------------------


def test_case03_raw_and_stripped_headers_give_identical_matrices():
    base = shared_path("cases/03-leading-space-headers")
    raw, stripped = load_flows(base / "flows_raw_header.csv"), load_flows(base / "flows_stripped_header.csv")
    assert raw.feature_names == stripped.feature_names == CANONICAL_FEATURES
    assert all(n == n.strip() for n in raw.feature_names)
    np.testing.assert_array_equal(raw.X, stripped.X)
    assert _counts(raw) == _counts(stripped) == {"BENIGN": 3, "SSH-Patator": 2, "FTP-Patator": 1}


def test_case03_training_without_label_names_file_and_columns():
    path = shared_path("cases/03-leading-space-headers/flows_no_label_for_scoring.csv")
    with pytest.raises(SchemaError, match=r"flows_no_label_for_scoring\.csv: no 'Label' column found.*Destination Port"):
        load_flows(path)
    t = load_flows(path, mode="score")
    assert len(t) == 6 and t.labels is None


# --- case 05: padding rows, empty labels ------------------------------------------------------


def test_case05_comma_only_rows_are_skipped_and_counted():
    t = load_flows(shared_path("cases/05-trailing-empty-rows/trailing_empty.csv"))
    f = t.report.files[0]
    assert f.padding_rows == {"count": 12, "lines": list(range(10, 22))}
    assert len(t) == 8
    assert _counts(t) == {
        "BENIGN": 4, "Web Attack - Brute Force": 2, "Web Attack - XSS": 1, "Web Attack - Sql Injection": 1
    }  # fmt: skip
    assert "" not in set(t.labels)


def test_case05_empty_label_is_excluded_by_line_and_kept_for_scoring():
    path = shared_path("cases/05-trailing-empty-rows/missing_label_mid_file.csv")
    t = load_flows(path)
    f = t.report.files[0]
    assert f.empty_labels == {"count": 1, "lines": [4]}
    assert f.dropped == {"empty label": 1}
    assert len(t) == 4 and 4 not in t.meta["source_line"]
    s = load_flows(path, mode="score")
    assert len(s) == 5 and s.labels[_line(s, 4)] == ""


# --- case 06: repeated header lines (CSE-CIC-IDS2018) -----------------------------------------


def test_case06_repeated_headers_removed_with_their_lines():
    path = shared_path("cases/06-cicids2018-repeated-header-rows/Thursday-01-03-2018_sample_repeated_header.csv")
    s = load_flows(path, mode="score")
    f = s.report.files[0]
    assert f.schema == "cse-cic-ids2018"
    assert f.repeated_headers == {"count": 2, "lines": [6, 12]}
    assert len(s) == 12
    assert 6 not in s.meta["source_line"] and 12 not in s.meta["source_line"]
    assert _counts(s) == {"BENIGN": 9, "Infiltration": 3}
    assert f.label_spellings == {
        "Benign": {"canonical": "BENIGN", "rows": 9},
        "Infilteration": {"canonical": "Infiltration", "rows": 3},
    }
    assert f.nonfinite == {
        "Flow Bytes/s": {"inf": 1, "nan": 0, "empty": 1},
        "Flow Packets/s": {"inf": 2, "nan": 0, "empty": 0},
    }
    assert f.nonfinite_rows["lines"] == [7, 9]
    assert s.X.dtype == np.float32 and "Timestamp" not in s.feature_names
    assert s.meta["timestamp"][0] == np.datetime64("2018-03-01T08:47:38")
    assert set(s.meta["day"]) == {"thursday"}
    assert load_flows(path).report.files[0].dropped == {"non-finite feature (Infinity/NaN/empty)": 2}


# --- case 08: negative sentinels ---------------------------------------------------------------


def test_case08_negative_cells_counted_per_column_and_rows_kept():
    t = load_flows(shared_path("cases/08-negative-sentinel-values/negatives.csv"))
    assert len(t) == 8
    assert t.report.files[0].negatives == {
        "Init_Win_bytes_forward": 3,
        "Init_Win_bytes_backward": 5,
        "Flow IAT Min": 2,
        "Flow Duration": 1,
        "Flow Bytes/s": 1,
        "Flow Packets/s": 1,
        "Fwd Header Length": 1,
    }
    assert t.report.files[0].duplicate_column["conflicting"]["count"] == 0
    assert t.X[_line(t, 7), CANONICAL_FEATURES.index("Fwd Header Length")] == -32


# --- other quirks -----------------------------------------------------------------------------


def _mlcve_text(path) -> tuple[str, list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], lines[1:]


def test_bom_crlf_and_conflicting_duplicate_column_are_reported(tmp_path):
    header, rows = _mlcve_text(shared_path("cases/03-leading-space-headers/flows_raw_header.csv"))
    names = next(csv.reader([header]))
    second = [i for i, n in enumerate(names) if n.strip() == "Fwd Header Length"][1]
    cells = next(csv.reader([rows[1]]))
    cells[second] = str(float(cells[second]) + 8)
    rows[1] = ",".join(cells)
    p = tmp_path / "quirky.csv"
    p.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join([header, *rows]) + "\r\n").encode())
    t = load_flows(p)
    f = t.report.files[0]
    assert f.bom and f.crlf and len(t) == 6
    assert f.duplicate_column["conflicting"] == {"count": 1, "lines": [3]}
    assert t.report.totals()["duplicate_column_conflicts"] == 1
    assert not any("\r" in lab for lab in t.labels)


def test_parse_error_names_file_line_and_column(tmp_path):
    header, rows = _mlcve_text(shared_path("cases/03-leading-space-headers/flows_raw_header.csv"))
    cells = next(csv.reader([rows[2]]))
    cells[1] = "12x"
    rows[2] = ",".join(cells)
    p = tmp_path / "broken.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(ParseError, match=r"broken\.csv, line 4, column 'Flow Duration'.*'12x'") as err:
        load_flows(p)
    assert (err.value.line, err.value.column) == (4, "Flow Duration")
    s = load_flows(p, mode="score")
    assert len(s) == 6 and s.meta["row_status"][2] == "not a number in column 'Flow Duration'"
    assert np.isnan(s.X[2, 1])


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("data/bccc_cic_ids2017/cicids-heartbleed_pecord.csv", "snake_case"),
        ("data/unsw_nb15/UNSW_NB15_testing-set_head4528_ankit300302.csv", "UNSW-NB15"),
        ("data/nsl_kdd/KDDTrain+_20Percent.txt", "no header"),
    ],
    ids=["bccc", "unsw", "nsl-kdd"],
)
def test_other_feature_spaces_get_one_schema_error(path, hint):
    with pytest.raises(SchemaError, match=rf"missing 77 of 77 canonical features.*{hint}"):
        load_flows(shared_path(path))


def test_zip_and_parquet_inputs_match_the_csv(tmp_path):
    src = shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv")
    z = tmp_path / "MachineLearningCSV.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(src, "MachineLearningCVE/flows_inf_nan.csv")
    from_zip = load_flows(z, mode="score")
    ref = load_flows(src, mode="score")
    np.testing.assert_array_equal(from_zip.X, ref.X)
    assert from_zip.meta["source_file"][0] == "MachineLearningCSV.zip/MachineLearningCVE/flows_inf_nan.csv"
    pq = tmp_path / "flows.parquet"
    pl.read_csv(io.BytesIO(src.read_bytes()), infer_schema=False).write_parquet(pq)
    from_pq = load_flows(pq, mode="score")
    np.testing.assert_array_equal(from_pq.X, ref.X)


def test_matrix_orders_columns_and_lists_missing_names():
    t = load_flows(shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv"))
    m = t.matrix(["Flow Duration", "Destination Port"])
    np.testing.assert_array_equal(m[:, 0], t.X[:, 1])
    np.testing.assert_array_equal(m[:, 1], t.X[:, 0])
    with pytest.raises(SchemaError, match=r"lacks 2 requested feature\(s\): \['Protocol', 'Src Port'\]"):
        t.matrix(["Flow Duration", "Protocol", "Src Port"])


# --- real samples -----------------------------------------------------------------------------


def test_real_mlcve_samples_label_counts_and_quirks():
    t = load_flows(shared_path("data/cicids2017/machinelearningcve"), mode="score")
    assert _counts(t) == {
        "BENIGN": 5000 + 300 + 300 + 8000,
        "DDoS": 1000,
        "PortScan": 1000,
        "Web Attack - Brute Force": 1507,
        "Web Attack - XSS": 652,
        "Web Attack - Sql Injection": 21,
    }
    by_file = {f.path: f for f in t.report.files}
    neil = by_file["thursday_webattacks_sample_neil-cipher.csv"]
    assert neil.bom and not neil.crlf
    assert sum(k["inf"] for k in neil.nonfinite.values()) == 20
    assert sum(k["nan"] for k in neil.nonfinite.values()) == 2
    assert neil.negatives["Flow Duration"] == 1
    paris = by_file["friday_ddos_head_rows1-5000_paris-svg.csv"]
    assert paris.crlf and sum(k["inf"] for k in paris.nonfinite.values()) == 8
    assert {f.schema for f in t.report.files} == {"cicids2017-mlcve"}
    assert set(t.meta["day"]) == {"thursday", "friday"}


@pytest.mark.parametrize(
    ("folder", "schema", "expected"),
    [
        (
            "data/cicids2017/trafficlabelling_reserialized",
            "cicids2017-trafficlabelling",
            {"DDoS": 1000, "PortScan": 1000, "Web Attack - Sql Injection": 21, "Web Attack - XSS": 652},
        ),
        (
            "data/cse_cic_ids2018",
            "cse-cic-ids2018",
            {"BENIGN": 721, "DDoS HOIC": 67, "DDoS LOIC-HTTP": 57, "DoS Hulk": 53, "Infiltration": 21,
             "SSH-Patator": 21, "FTP-Patator": 20, "Bot": 20, "DoS Slowhttptest": 15, "DoS GoldenEye": 4,
             "DoS slowloris": 1},
        ),
        (
            "data/cicids2017/machinelearningcve_reserialized",
            "cicids2017-mlcve",
            {"BENIGN": 812, "DoS Hulk": 81, "PortScan": 58, "DDoS": 35, "DoS GoldenEye": 4, "FTP-Patator": 3,
             "DoS Slowhttptest": 3, "DoS slowloris": 2, "Bot": 1, "SSH-Patator": 1},
        ),
    ],
    ids=["trafficlabelling", "cse2018", "mlcve-reserialized"],
)  # fmt: skip
def test_real_samples_of_other_schemas(folder, schema, expected):
    t = load_flows(shared_path(folder))
    assert {f.schema for f in t.report.files} == {schema}
    assert _counts(t) == expected


def test_trafficlabelling_identifiers_are_metadata_not_features():
    t = load_flows(shared_path("data/cicids2017/trafficlabelling_reserialized/baseline_ddos_mondirkb.csv"))
    assert {"flow_id", "src_ip", "src_port", "dst_ip", "protocol", "timestamp"} <= set(t.meta)
    assert not {"Source IP", "Source Port", "Flow ID", "Timestamp", "Protocol"} & set(t.feature_names)
    assert t.meta["src_ip"][0] == "172.16.0.1"
    # "7/7/2017 3:56" is 15:56 on the 12-hour clock CIC used without AM/PM.
    assert t.meta["timestamp"][0] == np.datetime64("2017-07-07T15:56:00")
    assert t.report.files[0].timestamps_pm_fixed == 1000
    assert set(t.meta["day"]) == {"friday"}


def test_improved_reextraction_maps_every_class():
    t = load_flows(shared_path("data/cicids2017_improved_engelen"))
    assert {f.schema for f in t.report.files} == {"cicids2017-improved"}
    c = _counts(t)
    assert c["Bot"] == 736 and c["Heartbleed"] == 11 and c["Infiltration"] == 36 and c["PortScan"] == 1000
    assert c["Web Attack - Sql Injection"] == 13 and c["Infiltration - Portscan"] == 1000
    assert "Attempted Category" in t.report.files[0].unused_columns or "attempted_category" in t.meta
    assert "id" not in t.feature_names and "Dst Port" not in t.feature_names


def test_repeated_header_in_a_zip_member_takes_the_bytes_path(tmp_path):
    src = shared_path("cases/06-cicids2018-repeated-header-rows/Thursday-01-03-2018_sample_repeated_header.csv")
    z = tmp_path / "cse.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(src, "Thursday-01-03-2018.csv")
    t = load_flows(z, mode="score")
    assert len(t) == 12 and t.report.files[0].repeated_headers["lines"] == [6, 12]
    assert t.meta["source_line"].tolist() == [2, 3, 4, 5, 7, 8, 9, 10, 11, 13, 14, 15]


def test_mixed_schemas_in_one_folder_share_the_canonical_columns(tmp_path):
    import shutil

    shutil.copy(shared_path("cases/01-inf-nan-flow-rates/flows_inf_nan.csv"), tmp_path / "a_mlcve.csv")
    shutil.copy(shared_path("data/cicids2017/trafficlabelling_reserialized/baseline_sqli_mondirkb.csv"), tmp_path / "b_tl.csv")
    t = load_flows(tmp_path)
    assert [f.schema for f in t.report.files] == ["cicids2017-mlcve", "cicids2017-trafficlabelling"]
    assert len(t) == 6 + 21
    assert t.meta["src_ip"][:6].tolist() == [""] * 6 and t.meta["src_ip"][6] != ""
    assert np.isnat(t.meta["timestamp"][:6]).all() and not np.isnat(t.meta["timestamp"][6:]).any()
    assert t.meta["source_file"][0] == "a_mlcve.csv" and t.meta["source_file"][-1] == "b_tl.csv"
