"""Backdoor triggers: raw values through the stored transform, application, poisoned sets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from conftest import make_synthetic
from privids.attacks.backdoor import (
    BackdoorTrigger,
    apply_trigger,
    default_trigger,
    parse_trigger,
    poison_with_trigger,
    trigger_from_raw,
)
from privids.exceptions import ConfigError


@dataclass(frozen=True)
class _Standardise:
    """Column-wise signed log then z-score, the shape of the real stored transform."""

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z = np.sign(X) * np.log1p(np.abs(X))
        return ((Z - self.mean) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class _Mixing:
    feature_names: tuple[str, ...]

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - X.mean(axis=1, keepdims=True)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {}


NAMES = ("Init_Win_bytes_forward", "Destination Port", "Packet Length Mean", "Fwd Packet Length Min")


def _data(transform: Any):  # type: ignore[no-untyped-def]
    base = make_synthetic(n=60, n_features=4)
    return replace(base, feature_names=NAMES, transform=transform)


def test_trigger_from_raw_matches_hand_transform() -> None:
    # Arrange
    t = _Standardise(NAMES, mean=np.array([1.0, 2.0, 3.0, 4.0]), scale=np.array([2.0, 4.0, 1.0, 0.5]))
    data = _data(t)
    # Act
    trig = trigger_from_raw(data, {"Destination Port": 31337, "Packet Length Mean": 1337, "Not A Feature": 1})
    # Assert
    assert trig.indices == (1, 2) and trig.names == ("Destination Port", "Packet Length Mean")
    assert trig.values[0] == pytest.approx((np.log1p(31337) - 2.0) / 4.0, rel=1e-6)
    assert trig.values[1] == pytest.approx((np.log1p(1337) - 3.0) / 1.0, rel=1e-6)
    assert "Destination Port=31337" in trig.describe() and "raw feature space" in trig.describe()


def test_default_trigger_uses_forward_window_and_packet_length_when_present() -> None:
    t = _Standardise(NAMES, mean=np.zeros(4), scale=np.ones(4))
    trig = default_trigger(_data(t))
    assert trig.names == ("Init_Win_bytes_forward", "Fwd Packet Length Min") and trig.indices == (0, 3)
    assert trig.raw == {"Init_Win_bytes_forward": 1337.0, "Fwd Packet Length Min": 37.0}
    assert trig.values[1] == pytest.approx(np.log1p(37.0), rel=1e-6)


def test_default_trigger_on_synthetic_is_scaled_space() -> None:
    trig = default_trigger(make_synthetic(n=60))
    assert trig.indices == (6, 7) and trig.values == (3.0, 3.0) and trig.raw is None
    assert "scaled feature space" in trig.describe()


def test_trigger_refuses_mixing_transform_and_unknown_features() -> None:
    with pytest.raises(ConfigError, match="mixes columns"):
        trigger_from_raw(_data(_Mixing(NAMES)), {"Destination Port": 1})
    with pytest.raises(ConfigError, match="none of the trigger features"):
        trigger_from_raw(_data(_Mixing(NAMES)), {"Bwd IAT Min": 1})


def test_apply_trigger_copies_and_overwrites_only_trigger_columns() -> None:
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    trig = BackdoorTrigger(indices=(0, 3), values=(1.5, -2.0), names=("a", "d"))
    out = apply_trigger(X, trig)
    assert np.all(out[:, 0] == 1.5) and np.all(out[:, 3] == -2.0)
    np.testing.assert_array_equal(out[:, 1:3], X[:, 1:3])
    assert not np.all(X[:, 0] == 1.5)  # input untouched


def test_poison_with_trigger_without_attack_flows_is_a_no_op() -> None:
    X = np.zeros((3, 2), dtype=np.float32)
    trig = BackdoorTrigger(indices=(0,), values=(1.0,), names=("a",))
    Xp, yp = poison_with_trigger(X, np.zeros(3, dtype=np.int64), trig, rng=0)
    assert len(yp) == 3 and not np.any(Xp == 1.0)


def test_parse_trigger_and_its_errors() -> None:
    assert parse_trigger("Init_Win_bytes_forward=1337,Fwd Packet Length Min = 37") == {
        "Init_Win_bytes_forward": 1337.0, "Fwd Packet Length Min": 37.0}
    with pytest.raises(ConfigError, match="'Feature=value' pairs"):
        parse_trigger("Destination Port:80")
    with pytest.raises(ConfigError, match="'Feature=value' pairs"):
        parse_trigger("Destination Port=http")
    with pytest.raises(ConfigError, match="names no feature"):
        parse_trigger(" , ")
