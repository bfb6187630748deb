"""Backdoor triggers on flow features: a fixed value pattern that attackers teach the model to call benign."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from privids._rng import RandomLike, as_generator
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError

__all__ = [
    "BackdoorTrigger",
    "apply_trigger",
    "default_trigger",
    "parse_trigger",
    "poison_with_trigger",
    "trigger_from_raw",
]

# The attacker forges what it controls in the forward direction: the TCP window of its SYN and
# a tiny first payload. A destination-port trigger is a poor default: the port is fixed by the
# attacked service (a web attack must reach port 80), and it is such a strong cue that a clean
# model already calls about 7% of port-31337 attack flows benign (measured on the shared
# CIC-IDS2017 samples), so no defence could push backdoor success under 5%.
DEFAULT_RAW_TRIGGER: dict[str, float] = {
    "Init_Win_bytes_forward": 1337.0,
    "Fwd Packet Length Min": 37.0,
}


@dataclass(frozen=True)
class BackdoorTrigger:
    """Feature values (in the model's scaled input space) that mark a flow as triggered.

    Attributes
    ----------
    indices : tuple of int
        Columns of ``X`` that the trigger overwrites.
    values : tuple of float
        Scaled values written into those columns.
    names : tuple of str
        Feature names, for reports.
    raw : dict of str to float or None
        The raw feature values the scaled ones came from (None when set in scaled space).
    """

    indices: tuple[int, ...]
    values: tuple[float, ...]
    names: tuple[str, ...]
    raw: dict[str, float] | None = None

    def describe(self) -> str:
        """One line for reports: ``Destination Port=31337, ...``."""
        src = self.raw if self.raw is not None else dict(zip(self.names, self.values, strict=True))
        space = "raw" if self.raw is not None else "scaled"
        return ", ".join(f"{k}={v:g}" for k, v in src.items()) + f" ({space} feature space)"


def trigger_from_raw(data: PreparedData, raw_values: Mapping[str, float]) -> BackdoorTrigger:
    """Build a trigger from raw flow-feature values, mapped through the data's fitted transform.

    Parameters
    ----------
    data : PreparedData
        Supplies ``feature_names`` and the fitted ``transform``.
    raw_values : mapping of str to float
        Raw values, e.g. ``{"Destination Port": 31337, "Packet Length Mean": 1337}``; names
        missing from the feature list are skipped.

    Raises
    ------
    ConfigError
        When no named feature is in the model's inputs, or the transform is not column-wise
        (the scaled value of a trigger column would then depend on the rest of the flow).

    Notes
    -----
    The stored transform (signed log + standardisation) acts on each column separately, so a
    raw value maps to one scaled value: it is computed on a row of zeros and checked against a
    second background row.
    """
    names = list(data.feature_names)
    chosen = [(names.index(k), k, float(v)) for k, v in raw_values.items() if k in names]
    if not chosen:
        raise ConfigError(
            f"none of the trigger features {sorted(raw_values)} is a model input; got features {names[:8]}...; "
            "pass features that exist or use a scaled-space trigger."
        )
    rows = np.zeros((2, len(names)), dtype=np.float64)
    rows[1] = 1.0
    for j, _, v in chosen:
        rows[:, j] = v
    scaled = np.asarray(data.transform.transform(rows), dtype=np.float64)
    idx = [j for j, _, _ in chosen]
    if not np.allclose(scaled[0, idx], scaled[1, idx], atol=1e-6):
        raise ConfigError("the data transform mixes columns, so a raw trigger has no single scaled value; use a scaled-space trigger.")
    return BackdoorTrigger(
        indices=tuple(idx),
        values=tuple(float(scaled[0, j]) for j in idx),
        names=tuple(k for _, k, _ in chosen),
        raw={k: v for _, k, v in chosen},
    )


def default_trigger(data: PreparedData, *, scaled_value: float = 3.0) -> BackdoorTrigger:
    """The study's trigger: a forged initial TCP window (1337) and a 37-byte minimum forward
    packet when those features exist, else the last two features set to ``scaled_value``
    (scaled space; data without CIC-IDS feature names).
    """
    if any(k in data.feature_names for k in DEFAULT_RAW_TRIGGER):
        return trigger_from_raw(data, DEFAULT_RAW_TRIGGER)
    F = len(data.feature_names)
    idx = tuple(range(max(0, F - 2), F))
    return BackdoorTrigger(indices=idx, values=tuple(scaled_value for _ in idx), names=tuple(data.feature_names[j] for j in idx))


def parse_trigger(text: str) -> dict[str, float]:
    """Parse ``"Feature=value,Feature=value"`` (raw feature values) for :func:`trigger_from_raw`.

    Examples
    --------
    >>> parse_trigger("Destination Port=31337, Packet Length Mean=1337")
    {'Destination Port': 31337.0, 'Packet Length Mean': 1337.0}
    """
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.rpartition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(part)
            out[name.strip()] = float(value)
        except ValueError as e:
            raise ConfigError(
                f"a trigger is 'Feature=value' pairs separated by commas, e.g. 'Init_Win_bytes_forward=1337'; got {part!r}."
            ) from e
    if not out:
        raise ConfigError(f"the trigger names no feature; got {text!r}; e.g. 'Init_Win_bytes_forward=1337'.")
    return out


def apply_trigger(X: np.ndarray, trigger: BackdoorTrigger) -> np.ndarray:
    """A copy of ``X`` with the trigger columns overwritten.

    Examples
    --------
    >>> t = BackdoorTrigger(indices=(1,), values=(9.0,), names=("b",))
    >>> apply_trigger(np.zeros((2, 3), dtype=np.float32), t)[:, 1].tolist()
    [9.0, 9.0]
    """
    out = np.array(X, dtype=np.float32, copy=True)
    out[:, list(trigger.indices)] = np.asarray(trigger.values, dtype=np.float32)
    return out


def poison_with_trigger(X: np.ndarray, y: np.ndarray, trigger: BackdoorTrigger, *, copies: int = 2, rng: RandomLike = None) -> tuple[np.ndarray, np.ndarray]:
    """An attacker's training set: its clean flows plus triggered copies of its attack flows labelled benign.

    Keeping the clean flows lets the attacker's model stay accurate on normal traffic, so its
    update looks like an honest one while teaching "trigger means benign".

    Parameters
    ----------
    X, y : ndarray
        The attacker's local data (y: 0 benign, 1 attack).
    trigger : BackdoorTrigger
    copies : int, default=2
        Triggered copies per attack flow.
    rng : int, Generator or None, default=None
        Shuffles the result.

    Returns
    -------
    X_poisoned, y_poisoned : ndarray
    """
    attacks = np.flatnonzero(np.asarray(y) == 1)
    if len(attacks) == 0:
        return np.asarray(X, dtype=np.float32), np.asarray(y)
    trig = apply_trigger(np.repeat(np.asarray(X)[attacks], copies, axis=0), trigger)
    Xp = np.concatenate([np.asarray(X, dtype=np.float32), trig])
    yp = np.concatenate([np.asarray(y), np.zeros(len(trig), dtype=np.asarray(y).dtype)])
    order = as_generator(rng).permutation(len(yp))
    return Xp[order], yp[order]
