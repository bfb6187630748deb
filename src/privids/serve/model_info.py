"""What a served model may tell its callers: identity, features, threshold, privacy spent, ledger."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from privids.exceptions import ArtifactError
from privids.privacy.ledger import PrivacyLedger

__all__ = ["epsilon_spent", "ledger_of", "model_summary"]

# Metadata keys never exposed over the API: the transform holds per-feature training statistics
# (means, scales, caps) and the anomaly score the centres of benign training flows; the DP
# accounting of the weights covers neither.
_PRIVATE_KEYS = frozenset({"transform", "transform_params", "anomaly"})


def ledger_of(metadata: Mapping[str, Any]) -> PrivacyLedger | None:
    """The privacy ledger stored in artifact metadata, or None when the model has none yet.

    Raises
    ------
    ArtifactError
        A ledger stored as a bare list of releases: without the lifetime budget fixed at
        creation, no later release can be checked.
    """
    raw = metadata.get("ledger")
    if not raw:
        return None
    if not isinstance(raw, Mapping):
        raise ArtifactError(f"artifact ledger must be a dict with a lifetime budget and releases; got a "
                            f"{type(raw).__name__} of {len(raw)} entries. Write it with PrivacyLedger.to_dict().")
    return PrivacyLedger.from_dict(raw)


def epsilon_spent(metadata: Mapping[str, Any]) -> float | None:
    """Composed epsilon of the model line: ledger total, else the training run's epsilon.

    Returns ``inf`` for a model trained without DP and None when the artifact says nothing.

    Examples
    --------
    >>> epsilon_spent({"privacy": {"epsilon": 1.5, "delta": 1e-5}})
    1.5
    >>> epsilon_spent({"privacy": None, "kind": "mlp"})
    inf
    """
    led = ledger_of(metadata)
    if led is not None:
        return led.totals().epsilon
    if "privacy" not in metadata:
        return None
    priv = metadata.get("privacy")
    if not priv:
        return math.inf
    return float(priv["epsilon"])


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def model_summary(artifact: Any) -> dict[str, Any]:
    """JSON-safe description of a loaded artifact for ``GET /model`` and ``privids score``.

    Parameters
    ----------
    artifact : privids.artifacts.ModelArtifact

    Returns
    -------
    dict
        The stored metadata without the fitted transform's statistics, plus ``kind``,
        ``epsilon_spent`` (``"inf"`` for a non-private model) and ``ledger`` with composed totals.
    """
    meta: Mapping[str, Any] = artifact.metadata
    out = {k: v for k, v in meta.items() if k not in _PRIVATE_KEYS}
    out["kind"] = getattr(artifact, "kind", meta.get("kind"))
    # The raw columns a client must send (flow features, plus timestamp/source for temporal models).
    columns = getattr(artifact, "input_columns", None)
    if columns is not None:
        out["input_columns"] = list(columns)
    eps = epsilon_spent(meta)
    out["epsilon_spent"] = eps
    led = ledger_of(meta)
    out["ledger"] = led.to_dict() if led is not None else None
    return _json_safe(out)
