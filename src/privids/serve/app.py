"""FastAPI app factory: ``POST /score``, ``GET /health``, ``GET /model`` over one loaded artifact."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from privids.exceptions import ConfigError, PrivIDSError
from privids.serve.model_info import model_summary
from privids.serve.payloads import RequestError, flows_from_json
from privids.serve.scoring import ScoreResult, Scorer
from privids.serve.tables import score_csv_bytes

__all__ = ["create_app"]

log = logging.getLogger(__name__)

# Exactly these two media types (parameters such as charset are ignored). A missing or other
# type is refused with 415 rather than guessed: a guess turns a client bug into a 4xx about
# the body's content that points at the wrong problem.
_JSON_TYPE = "application/json"
_CSV_TYPE = "text/csv"


async def _read_bounded(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError as e:
            raise RequestError(f"Content-Length must be an integer; got {declared!r}.", field="Content-Length",
                               status=400) from e
        if size > max_bytes:
            raise RequestError(f"request body is limited to {max_bytes} bytes; got Content-Length {size}. "
                               "Send fewer flows per request.", field="body", status=413)
    # A chunked body has no Content-Length, so count while reading instead of trusting the header.
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise RequestError(f"request body is limited to {max_bytes} bytes; got more than that. "
                               "Send fewer flows per request.", field="body", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, field: str = "") -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": {"error": message, "field": field}})


def create_app(artifact: Any, *, max_rows: int = 10_000, max_bytes: int = 8 * 1024 * 1024) -> FastAPI:
    """Build the scoring service around one loaded model artifact.

    Parameters
    ----------
    artifact : privids.artifacts.ModelArtifact
        Loaded with :func:`privids.artifacts.load_artifact` (safetensors + JSON, never pickle).
        It lives in ``app.state``; nothing is stored at module level.
    max_rows : int, default=10000
        Largest number of flows in one request (413 beyond).
    max_bytes : int, default=8 MiB
        Largest request body (413 beyond, checked while streaming).

    Returns
    -------
    fastapi.FastAPI

    Notes
    -----
    Routes: ``POST /score`` takes a JSON list of flows keyed by feature name (raw or stripped
    CIC names; ``{"flows": [...]}`` also works; ``Content-Type: application/json``) or a CSV body
    (``Content-Type: text/csv``) in any supported schema; any other or a missing Content-Type
    gets 415; ``GET /health``; ``GET /model`` returns the stored metadata with the epsilon
    spent and the privacy ledger. The model state is read-only after start-up, so a failed
    request cannot change what the next one sees.
    """
    if max_rows <= 0 or max_bytes <= 0:
        raise ConfigError(f"max_rows and max_bytes must be positive; got max_rows={max_rows}, max_bytes={max_bytes}. "
                          "Pass --max-rows/--max-bytes of at least 1.")
    scorer = Scorer.from_artifact(artifact)
    summary = model_summary(artifact)
    app = FastAPI(title="privids scoring API", version=str(summary.get("version", "")), docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.artifact = artifact
    app.state.scorer = scorer
    app.state.limits = {"max_rows": max_rows, "max_bytes": max_bytes}

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, str(exc), exc.field)

    @app.exception_handler(PrivIDSError)
    async def _privids_error(_: Request, exc: PrivIDSError) -> JSONResponse:
        return _error(422, str(exc))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": summary.get("kind"), "version": summary.get("version"),
                "features": len(scorer.feature_names)}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        return {**summary, "limits": app.state.limits}

    @app.post("/score")
    async def score(request: Request) -> JSONResponse:
        body = await _read_bounded(request, max_bytes)
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype == _CSV_TYPE:
            result = score_csv_bytes(artifact, body, scorer=scorer, max_rows=max_rows)
        elif ctype == _JSON_TYPE:
            try:
                payload = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise RequestError(f"body is not valid JSON: {e}. Send a JSON list of flows or a CSV body "
                                   "with Content-Type: text/csv.", field="body", status=400) from e
            except RecursionError as e:
                # A few hundred KB of "[[[[..." is under the size limit yet exhausts the parser's
                # stack; a flow list never nests deeper than list > object > value.
                raise RequestError("body nests JSON arrays/objects too deeply to parse; got more levels than "
                                   "Python's recursion limit. Send a flat list of flow objects "
                                   "(or {\"columns\": [...], \"rows\": [[...], ...]}).",
                                   field="body", status=400) from e
            parsed = flows_from_json(payload, scorer.feature_names, max_rows=max_rows)
            result = scorer.score_matrix(parsed.raw, identifiers=parsed.identifiers)
        else:
            got = repr(ctype) if ctype else "no Content-Type header"
            raise RequestError(f"Content-Type must be application/json or text/csv; got {got}. Set the header, "
                               "e.g. -H 'Content-Type: application/json'.", field="Content-Type", status=415)
        return JSONResponse(_response(result))

    return app


def _response(result: ScoreResult) -> dict[str, Any]:
    return {"n": len(result), "counts": result.counts(), "results": result.to_records()}
