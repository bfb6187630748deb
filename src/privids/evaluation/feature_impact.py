"""Impact of extra features: the same detector trained on feature-set variants, compared on test."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from privids._rng import RandomLike, child_seed
from privids.config import TrainConfig
from privids.data.dataset import PreparedData
from privids.evaluation.detectors import train_detector
from privids.evaluation.metrics import binary_report
from privids.exceptions import DataError

__all__ = ["feature_impact"]

BENIGN = "BENIGN"


def feature_impact(
    variants: Mapping[str, PreparedData],
    *,
    cfg: TrainConfig | None = None,
    rng: RandomLike = None,
) -> list[dict[str, Any]]:
    """Train one detector per feature-set variant (same rows, same seed) and report test metrics.

    Parameters
    ----------
    variants : mapping of str to PreparedData
        E.g. ``{"base": data, "+anomaly": with_anomaly(data)[0], "+temporal": with_temporal(data)}``;
        every variant must hold the same rows in the same splits.
    cfg : TrainConfig or None, default=None
        Detector settings (None: ``TrainConfig(model="gbt")``); the threshold is chosen on ``val``.
    rng : int, numpy.random.Generator or None, default=None
        One seed is drawn and reused for every variant, so only the features differ.

    Returns
    -------
    list of dict
        One row per variant: ``variant``, ``n_features``, ``roc_auc``, ``pr_auc``, ``f1``,
        ``recall``, ``fpr`` and ``recall_by_family`` (test split).

    Raises
    ------
    DataError
        Variants with different row counts.
    """
    cfg = dataclasses.replace(cfg or TrainConfig(model="gbt"), multiclass=False)
    sizes = {name: (len(d.train), len(d.val), len(d.test)) for name, d in variants.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"feature variants must hold the same rows; got split sizes {sizes}; build them from one PreparedData.")
    seed = child_seed(rng)
    rows: list[dict[str, Any]] = []
    for name, data in variants.items():
        det = train_detector(data, cfg, rng=np.random.default_rng(seed))
        scores = np.asarray(det.predict_scores(data.test.X), dtype=np.float64)
        rep = binary_report(data.test.y, scores, threshold=det.threshold)
        fams = data.test.families
        flagged = scores >= det.threshold
        by_family = {str(f): float(flagged[fams == f].mean()) for f in sorted(set(fams)) if f != BENIGN}
        rows.append(
            {
                "variant": name,
                "n_features": len(data.feature_names),
                **{k: rep.get(k) for k in ("roc_auc", "pr_auc", "f1", "recall", "fpr")},
                "recall_by_family": by_family,
            }
        )
    return rows
