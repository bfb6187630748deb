"""Centralised detectors: the reference FlowMLP, its training loop, LightGBM, and scoring."""

from privids.models.gbt import GBTModel, train_gbt
from privids.models.mlp import FlowMLP, build_mlp
from privids.models.predict import predict_scores
from privids.models.registry import get_trainer, register_trainer, trainer_names
from privids.models.train import OPTIMIZERS, fit_mlp, init_mlp, mlp_targets, train_mlp, train_mlp_history

__all__ = [
    "FlowMLP",
    "GBTModel",
    "OPTIMIZERS",
    "build_mlp",
    "fit_mlp",
    "get_trainer",
    "init_mlp",
    "mlp_targets",
    "predict_scores",
    "register_trainer",
    "train_gbt",
    "train_mlp",
    "train_mlp_history",
    "trainer_names",
]
