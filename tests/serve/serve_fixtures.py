"""Real, tiny model artifacts trained on the shared samples (built once per session).

Imported by the test modules of tests/serve (a conftest here would shadow tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import shared_path

torch.set_num_threads(1)

PORTSCAN = ("data", "cicids2017", "machinelearningcve", "friday_portscan_sample_pecord.csv")
MULTICLASS = ("data", "cicids2017", "machinelearningcve_reserialized", "multiclass_1000_mahdieslaminet.csv")


def build_artifact(source: Path, out: Path, *, dp: bool, multiclass: bool = False, gbt: bool = False) -> Path:
    """prepare_data -> train_detector -> save_detector, with settings small enough for seconds."""
    from privids.artifacts import save_detector
    from privids.config import DataConfig, PrivacyConfig, TrainConfig
    from privids.evaluation.detectors import train_detector
    from privids.features import prepare_data

    data = prepare_data(source, DataConfig(), rng=0)
    cfg = TrainConfig(model="gbt" if gbt else "mlp", epochs=3, batch_size=64, hidden=(16, 16), multiclass=multiclass,
                      gbt_estimators=20, gbt_leaves=7)
    privacy = PrivacyConfig(target_epsilon=2.0, batch_size=128, epochs=2, lr=0.1) if dp else None
    det = train_detector(data, cfg, privacy=privacy, rng=0)
    return save_detector(out, det, data, train_cfg=cfg)


# Each importing module gets its own fixture definition; this keeps one build per session.
_BUILT: dict[str, Path] = {}


def _once(name: str, factory: pytest.TempPathFactory, parts: tuple[str, ...], **kw: bool) -> Path:
    if name not in _BUILT:
        _BUILT[name] = build_artifact(shared_path(*parts), factory.mktemp(name), **kw)
    return _BUILT[name]


@pytest.fixture(scope="session")
def dp_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Binary DP-SGD MLP (target epsilon 2) on the real PortScan sample."""
    return _once("dp-art", tmp_path_factory, PORTSCAN, dp=True)


@pytest.fixture(scope="session")
def multiclass_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Non-private multi-class MLP on the real mixed CIC-IDS2017 sample."""
    return _once("mc-art", tmp_path_factory, MULTICLASS, dp=False, multiclass=True)


@pytest.fixture(scope="session")
def gbt_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Non-private LightGBM model (20 small trees) on the real PortScan sample."""
    return _once("gbt-art", tmp_path_factory, PORTSCAN, dp=False, gbt=True)
