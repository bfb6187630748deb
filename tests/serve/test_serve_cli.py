"""``privids serve`` wiring: loopback by default, the real app handed to uvicorn, limits passed on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from privids.cli._app import build_app
from serve_fixtures import dp_artifact_dir  # noqa: F401

pytestmark = pytest.mark.shared


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # uvicorn.run would block forever; record what the command hands it instead.
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    return seen


def test_serve_binds_loopback_by_default(dp_artifact_dir: Path, captured: dict[str, Any]) -> None:
    r = CliRunner().invoke(build_app(), ["serve", "--model", str(dp_artifact_dir), "--max-rows", "7"])
    assert r.exit_code == 0, r.output
    assert captured["host"] == "127.0.0.1" and captured["port"] == 8000 and "warning" not in r.output
    client = TestClient(captured["app"])
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/model").json()["limits"]["max_rows"] == 7


def test_serve_warns_on_a_public_interface(dp_artifact_dir: Path, captured: dict[str, Any]) -> None:
    r = CliRunner().invoke(build_app(), ["serve", "--model", str(dp_artifact_dir), "--host", "0.0.0.0", "--port", "9"])
    assert r.exit_code == 0 and captured["host"] == "0.0.0.0" and "no authentication" in r.output


def test_serve_refuses_a_missing_model(tmp_path: Path, captured: dict[str, Any]) -> None:
    r = CliRunner().invoke(build_app(), ["serve", "--model", str(tmp_path)])
    assert r.exit_code == 5 and "no privids artifact" in r.output and captured == {}
