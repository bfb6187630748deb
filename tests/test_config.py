"""Tests for privids.config."""

from __future__ import annotations

import pytest

from privids.config import DataConfig, FederatedConfig, PrivacyConfig, RunConfig, load_run_config
from privids.exceptions import ConfigError


def test_defaults_are_the_reference_design():
    cfg = load_run_config()
    assert cfg == RunConfig()
    assert cfg.data.fractions == (0.70, 0.15, 0.15)
    assert cfg.data.seed == 42
    assert cfg.privacy.noise_multiplier == 1.1
    assert cfg.privacy.max_grad_norm == 1.0


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
