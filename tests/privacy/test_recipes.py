"""The tuned DP recipe: a valid config, scaled to small training splits, overridable."""

from __future__ import annotations

import pytest

from privids.config import PrivacyConfig
from privids.privacy.recipes import TUNED_EPSILON_1, tuned_privacy


def test_recipe_targets_epsilon_one_with_cosine_schedule() -> None:
    assert isinstance(TUNED_EPSILON_1, PrivacyConfig)
    assert TUNED_EPSILON_1.target_epsilon == 1.0 and TUNED_EPSILON_1.lr_schedule == "cosine"
    assert TUNED_EPSILON_1.accountant == "prv"


@pytest.mark.parametrize(("n", "batch"), [(None, 2048), (12_295, 2048), (900, 150), (3, 1)], ids=["none", "real", "small", "tiny"])
def test_recipe_batch_never_exceeds_a_sixth_of_the_data(n: int | None, batch: int) -> None:
    assert tuned_privacy(n).batch_size == batch


def test_recipe_overrides_apply_last() -> None:
    cfg = tuned_privacy(900, batch_size=64, target_epsilon=4.0)
    assert (cfg.batch_size, cfg.target_epsilon, cfg.epochs) == (64, 4.0, TUNED_EPSILON_1.epochs)
