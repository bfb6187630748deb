"""Tests for privids.report.figures: PNGs from plain numbers, no pyplot state."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from matplotlib import image as mpimg

from privids.report import figures


def _img(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(png), format="png")


def test_no_global_pyplot_figures_are_left_behind():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures.roc_figure({"a": {"fpr": [0, 0.5, 1], "tpr": [0, 0.9, 1], "auc": 0.7}})
    figures.heatmap_figure([[1.0]], rows=["r"], cols=["c"])
    assert plt.get_fignums() == before


def test_importance_figure_grows_with_the_number_of_bars():
    imp = {f"feature {i}": float(i) for i in range(20)}
    small, large = _img(figures.importance_figure(imp, top=5)), _img(figures.importance_figure(imp, top=15))
    assert large.shape[0] > small.shape[0] * 1.5


def test_heatmap_handles_missing_cells_and_uses_legible_text():
    # Arrange: one dark cell (1.0 on Blues) and one NaN cell.
    png = figures.heatmap_figure([[1.0, np.nan], [0.0, 0.5]], rows=["a", "b"], cols=["x", "y"], cmap="Blues",
                                 vmin=0, vmax=1)
    px = _img(png)[..., :3]
    # The darkest blue cell carries white digits: both very dark and pure white pixels exist.
    dark = (px.sum(axis=2) < 0.6)
    assert dark.mean() > 0.01
    assert (px.min(axis=2) > 0.97).mean() > 0.2


def test_confusion_rows_are_normalised_per_true_class():
    # A class with no rows must not divide by zero.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = figures.confusion_figure([[90, 10], [0, 0]], labels=["BENIGN", "attack"])
    assert _img(png).shape[0] > 100


def test_privacy_curve_skips_metrics_it_was_not_given():
    pts = [{"epsilon": 1.0, "f1": 0.8}, {"epsilon": 8.0, "f1": 0.9}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = figures.privacy_utility_figure(pts, metrics=("f1", "roc_auc"), baseline={"f1": 0.95})
    assert _img(png).shape[1] > 300


@pytest.mark.parametrize("log_fpr", [True, False], ids=["log", "linear"])
def test_roc_accepts_zero_fpr_points(log_fpr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = figures.roc_figure({"m": {"fpr": [0.0, 0.0, 0.1, 1.0], "tpr": [0.0, 0.8, 0.95, 1.0]}}, log_fpr=log_fpr)
    assert _img(png).std() > 0.05


def test_membership_and_rounds_and_counts_render():
    mia = figures.membership_figure({"t": {"fpr": [0, 0.01, 1], "tpr": [0, 0.02, 1], "advantage": 0.01}})
    rounds = figures.rounds_figure({"FedAvg": {"round": [1, 2, 3], "accuracy": [0.8, 0.9, 0.95]}})
    counts = figures.class_counts_figure({"BENIGN": 1000, "Heartbleed": 11})
    for png in (mia, rounds, counts):
        assert _img(png)[..., :3].std() > 0.05
