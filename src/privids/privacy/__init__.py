"""privids.privacy: DP-SGD over Opacus with exact accounting, and the privacy/utility trade-off."""

from privids.privacy.accounting import (
    ACCOUNTANTS,
    PrivacySpent,
    check_delta,
    default_delta,
    epsilon_for,
    noise_for_epsilon,
)
from privids.privacy.dp_sgd import DPFitResult, TensorRows, dp_fit, train_mlp_dp
from privids.privacy.poisson import PoissonBatches, poisson_indices
from privids.privacy.recipes import TUNED_EPSILON_1, tuned_privacy
from privids.privacy.tradeoff import TradeoffPoint, TradeoffResult, detection_metrics, f1_threshold, run_tradeoff
from privids.privacy.tradeoff_plot import plot_tradeoff
from privids.privacy.validation import ValidatedModel, linear_only, validate_model

from privids.privacy.ledger import Composed, PrivacyLedger, Release, compose

__all__ = [
    "ACCOUNTANTS",
    "Composed",
    "DPFitResult",
    "PoissonBatches",
    "PrivacyLedger",
    "PrivacySpent",
    "Release",
    "TUNED_EPSILON_1",
    "TensorRows",
    "TradeoffPoint",
    "TradeoffResult",
    "ValidatedModel",
    "check_delta",
    "compose",
    "default_delta",
    "detection_metrics",
    "dp_fit",
    "epsilon_for",
    "f1_threshold",
    "linear_only",
    "noise_for_epsilon",
    "plot_tradeoff",
    "poisson_indices",
    "run_tradeoff",
    "train_mlp_dp",
    "tuned_privacy",
    "validate_model",
]
