"""Tests for privids.config."""

from __future__ import annotations

import dataclasses

import pytest

from privids.config import (
    STUDY_FEDERATED,
    STUDY_PRIVACY,
    DataConfig,
    FederatedConfig,
    PrivacyConfig,
    RunConfig,
    load_run_config,
)
from privids.exceptions import ConfigError


def test_defaults_are_the_reference_design():
    cfg = load_run_config()
    assert cfg == RunConfig()
    assert cfg.data.fractions == (0.70, 0.15, 0.15)
    assert cfg.data.seed == 42
    ref = PrivacyConfig()  # the reference notebook's DP-SGD run
    assert (ref.noise_multiplier, ref.max_grad_norm, ref.lr, ref.batch_size, ref.epochs) == (1.1, 1.0, 0.01, 256, 5)
    assert cfg.privacy == STUDY_PRIVACY and cfg.federated == STUDY_FEDERATED


def test_a_partial_toml_section_keeps_the_other_study_settings(tmp_path):
    """Regression: [privacy] epochs = 3 must not reset the study's tuned batch/lr to class defaults."""
    p = tmp_path / "study.toml"
    p.write_text("[privacy]\nepochs = 3\n[federated]\nrounds = 2\n")
    cfg = load_run_config(p)
    assert cfg.privacy == dataclasses.replace(STUDY_PRIVACY, epochs=3)
    assert cfg.federated == dataclasses.replace(STUDY_FEDERATED, rounds=2)


def test_toml_sections_override_defaults(tmp_path):
    p = tmp_path / "study.toml"
    p.write_text('seed = 7\n[train]\nepochs = 2\nhidden = [32, 16]\n[federated]\npartition = "dirichlet:0.3"\n')
    cfg = load_run_config(p)
    assert cfg.seed == 7
    assert cfg.train.epochs == 2 and cfg.train.hidden == (32, 16)
    assert cfg.federated.partition == "dirichlet:0.3"


def test_unknown_key_names_the_allowed_keys(tmp_path):
    p = tmp_path / "study.toml"
    p.write_text("[train]\nepoch = 2\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[train\]: \['epoch'\]"):
        load_run_config(p)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: DataConfig(nonfinite="zero"), "data.nonfinite must be one of"),
        (lambda: DataConfig(fractions=(0.5, 0.5, 0.5)), "summing to 1"),
        (lambda: PrivacyConfig(accountant="gdp"), "privacy.accountant must be one of"),
        (lambda: PrivacyConfig(noise_multiplier=None), "needs noise_multiplier or target_epsilon"),
        (lambda: FederatedConfig(partition="dirichlet"), "needs an alpha"),
    ],
    ids=["nonfinite", "fractions", "accountant", "no-noise", "dirichlet-alpha"],
)
def test_invalid_values_are_refused(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()
