"""Score flow files and CSV request bodies through the data layer's score-mode loader."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from privids.data.loaders import load_flows
from privids.exceptions import DataError
from privids.serve.payloads import RequestError
from privids.serve.scoring import Scorer, ScoreResult, score_table

__all__ = ["score_csv_bytes", "score_path"]


def score_path(artifact: Any, path: str | Path, *, scorer: Scorer | None = None) -> ScoreResult:
    """Load flows in score mode (every row kept, in input order) and score them.

    Parameters
    ----------
    artifact : privids.artifacts.ModelArtifact
    path : str or Path
        CSV file, folder of CSV/Parquet files or Parquet file, in any supported schema.
    scorer : Scorer, optional
        Reuse a scorer already built from ``artifact``.

    Returns
    -------
    ScoreResult
        One result per flow row (padding rows and repeated header lines are not flows).
    """
    return score_table(artifact, load_flows(path, mode="score"), scorer=scorer)


def score_csv_bytes(artifact: Any, body: bytes, *, scorer: Scorer | None = None, max_rows: int | None = None) -> ScoreResult:
    """Score a CSV document received as bytes (an API request body).

    Raises
    ------
    RequestError
        An empty body, a header the loader rejects (422, the message names the columns), or more
        than ``max_rows`` flows (413).
    """
    if not body.strip():
        raise RequestError("CSV body is empty; got 0 bytes of flows. Send a header line and one line per flow.",
                           field="body", status=400)
    # The loader reads paths (it sniffs encodings and repeated headers on the whole buffer), so the
    # body goes through a private temporary file that is removed before the response is sent.
    with tempfile.TemporaryDirectory(prefix="privids-score-") as tmp:
        p = Path(tmp) / "request.csv"
        p.write_bytes(body)
        try:
            table = load_flows(p, mode="score")
        except DataError as e:
            message = str(e).replace(str(p), "request body").replace(p.name, "request body")
            raise RequestError(message, field="body") from e
    if max_rows is not None and len(table) > max_rows:
        raise RequestError(f"at most {max_rows} flows per request; got {len(table)}. Split the batch.", field="body",
                           status=413)
    return score_table(artifact, table, scorer=scorer)
