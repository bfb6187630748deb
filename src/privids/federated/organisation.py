"""One organisation prepares its own flows for a deployment with the federation's agreed transform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from privids._rng import RandomLike, as_generator
from privids.data.labels import binary_target, families_of
from privids.data.loaders import load_flows
from privids.exceptions import ConfigError, DataError
from privids.features.transforms import FlowTransform
from privids.federated.client_app import save_partition_file
from privids.federated.local import ClientPartition

__all__ = ["prepare_organisation", "prepare_organisation_file", "read_transform", "write_transform"]


def write_transform(transform: Any, path: str | Path) -> Path:
    """Write the federation's feature transform (``transform.to_dict()``) as JSON."""
    p = Path(path)
    p.write_text(json.dumps(transform.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return p


def read_transform(path: str | Path) -> FlowTransform:
    """Read a transform written by :func:`write_transform`.

    Raises
    ------
    DataError
        Missing or unreadable file.
    """
    try:
        return FlowTransform.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read the federation's transform {path}: {e}; fix: use the transform.json the coordinator sent.") from e


def prepare_organisation(
    source: str | Path,
    transform: FlowTransform,
    *,
    partition_id: int,
    eval_fraction: float = 0.15,
    rng: RandomLike = None,
) -> ClientPartition:
    """Load this organisation's flows, apply the agreed transform, keep a local evaluation slice.

    Nothing is fitted here: every organisation applies the same stored feature list and
    transform, so their models' inputs mean the same thing.

    Parameters
    ----------
    source : str or Path
        The organisation's flow CSV file(s), in any schema ``load_flows`` reads.
    transform : FlowTransform
        The federation's transform (:func:`read_transform`).
    partition_id : int
    eval_fraction : float, default=0.15
        Share of the rows kept aside for ``@app.evaluate()``.
    rng : int, Generator or None
        Which rows go to the evaluation slice.

    Returns
    -------
    ClientPartition

    Raises
    ------
    ConfigError
        ``eval_fraction`` outside [0, 1).
    DataError
        Unreadable flows or flows missing one of the transform's features.
    """
    if not 0 <= eval_fraction < 1:
        raise ConfigError(f"eval_fraction must be in [0, 1); got {eval_fraction!r}.")
    table = load_flows(source, mode="train")
    X = transform.transform(table.matrix(transform.feature_names))
    y = binary_target(table.labels)
    families = families_of(table.labels)
    order = as_generator(rng).permutation(len(y))
    n_eval = int(round(eval_fraction * len(y)))
    ev, tr = np.sort(order[:n_eval]), np.sort(order[n_eval:])
    return ClientPartition(partition_id=partition_id, X=X[tr], y=y[tr], X_eval=X[ev], y_eval=y[ev], families=families[tr])


def prepare_organisation_file(
    source: str | Path, transform_path: str | Path, out: str | Path, *, partition_id: int, rng: RandomLike = None
) -> Path:
    """:func:`prepare_organisation` then :func:`save_partition_file` (what a SuperNode reads)."""
    part = prepare_organisation(source, read_transform(transform_path), partition_id=partition_id, rng=rng)
    return save_partition_file(part, out)

