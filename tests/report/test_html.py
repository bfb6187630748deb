"""Tests for privids.report.html and privids.report.sections: a self-contained report."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib import image as mpimg
from report_fixtures import fake_results

from privids.report import Figure, Section, Table, Text, render_report, write_report
from privids.report.html import SYNTHETIC_BANNER
from privids.report.sections import build_sections, metrics_table


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(doc: str) -> _Collect:
    p = _Collect()
    p.feed(doc)
    return p


@pytest.fixture(scope="module")
def full_doc() -> str:
    sections = build_sections(fake_results(), synthetic=True)
    return render_report(sections, title="privids study", synthetic=True, subtitle="demo")


def test_report_is_self_contained(full_doc):
    p = _parse(full_doc)
    # Nothing is fetched: no scripts, no external stylesheets, every image is a data URI.
    assert not [t for t, _ in p.tags if t in {"script", "link", "iframe"}]
    imgs = [a["src"] for t, a in p.tags if t == "img"]
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert not re.search(r"(src|href)=\"https?://", full_doc)


def test_every_figure_is_a_decodable_png_with_content(full_doc):
    imgs = [a["src"] for t, a in _parse(full_doc).tags if t == "img"]
    # data, roc, confusion, privacy, 2 federated, attack heatmap, membership, importance
    assert len(imgs) == 9
    for src in imgs:
        raw = base64.b64decode(src.split(",", 1)[1])
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = mpimg.imread(io.BytesIO(raw), format="png")
        assert pixels.shape[0] > 150 and pixels.shape[1] > 250
        assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_sections_and_contents_match(full_doc):
    p = _parse(full_doc)
    ids = [a["id"] for t, a in p.tags if t == "section"]
    links = [a["href"] for t, a in p.tags if t == "a"]
    assert links == [f"#{i}" for i in ids]
    assert ids == ["data-report", "centralised-models", "privacy-utility-dp-sgd", "federated-learning",
                   "poisoning-and-backdoor-attacks", "membership-inference", "feature-importance"]


def test_numbers_from_the_results_appear_in_tables(full_doc):
    text = " ".join(_parse(full_doc).text)
    for shown in ["0.9912", "0.9991", "14,500", "0.912", "9.1", "0.42"]:
        assert shown in text, shown


def test_banner_only_when_synthetic():
    secs = [Section("Data", [Text("x")])]
    assert SYNTHETIC_BANNER in render_report(secs, title="t", synthetic=True)
    assert "banner" not in render_report(secs, title="t", synthetic=False).split("<style>")[1].split("</style>")[1]


def test_text_is_escaped():
    doc = render_report([Section("<b>", [Text("<script>alert(1)</script>"),
                                         Table(["a<"], [["<i>"]])])], title="<t>", synthetic=False)
    assert "<script>" not in doc and "&lt;script&gt;" in doc and "&lt;i&gt;" in doc and "<title>&lt;t&gt;" in doc


def test_missing_and_not_run_parts_say_so():
    res = {"data": fake_results()["data"], "federated": {"not_run": "privids.federated has not landed"}}
    secs = build_sections(res, synthetic=False)
    by_title = {s.title: s for s in secs}
    assert by_title["Federated learning"].status == "not run"
    assert "privids.federated has not landed" in by_title["Federated learning"].blocks[0].text
    assert by_title["Membership inference"].status == "not run"
    assert by_title["Data report"].status == ""


def test_metrics_table_skips_curves_and_fills_gaps():
    t = metrics_table({"a": {"f1": 0.5, "roc": {"fpr": [0]}}, "b": {"auc": np.float64(0.7)}})
    assert t.columns == ["model", "f1", "auc"]
    assert t.rows == [["a", 0.5, None], ["b", 0.7]] or t.rows == [["a", 0.5, None], ["b", None, 0.7]]
    assert t.rows[1] == ["b", None, 0.7]


def test_unknown_block_type_is_a_clear_error():
    with pytest.raises(TypeError, match="Text, Table or Figure; got int"):
        render_report([Section("x", [3])], title="t", synthetic=False)


def test_write_report_creates_folders(tmp_path, full_doc):
    p = write_report(full_doc, tmp_path / "a" / "b" / "report.html")
    assert p.read_text(encoding="utf-8") == full_doc


def test_figure_block_round_trips_bytes():
    png = b"\x89PNG\r\n\x1a\nfake"
    doc = render_report([Section("s", [Figure(png, "cap")])], title="t", synthetic=False)
    src = [a["src"] for t, a in _parse(doc).tags if t == "img"][0]
    assert base64.b64decode(src.split(",", 1)[1]) == png
