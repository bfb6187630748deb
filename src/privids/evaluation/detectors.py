"""Train a centralised detector, fix its threshold on validation, and evaluate it on a split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from torch import nn

from privids._rng import RandomLike, as_generator
from privids.config import PrivacyConfig, TrainConfig, config_to_dict
from privids.data.dataset import PreparedData, SplitView
from privids.evaluation.metrics import BENIGN, attack_scores, binary_report, multiclass_report
from privids.evaluation.thresholds import choose_threshold
from privids.exceptions import ConfigError, DataError
from privids.models.predict import predict_scores
from privids.models.registry import get_trainer
from privids.models.train import train_mlp_history

__all__ = ["BINARY_CLASSES", "Detector", "FittedDetector", "evaluate_detector", "raw_scores", "train_detector"]

BINARY_CLASSES: tuple[str, str] = (BENIGN, "attack")
"""Label map of a binary head: output index 0 is BENIGN, 1 is attack."""


class Detector(Protocol):
    """What :func:`evaluate_detector` needs: a FittedDetector or a loaded ModelArtifact."""

    task: str
    class_names: tuple[str, ...]
    threshold: float
    known_labels: tuple[str, ...]

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """Raw model output: P(attack) ``(n,)`` or class probabilities ``(n, K)``."""
        ...


def raw_scores(model: Any, X: np.ndarray) -> np.ndarray:
    """Scores from a FlowMLP (via :func:`privids.models.predict.predict_scores`) or any ``predict_scores`` model."""
    if isinstance(model, nn.Module):
        return predict_scores(model, X)
    return np.asarray(model.predict_scores(X))


def _attack(task: str, class_names: tuple[str, ...], raw: np.ndarray) -> np.ndarray:
    return attack_scores(raw, class_names=class_names) if task == "multiclass" else raw


@dataclass(frozen=True)
class FittedDetector:
    """A trained model with everything needed to score and report honestly.

    Attributes
    ----------
    model : FlowMLP or GBTModel
    kind : {"mlp", "gbt"}
    task : {"binary", "multiclass"}
    class_names : tuple of str
        Label map: output index -> name (``("BENIGN", "attack")`` or the global family list).
    threshold : float
        Attack-score threshold picked on the validation split.
    threshold_method : str
    known_labels : tuple of str
        Canonical labels present in the training split (per-label rows in reports).
    train_losses : tuple of float
        Per-epoch mean training loss (empty for trees and DP runs that do not report it).
    train_seconds : float
    privacy : dict or None
        ``PrivacySpent.to_dict()`` for a DP-SGD model; None for non-private training.
    privacy_config : dict or None
        The :class:`PrivacyConfig` a DP-SGD run actually trained with (optimiser, learning rate,
        schedule, epochs, expected batch size); None for non-private training.
    """

    model: Any
    kind: str
    task: str
    class_names: tuple[str, ...]
    threshold: float
    threshold_method: str
    known_labels: tuple[str, ...]
    train_losses: tuple[float, ...] = ()
    train_seconds: float = 0.0
    privacy: dict[str, Any] | None = None
    privacy_config: dict[str, Any] | None = None

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """Raw model output for transformed rows ``X``."""
        return raw_scores(self.model, X)


def _fit_model(
    data: PreparedData, cfg: TrainConfig, privacy: PrivacyConfig | None, gen: np.random.Generator
) -> tuple[Any, tuple[float, ...], dict[str, Any] | None]:
    if privacy is not None:
        if cfg.model != "mlp":
            raise ConfigError(f"DP-SGD trains the MLP only; got --model {cfg.model!r} with --dp; use --model mlp.")
        # Imported here: the DP engine is optional for everything else this module does.
        from privids.privacy.dp_sgd import train_mlp_dp

        result = train_mlp_dp(data, cfg, privacy, rng=gen)
        losses = tuple(float(v) for v in result.losses)
        return result.model, losses, result.spent.to_dict()
    if cfg.model == "mlp":
        model, losses = train_mlp_history(data, cfg, rng=gen)
        return model, tuple(losses), None
    return get_trainer(cfg.model)(data, cfg, rng=gen), (), None


def _check_two_classes(train: SplitView, *, multiclass: bool) -> None:
    # One class leaves nothing to separate: the model learns a constant, the threshold is
    # arbitrary and the test "F1" only restates the class balance (no false alarm is possible).
    # A family head only needs two families (attack-only captures can still tell DDoS from XSS).
    found = sorted(set(map(str, train.families if multiclass else train.labels)))
    if multiclass:
        if len(found) < 2:
            raise DataError(f"a multi-class head needs at least two families in the training split; got "
                            f"{len(train)} rows of {found} only. Add flows of other families to --data, "
                            "or train a binary head on data with benign and attack flows.")
        return
    if np.unique(train.y).size < 2:
        missing = "BENIGN" if len(train) and int(train.y[0]) == 1 else "attack"
        shown = found[:8] + (["..."] if len(found) > 8 else [])
        raise DataError(f"the training split needs both benign and attack flows; got {len(train)} rows with "
                        f"labels {shown} and no {missing} flows. Add files with {missing} flows to --data "
                        "(e.g. a benign day next to the attack capture).")


def train_detector(
    data: PreparedData, cfg: TrainConfig, *, privacy: PrivacyConfig | None = None, rng: RandomLike
) -> FittedDetector:
    """Train ``cfg.model`` on ``data.train`` and choose its threshold on ``data.val``.

    Parameters
    ----------
    data : PreparedData
    cfg : TrainConfig
        Model kind, head (binary / multi-class), optimiser settings, threshold rule.
    privacy : PrivacyConfig or None, default=None
        When given, the MLP is trained with DP-SGD (``privids.privacy.dp_sgd.train_mlp_dp``) and
        the budget spent is recorded.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    FittedDetector

    Raises
    ------
    ConfigError
        Unknown model, or ``privacy`` with a non-MLP model.
    DataError
        A training split with one class only: all attack or all benign for a binary head, a
        single family for a multi-class one.

    Notes
    -----
    The test split is not touched here; the threshold comes from validation only.
    """
    _check_two_classes(data.train, multiclass=cfg.multiclass)
    gen = as_generator(rng)
    start = time.perf_counter()
    model, losses, spent = _fit_model(data, cfg, privacy, gen)
    seconds = time.perf_counter() - start
    task = "multiclass" if cfg.multiclass else "binary"
    class_names = tuple(data.family_names) if cfg.multiclass else BINARY_CLASSES
    val_scores = _attack(task, class_names, raw_scores(model, data.val.X))
    threshold = choose_threshold(data.val.y, val_scores, method=cfg.threshold, target_fpr=cfg.target_fpr)
    return FittedDetector(
        model=model,
        kind=cfg.model,
        task=task,
        class_names=class_names,
        threshold=threshold,
        threshold_method=cfg.threshold if cfg.threshold == "f1" else f"fpr<={cfg.target_fpr}",
        known_labels=tuple(sorted(set(map(str, data.train.labels)))),
        train_losses=losses,
        train_seconds=seconds,
        privacy=spent,
        # DP-SGD ignores TrainConfig's optimiser settings: record the ones that ran.
        privacy_config=config_to_dict(privacy) if privacy is not None else None,
    )


def evaluate_detector(detector: Detector, split: SplitView) -> dict[str, Any]:
    """Binary report (and, for a multi-class head, the multi-class report) on one split.

    Parameters
    ----------
    detector : FittedDetector or ModelArtifact
        Supplies scores, the stored threshold and the label map.
    split : SplitView
        Rows already transformed with the detector's own fitted transform.

    Returns
    -------
    dict
        ``{"binary": binary_report(...), "multiclass": multiclass_report(...) or None}``.
    """
    raw = detector.predict_scores(split.X)
    scores = _attack(detector.task, detector.class_names, raw)
    out: dict[str, Any] = {
        "binary": binary_report(
            split.y, scores, threshold=detector.threshold, labels=split.labels, known_labels=detector.known_labels
        ),
        "multiclass": None,
    }
    if detector.task == "multiclass":
        families = np.asarray(split.families).astype(str)
        known = np.isin(families, detector.class_names)
        report = multiclass_report(families[known], raw[known], class_names=detector.class_names)
        # A family the model never saw has no output column; it is counted, not silently mapped.
        report["unknown_families"] = {str(f): int((families == f).sum()) for f in sorted(set(families[~known]))}
        out["multiclass"] = report
    return out
