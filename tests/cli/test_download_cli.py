"""``privids download`` end to end against a local HTTP server (127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from typer.testing import CliRunner

from privids.cli._app import build_app


def test_download_command_fetches_verifies_and_extracts(tmp_path):
    # Arrange: a small archive served by the standard library's file server.
    served = tmp_path / "www"
    served.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("MachineLearningCVE/Monday-WorkingHours.pcap_ISCX.csv", " Destination Port, Label\n80,BENIGN\n")
    (served / "MachineLearningCSV.zip").write_bytes(buf.getvalue())
    sha = hashlib.sha256(buf.getvalue()).hexdigest()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/MachineLearningCSV.zip"
    try:
        # Act
        res = CliRunner().invoke(build_app(), ["download", "cicids2017", "--dest", str(tmp_path / "d"), "--url", url,
                                               "--sha256", sha, "--json"])
        wrong = CliRunner().invoke(build_app(), ["download", "cicids2017", "--dest", str(tmp_path / "e"),
                                                 "--url", url, "--sha256", "ab" * 32])
    finally:
        httpd.shutdown()
        httpd.server_close()
    # Assert
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["verification"] == "sha256+zip" and out["fetched_bytes"] == len(buf.getvalue())
    assert (tmp_path / "d" / "MachineLearningCVE" / "Monday-WorkingHours.pcap_ISCX.csv").read_text().endswith("80,BENIGN\n")
    assert wrong.exit_code == 2 and "SHA-256" in wrong.output
