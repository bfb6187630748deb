"""Tests for privids.report.metrics_json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from report_fixtures import fake_results

from privids.report import to_jsonable, write_metrics


@dataclass(frozen=True)
class _Cfg:
    eps: tuple[float, ...] = (1.0, 2.0)


def test_strict_json_round_trip(tmp_path):
    res = {"a": np.float32(0.25), "b": np.arange(3), "c": [float("nan"), float("inf"), 1.5],
           "d": _Cfg(), "e": Path("/x"), "f": {3: np.bool_(True)}, "png": b"\x89PNG"}
    p = write_metrics(res, tmp_path / "m" / "metrics.json")
    text = p.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back == {"a": 0.25, "b": [0, 1, 2], "c": [None, None, 1.5], "d": {"eps": [1.0, 2.0]}, "e": "/x",
                    "f": {"3": True}, "png": None}


def test_every_fixture_number_survives(tmp_path):
    res = fake_results()
    back = json.loads(write_metrics(res, tmp_path / "metrics.json").read_text())
    assert back["centralised"]["mlp"]["metrics"]["roc_auc"] == 0.9912
    assert back["privacy"]["points"][0]["epsilon"] == 0.5
    assert back["attacks"]["backdoor"]["trimmed"] is None

    def leaves(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from leaves(v)
        elif isinstance(x, list):
            for v in x:
                yield from leaves(v)
        else:
            yield x

    assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in leaves(to_jsonable(res)))
