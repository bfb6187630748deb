"""Tests for privids.data.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from privids.data.download import ARCHIVES, download_dataset, extract_archive, fetch, verify_archive
from privids.exceptions import ConfigError, DataError


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        # Stored (not deflated) random-ish content keeps the archive large enough to cut in half.
        for day in ("Monday-WorkingHours", "Tuesday-WorkingHours"):
            rows = "\n".join(f"{i},{(i * 7919) % 65535},BENIGN" for i in range(4000))
            zf.writestr(f"MachineLearningCVE/{day}.pcap_ISCX.csv", " Destination Port, Flow Duration, Label\n" + rows)
        zf.writestr("MachineLearningCVE/readme.txt", "not a csv")
    return buf.getvalue()


class _Server:
    """Serves one blob with optional Range support and a one-shot mid-transfer disconnect."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.ranges: list[str | None] = []
        self.sent: list[int] = []
        self.cut_after: int | None = None
        self.honour_range = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = 0
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(outer.blob):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(outer.blob) - 1}/{len(outer.blob)}")
                else:
                    self.send_response(200)
                body = outer.blob[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    body, outer.cut_after = body[: outer.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)
                outer.sent.append(len(body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/MachineLearningCSV.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def blob() -> bytes:
    return _zip_bytes()


@pytest.fixture
def server(blob):
    s = _Server(blob)
    yield s
    s.close()


def test_interrupted_download_resumes_with_range(tmp_path, server, blob):
    # Arrange: the server drops the connection after 40 % of the bytes.
    cut = int(len(blob) * 0.4)
    server.cut_after = cut
    target = tmp_path / "MachineLearningCSV.zip"
    # Act 1: no retries, so the interruption surfaces and leaves the part file.
    with pytest.raises(DataError, match="interrupted at .* run the same command again"):
        fetch(server.url, target, expected_size=len(blob), retries=0, timeout=5)
    part = tmp_path / "MachineLearningCSV.zip.part"
    assert part.stat().st_size == cut and not target.exists()
    # Act 2: the next run asks only for the rest.
    seen = []
    fetched, resumed = fetch(server.url, target, expected_size=len(blob), retries=0, timeout=5,
                             progress=lambda d, t: seen.append((d, t)))
    # Assert
    assert resumed and fetched == len(blob) - cut
    assert server.ranges == [None, f"bytes={cut}-"]
    assert target.read_bytes() == blob and not part.exists()
    assert seen[-1] == (len(blob), len(blob)) and seen[0][0] > cut


def test_retries_resume_within_one_call(tmp_path, server, blob):
    server.cut_after = 1000
    fetched, resumed = fetch(server.url, tmp_path / "a.zip", expected_size=len(blob), retries=2, timeout=5)
    assert resumed and fetched == len(blob)
    assert server.ranges == [None, "bytes=1000-"]
    assert (tmp_path / "a.zip").read_bytes() == blob


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, blob):
    part = tmp_path / "a.zip.part"
    part.write_bytes(blob[:500])
    server.honour_range = False
    fetched, resumed = fetch(server.url, tmp_path / "a.zip", expected_size=len(blob), retries=0, timeout=5)
    assert not resumed and fetched == len(blob)
    assert (tmp_path / "a.zip").read_bytes() == blob


def test_complete_part_file_is_not_fetched_again(tmp_path, server, blob):
    (tmp_path / "a.zip.part").write_bytes(blob)
    fetched, _ = fetch(server.url, tmp_path / "a.zip", expected_size=len(blob), retries=0, timeout=5)
    assert fetched == 0 and server.ranges == [] and (tmp_path / "a.zip").read_bytes() == blob


def test_download_dataset_verifies_and_extracts(tmp_path, server, blob):
    sha = hashlib.sha256(blob).hexdigest()
    res = download_dataset("cicids2017", dest=tmp_path / "d", url=server.url, sha256=sha, size=len(blob))
    assert res.verification == "size+sha256+zip"
    assert [p.name for p in res.extracted] == ["Monday-WorkingHours.pcap_ISCX.csv", "Tuesday-WorkingHours.pcap_ISCX.csv"]
    assert res.extracted[0].read_text().startswith(" Destination Port, Flow Duration, Label\n0,0,BENIGN")
    # A second run finds the verified archive and transfers nothing.
    again = download_dataset("cicids2017", dest=tmp_path / "d", url=server.url, sha256=sha, size=len(blob))
    assert again.fetched_bytes == 0 and len(server.ranges) == 1


def test_checksum_mismatch_deletes_the_file(tmp_path, server, blob):
    with pytest.raises(DataError, match="SHA-256 .* expected 0000"):
        download_dataset("cicids2017", dest=tmp_path, url=server.url, sha256="0" * 64, size=len(blob))
    assert not (tmp_path / "MachineLearningCSV.zip").exists()


def test_without_checksum_only_zip_integrity_is_claimed(tmp_path, server, blob):
    res = download_dataset("cicids2017", dest=tmp_path, url=server.url, sha256=None, size=None)
    assert res.verification == "zip"


def test_wrong_size_announced_is_refused(tmp_path, server, blob):
    with pytest.raises(DataError, match="announces .* bytes but the archive has"):
        fetch(server.url, tmp_path / "a.zip", expected_size=len(blob) + 1, retries=0, timeout=5)


def test_corrupt_zip_is_caught(tmp_path, blob):
    bad = bytearray(blob)
    i = blob.index(b"BENIGN") + 10
    bad[i] ^= 0xFF  # flip a byte inside stored member data: its CRC no longer matches
    p = tmp_path / "bad.zip"
    p.write_bytes(bytes(bad))
    with pytest.raises(DataError, match="fails its CRC check"):
        verify_archive(p)
    with pytest.raises(DataError, match="expected 1;"):
        verify_archive(p, size=1)


def test_zip_slip_is_refused(tmp_path):
    p = tmp_path / "evil.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("../evil.csv", "x")
    with pytest.raises(DataError, match="outside"):
        extract_archive(p, tmp_path / "out")
    assert not (tmp_path / "evil.csv").exists()


def test_bad_inputs_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'; available: \['cicids2017'\]"):
        download_dataset("nope", dest=tmp_path)
    with pytest.raises(ConfigError, match="http:// or https://"):
        fetch("ftp://x/y.zip", tmp_path / "y.zip")


def test_unreachable_server_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot reach"):
        fetch("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", retries=0, timeout=2)


def test_official_archive_is_recorded_with_its_checksums():
    spec = ARCHIVES["cicids2017"]
    assert spec.filename == "MachineLearningCSV.zip" and spec.size == 235_102_953
    assert len(spec.sha256) == 64 and len(spec.md5) == 32 and spec.url.endswith("/MachineLearningCSV.zip")
