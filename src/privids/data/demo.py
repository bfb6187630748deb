"""Synthetic CIC-IDS2017-shaped demo flows drawn from committed per-class statistics.

The statistics (``demo_stats.json``, built by ``tools/build_demo_stats.py`` from the real
samples) hold numbers only: 21 quantiles per feature and class plus a low-rank Gaussian-copula
factor model of the feature correlations. No captured flow is shipped or reproduced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from privids._rng import RandomLike, as_generator
from privids.exceptions import ConfigError

__all__ = [
    "CLASS_DAYS",
    "CLASS_MIX",
    "DEMO_TAG",
    "DemoFlows",
    "demo_class_counts",
    "generate_demo_flows",
    "load_demo_stats",
    "sample_class_features",
]

DEMO_TAG = "SYNTHETIC-demo"

# Share of each class in the demo. The full dataset is ~80 % BENIGN with some classes of a few
# dozen flows; here the rare families are over-represented so that every effect in the study
# (per-family recall, poisoning, membership inference) has enough rows to be visible.
CLASS_MIX: dict[str, float] = {
    "BENIGN": 0.705,
    "DoS Hulk": 0.06,
    "DDoS": 0.05,
    "PortScan": 0.05,
    "FTP-Patator": 0.02,
    "DoS GoldenEye": 0.015,
    "SSH-Patator": 0.015,
    "Bot": 0.015,
    "DoS slowloris": 0.01,
    "DoS Slowhttptest": 0.01,
    "Web Attack - Brute Force": 0.01,
    "Web Attack - XSS": 0.008,
    "Web Attack - Sql Injection": 0.004,
    "Infiltration": 0.004,
    "Heartbleed": 0.004,
}

# Capture day of every attack in CIC-IDS2017 (Sharafaldin et al., ICISSP 2018, Table 2).
CLASS_DAYS: dict[str, str] = {
    "FTP-Patator": "tuesday",
    "SSH-Patator": "tuesday",
    "DoS Hulk": "wednesday",
    "DoS GoldenEye": "wednesday",
    "DoS slowloris": "wednesday",
    "DoS Slowhttptest": "wednesday",
    "Heartbleed": "wednesday",
    "Web Attack - Brute Force": "thursday",
    "Web Attack - XSS": "thursday",
    "Web Attack - Sql Injection": "thursday",
    "Infiltration": "thursday",
    "Bot": "friday",
    "PortScan": "friday",
    "DDoS": "friday",
}

# BENIGN flows per day in the full MachineLearningCVE files (rounded), so that benign traffic is
# spread over the week as in the capture.
_BENIGN_DAY_WEIGHTS: dict[str, float] = {
    "monday": 530_000,
    "tuesday": 432_000,
    "wednesday": 440_000,
    "thursday": 457_000,
    "friday": 414_000,
}

_RATE_COLUMNS = ("Flow Bytes/s", "Flow Packets/s")


@dataclass(frozen=True)
class DemoFlows:
    """Generated demo flows, marked synthetic everywhere they go.

    Attributes
    ----------
    frame : pandas.DataFrame
        The 79 MachineLearningCVE columns under their raw names (leading spaces, ``Fwd Header
        Length`` twice, `` Label`` last); rate columns hold ``inf`` where the real data has
        ``Infinity``.
    day : ndarray of str
        Capture day of each row, lower case as the loader reports it (``"monday"`` ... ``"friday"``).
    paths : tuple of Path
        CSV files written (empty when no ``path`` was given).
    synthetic : bool
        Always True; the report and console show a banner from it.
    """

    frame: pd.DataFrame
    day: np.ndarray
    paths: tuple[Path, ...] = field(default_factory=tuple)
    synthetic: bool = True

    @property
    def labels(self) -> np.ndarray:
        """The label column as a str array."""
        return self.frame.iloc[:, -1].to_numpy(dtype=str)

    def __len__(self) -> int:
        return len(self.frame)


def load_demo_stats() -> dict[str, Any]:
    """Read the committed per-class statistics (``privids/data/demo_stats.json``).

    Returns
    -------
    dict
        ``raw_header``, ``features`` (77 unique stripped names), ``probabilities`` (21 levels),
        and ``classes``: per label ``quantiles`` (a list per feature, or one number for a
        constant feature), ``integer`` flags, ``negative_share`` (feature index -> share of
        negative cells), copula ``loadings`` (features x factors), ``rows`` and ``source``.
    """
    text = resources.files("privids.data").joinpath("demo_stats.json").read_text(encoding="utf-8")
    return json.loads(text)


def demo_class_counts(n: int, *, min_per_class: int = 10) -> dict[str, int]:
    """Rows per class for ``n`` demo flows: :data:`CLASS_MIX` with a floor for rare classes.

    Parameters
    ----------
    n : int
        Total number of flows.
    min_per_class : int, default=10
        Every attack class gets at least this many rows (BENIGN absorbs the difference).

    Raises
    ------
    ConfigError
        When ``n`` is too small to hold the floor for every class.

    Examples
    --------
    >>> counts = demo_class_counts(1000)
    >>> sum(counts.values()), counts["BENIGN"] > counts["DDoS"] >= 10
    (1000, True)
    """
    attacks = [c for c in CLASS_MIX if c != "BENIGN"]
    need = min_per_class * (len(attacks) + 1)
    if n < need:
        raise ConfigError(f"demo n must be at least {need} to hold {min_per_class} rows per class; got n={n}; pass a larger n.")
    counts = {c: max(min_per_class, int(round(CLASS_MIX[c] * n))) for c in attacks}
    counts = {"BENIGN": n - sum(counts.values()), **counts}
    return counts


def _quantile_function(knots: list[float], probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    # Interpolating in signed-log space keeps heavy tails heavy between the 95 % and 100 % knots.
    k = np.asarray(knots, dtype=np.float64)
    t = np.sign(k) * np.log1p(np.abs(k))
    v = np.interp(u, probs, t)
    return np.sign(v) * np.expm1(np.abs(v))


def sample_class_features(entry: dict[str, Any], m: int, *, probabilities: list[float], rng: RandomLike) -> np.ndarray:
    """Draw ``m`` flows of one class from its Gaussian copula and marginal quantile functions.

    Parameters
    ----------
    entry : dict
        One class of :func:`load_demo_stats` (``quantiles``, ``integer``, ``loadings``).
    m : int
        Number of rows.
    probabilities : list of float
        The probability level of each quantile knot.
    rng : int, Generator or None

    Returns
    -------
    ndarray of float64, shape (m, n_features)
        Each column follows the stored marginal (medians match the stored median knot);
        columns are dependent through the factor model ``Z = F L^T + sqrt(1 - diag(L L^T)) E``.
    """
    gen = as_generator(rng)
    loadings = np.asarray(entry["loadings"], dtype=np.float64)
    n_feat, n_fac = loadings.shape
    resid = np.sqrt(np.clip(1.0 - (loadings**2).sum(axis=1), 0.0, 1.0))
    z = gen.standard_normal((m, n_fac)) @ loadings.T + gen.standard_normal((m, n_feat)) * resid
    u = special.ndtr(z)
    probs = np.asarray(probabilities, dtype=np.float64)
    out = np.empty((m, n_feat), dtype=np.float64)
    negative = {int(k): float(v) for k, v in entry.get("negative_share", {}).items()}
    for j, (knots, is_int) in enumerate(zip(entry["quantiles"], entry["integer"], strict=True)):
        if not isinstance(knots, list):
            col = np.full(m, float(knots))
        elif j in negative:
            # Negative cells are sentinels (Init_Win -1) or rare capture errors: a point mass at the
            # minimum with the observed share; interpolating through zero would invent many more.
            share = negative[j]
            col = _quantile_function([max(k, 0.0) for k in knots], probs, u[:, j])
            col[u[:, j] < share] = knots[0]
        else:
            col = _quantile_function(knots, probs, u[:, j])
        out[:, j] = np.round(col) if is_int else col
    return out


def _day_of_rows(labels: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    days = np.empty(len(labels), dtype=object)
    benign = labels == "BENIGN"
    names = list(_BENIGN_DAY_WEIGHTS)
    w = np.array([_BENIGN_DAY_WEIGHTS[d] for d in names], dtype=np.float64)
    days[benign] = gen.choice(names, size=int(benign.sum()), p=w / w.sum())
    for i in np.flatnonzero(~benign):
        days[i] = CLASS_DAYS[labels[i]]
    return days.astype(str)


def _write(frame: pd.DataFrame, day: np.ndarray, path: Path) -> tuple[Path, ...]:
    # The real files spell non-finite rates "Infinity"; no other cell is NaN, so na_rep is safe.
    out = frame.replace([np.inf, -np.inf], np.nan)
    if path.suffix.lower() == ".csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(path, index=False, na_rep="Infinity")
        return (path,)
    path.mkdir(parents=True, exist_ok=True)
    written = []
    # One file per capture day, named like the originals so the loader recovers the day.
    for d in _BENIGN_DAY_WEIGHTS:
        mask = day == d
        if not mask.any():
            continue
        target = path / f"{d.capitalize()}-WorkingHours.{DEMO_TAG}.csv"
        out[mask].to_csv(target, index=False, na_rep="Infinity")
        written.append(target)
    return tuple(written)


def generate_demo_flows(n: int = 20_000, *, rng: RandomLike, path: str | Path | None = None) -> DemoFlows:
    """Generate ``n`` synthetic flows in the raw CIC-IDS2017 MachineLearningCVE layout.

    Why: a newcomer can run the whole study offline in minutes, and tests get realistic,
    correlated, heavy-tailed flows without shipping captured traffic.

    Parameters
    ----------
    n : int, default=20000
        Number of flows (class mix :data:`CLASS_MIX`, at least 10 per attack class).
    rng : int, Generator or None
        Seed or generator; one seed gives identical flows.
    path : str, Path or None, default=None
        Where to write. A ``.csv`` path gets one file; any other path is a folder that gets one
        file per capture day, ``<Day>-WorkingHours.SYNTHETIC-demo.csv``, whose name tells the
        loader the day. None writes nothing.

    Returns
    -------
    DemoFlows
        The table (raw header), the day of each row and the written paths.

    Notes
    -----
    Flows are sampled independently per class from the committed statistics, so the data is
    obviously synthetic: it has the real marginals and pairwise rank correlations (up to the
    factor model's rank) but none of the real sessions. Feature identities that hold in real
    traffic (e.g. ``Packet Length Variance == Std**2``) hold only approximately. A small share
    of rows carries ``Infinity`` rates, as in the originals.

    Examples
    --------
    >>> flows = generate_demo_flows(300, rng=0)
    >>> flows.frame.shape, flows.frame.columns[0], flows.synthetic
    ((300, 79), ' Destination Port', True)
    """
    gen = as_generator(rng)
    stats = load_demo_stats()
    header: list[str] = stats["raw_header"]
    features: list[str] = stats["features"]
    counts = demo_class_counts(n)
    blocks, labels = [], []
    for label, m in counts.items():
        entry = stats["classes"][label]
        X = sample_class_features(entry, m, probabilities=stats["probabilities"], rng=gen)
        rate = float(entry.get("nonfinite_rate_rate_columns", 0.0))
        hit = gen.random(m) < rate
        for col in _RATE_COLUMNS:
            X[hit, features.index(col)] = np.inf
        # Infinite rates come from zero-duration flows in the originals.
        X[hit, features.index("Flow Duration")] = 0.0
        blocks.append(X)
        labels.extend([label] * m)
    X_all = np.vstack(blocks)
    lab = np.asarray(labels, dtype=object)
    order = gen.permutation(n)
    X_all, lab = X_all[order], lab[order]
    stripped = [h.strip() for h in header]
    # Both raw "Fwd Header Length" columns map to the one stored feature, so they are identical
    # copies as in the originals.
    frame = pd.DataFrame({i: X_all[:, features.index(name)] for i, name in enumerate(stripped[:-1])})
    frame[len(header) - 1] = lab.astype(str)
    frame.columns = header
    for i, name in enumerate(stripped[:-1]):
        j = features.index(name)
        if all(stats["classes"][c]["integer"][j] for c in counts) and np.isfinite(X_all[:, j]).all():
            frame.isetitem(i, frame.iloc[:, i].astype(np.int64))
    day = _day_of_rows(lab.astype(str), gen)
    paths = _write(frame, day, Path(path)) if path is not None else ()
    return DemoFlows(frame=frame, day=day, paths=paths)
