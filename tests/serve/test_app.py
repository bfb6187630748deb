"""The scoring API through FastAPI's TestClient: same numbers as the CLI path, clear 4xx errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import shared_path
from privids.artifacts import load_artifact
from privids.data import load_flows
from privids.serve.app import create_app
from privids.serve.tables import score_path
from serve_fixtures import dp_artifact_dir  # noqa: F401

pytestmark = pytest.mark.shared

CASE01 = ("cases", "01-inf-nan-flow-rates", "flows_inf_nan.csv")
CASE06 = ("cases", "06-cicids2018-repeated-header-rows", "Thursday-01-03-2018_sample_repeated_header.csv")


@pytest.fixture
def client(dp_artifact_dir: Path) -> TestClient:
    return TestClient(create_app(load_artifact(dp_artifact_dir), max_rows=20, max_bytes=64_000))


def _flows(parts: tuple[str, ...], names: tuple[str, ...], *, raw_names: bool = False) -> list[dict[str, object]]:
    """Case flows as JSON objects (JSON has no inf/NaN: they travel as strings)."""
    table = load_flows(shared_path(*parts), mode="score")
    X = table.matrix(names)
    key = (lambda n: " " + n) if raw_names else (lambda n: n)
    out = []
    for row in X.tolist():
        out.append({key(n): (v if math.isfinite(v) else ("NaN" if math.isnan(v) else "Infinity"))
                    for n, v in zip(names, row, strict=True)})
    return out


def test_health_and_model(client: TestClient, dp_artifact_dir: Path) -> None:
    art = load_artifact(dp_artifact_dir)
    h = client.get("/health")
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["features"] == len(art.feature_names)
    m = client.get("/model").json()
    assert m["epsilon_spent"] == pytest.approx(art.privacy["epsilon"]) and m["privacy"]["delta"] == art.privacy["delta"]
    assert m["feature_names"] == list(art.feature_names) and m["kind"] == "mlp"
    assert "transform" not in m and m["ledger"] is None and m["limits"] == {"max_rows": 20, "max_bytes": 64_000}
    assert m["input_columns"] == list(art.feature_names)  # no extra inputs: the raw columns are the features


@pytest.mark.parametrize("raw_names", [False, True], ids=["stripped-names", "raw-names"])
def test_json_scores_equal_file_scores(client: TestClient, dp_artifact_dir: Path, raw_names: bool) -> None:
    art = load_artifact(dp_artifact_dir)
    body = _flows(CASE01, art.feature_names, raw_names=raw_names)
    body[0]["Source IP"] = "192.168.10.5"
    r = client.post("/score", json=body)
    assert r.status_code == 200
    got = r.json()
    expected = score_path(art, shared_path(*CASE01))
    assert got["n"] == 10 and [x["row"] for x in got["results"]] == list(range(10))
    np.testing.assert_allclose([x["probability"] for x in got["results"]], expected.probability, rtol=1e-12)
    assert [x["verdict"] for x in got["results"]] == expected.verdict.tolist()
    assert got["results"][0]["src_ip"] == "192.168.10.5" and got["results"][1]["src_ip"] is None
    assert got["counts"] == expected.counts()


def test_columnar_json_equals_file_scores(client: TestClient, dp_artifact_dir: Path) -> None:
    art = load_artifact(dp_artifact_dir)
    flows = _flows(CASE01, art.feature_names)
    body = {"columns": list(flows[0]), "rows": [list(f.values()) for f in flows]}
    got = client.post("/score", json=body).json()
    expected = score_path(art, shared_path(*CASE01))
    np.testing.assert_allclose([x["probability"] for x in got["results"]], expected.probability, rtol=1e-12)


def test_csv_body_in_any_schema(client: TestClient, dp_artifact_dir: Path) -> None:
    # CSE-CIC-IDS2018 header with the header line repeated twice inside: 12 flows, not 14.
    body = shared_path(*CASE06).read_bytes()
    r = client.post("/score", content=body, headers={"Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 200 and r.json()["n"] == 12
    expected = score_path(load_artifact(dp_artifact_dir), shared_path(*CASE06))
    assert [x["timestamp"] for x in r.json()["results"]] == expected.to_arrow().column("timestamp").to_pylist()
    np.testing.assert_allclose([x["probability"] for x in r.json()["results"]], expected.probability, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "status", "field", "match"),
    [
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "body", "not valid JSON"),
        ({"content": b"x", "headers": {"Content-Type": "application/xml"}}, 415, "Content-Type", "application/json or"),
        ({"json": [{"Flow Duration": 1}]}, 422, "flows[0].Destination Port", "missing"),
        ({"json": [{}] * 21}, 413, "flows", "at most 20 flows"),
        ({"content": b"a" * 64_001, "headers": {"Content-Type": "application/json"}}, 413, "body", "limited to 64000"),
        ({"content": b"Flow ID,Foo\n1,2\n", "headers": {"Content-Type": "text/csv"}}, 422, "body", "schema"),
        ({"content": b"  \n", "headers": {"Content-Type": "text/csv"}}, 400, "body", "CSV body is empty"),
        # 30 KB, under the size limit, but deeper than the JSON parser's recursion limit (was a 500).
        ({"content": b"[" * 15_000 + b"]" * 15_000, "headers": {"Content-Type": "application/json"}}, 400, "body",
         "nests JSON arrays/objects too deeply"),
        # Only application/json and text/csv are accepted; text/plain used to be parsed as CSV and a
        # missing type as JSON.
        ({"content": b"Flow ID,Foo\n1,2\n", "headers": {"Content-Type": "text/plain"}}, 415, "Content-Type",
         "got 'text/plain'"),
        ({"content": b"[]"}, 415, "Content-Type", "got no Content-Type header"),
    ],
    ids=["bad-json", "bad-type", "missing-feature", "too-many-rows", "too-big", "unknown-csv-schema", "empty-csv",
         "deeply-nested-json", "text-plain", "no-content-type"],
)
def test_bad_requests_get_4xx_naming_the_field(client: TestClient, kwargs: dict, status: int, field: str,
                                                match: str) -> None:
    r = client.post("/score", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["detail"]["field"] == field and match in r.json()["detail"]["error"]
    assert "request.csv" not in r.text and "/tmp" not in r.text


def test_chunked_body_is_bounded_while_streaming(client: TestClient) -> None:
    def chunks():
        for _ in range(100):
            yield b"[" + b" " * 999

    r = client.post("/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "more than that" in r.json()["detail"]["error"]


def test_a_bad_request_does_not_affect_the_next(client: TestClient, dp_artifact_dir: Path) -> None:
    good = _flows(CASE01, load_artifact(dp_artifact_dir).feature_names)
    first = client.post("/score", json=good).json()
    for bad in ([{"Flow Duration": "x"}], {"flows": 3}, [{}] * 50):
        assert client.post("/score", json=bad).status_code in (413, 422)
    assert client.post("/score", content=b"\xff\xfe", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/score", json=good).json() == first


def test_invalid_limits_are_refused(dp_artifact_dir: Path) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        create_app(load_artifact(dp_artifact_dir), max_rows=0)


def test_empty_flow_list_gives_empty_results(client: TestClient) -> None:
    r = client.post("/score", json=[])
    assert r.status_code == 200 and r.json() == {"n": 0, "counts": {"attack": 0, "benign": 0, "unscored": 0},
                                                 "results": []}
