"""Shared fixtures: seeded synthetic flows with a known signal, and paths to ../shared."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import torch  # noqa: E402

from privids.data.dataset import PreparedData, SplitView  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PRIVIDS_SHARED", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"
CASES = SHARED / "cases"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, skipping the test cleanly when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared input not available: {p}")
    return p


@dataclass(frozen=True)
class IdentityTransform:
    """Stand-in for the fitted scaler in tests that build arrays directly."""

    feature_names: tuple[str, ...]

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "identity", "feature_names": list(self.feature_names)}


_FAMILIES = ("BENIGN", "DDoS", "PortScan", "Web Attack")


def make_synthetic(n: int = 600, n_features: int = 8, seed: int = 0, attack_share: float = 0.3) -> PreparedData:
    """Seeded, separable flows: attacks shift the first features by family-specific offsets."""
    rng = np.random.default_rng(seed)

    def split(m: int) -> SplitView:
        fam_idx = np.where(rng.random(m) < attack_share, rng.integers(1, len(_FAMILIES), m), 0)
        X = rng.normal(size=(m, n_features)).astype(np.float32)
        X[:, 0] += 3.0 * (fam_idx > 0)
        X[:, 1] += 1.5 * fam_idx
        fams = np.array(_FAMILIES, dtype=object)[fam_idx]
        return SplitView(X=X, y=(fam_idx > 0).astype(np.int64), labels=fams.copy(), families=fams)

    names = tuple(f"f{i}" for i in range(n_features))
    return PreparedData(
        train=split(int(n * 0.7)),
        val=split(int(n * 0.15)),
        test=split(int(n * 0.15)),
        feature_names=names,
        transform=IdentityTransform(names),
        family_names=tuple(sorted(_FAMILIES)),
        fingerprint=f"synthetic-{seed}",
        synthetic=True,
    )


@pytest.fixture
def synthetic_data() -> PreparedData:
    """600 seeded flows, 8 features, 30% attacks in three families."""
    return make_synthetic()
