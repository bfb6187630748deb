"""The poisoning study: attack x defence x (attackers, clients) matrix of clean F1 and attack success."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from privids._rng import RandomLike, as_generator, child_seed
from privids.attacks.backdoor import BackdoorTrigger, apply_trigger, default_trigger
from privids.attacks.defences import DefenceSpec, available_defences
from privids.attacks.local_training import predict_proba
from privids.attacks.poisoned_federation import PoisonedRun, run_poisoned_federation
from privids.attacks.poisoning import available_attacks
from privids.config import FederatedConfig
from privids.data.dataset import PreparedData
from privids.exceptions import ConfigError, PrivacyError

__all__ = ["MatrixCell", "PoisoningMatrix", "run_poisoning_matrix"]

# Detections are thresholded at 0.5: the study compares aggregators, not thresholds.
_THRESHOLD = 0.5


@dataclass(frozen=True)
class MatrixCell:
    """One (setting, attack, defence) run.

    Attributes
    ----------
    attackers, clients : int
    attack, defence : str
    f1 : float
        Clean test F1 (attack = positive class); nan when the cell could not run.
    success : float
        Attack success: for ``backdoor`` the share of triggered test attack flows classified
        benign; for the other attacks the share of test flows that the clean FedAvg run
        classifies correctly and this run gets wrong ("flipped predictions"); nan for ``none``.
    triggered_benign : float
        Share of triggered attack flows classified benign (for ``none`` this is the natural
        rate a backdoor must beat).
    flipped : float
        Share of flipped predictions against the clean FedAvg run.
    attacker_suspicion, honest_suspicion : float
        Mean suspicion score of malicious / honest clients over rounds.
    top_suspect_hit_rate : float
        Share of rounds whose most suspicious client was malicious.
    malicious_ids : tuple of int
    suspicion_by_round : tuple of tuple of float
        Every client's suspicion score in every round (rows: rounds; columns: client ids).
    natural_rate : float
        ``triggered_benign`` of the clean run under the same defence: how often the trigger
        pattern alone, with no backdoor trained in, is already classified benign. A backdoor's
        own effect is ``success - natural_rate``.
    error : str
        Why the cell did not run (e.g. Bulyan with too few clients); empty otherwise.
    """

    attackers: int
    clients: int
    attack: str
    defence: str
    f1: float = math.nan
    success: float = math.nan
    triggered_benign: float = math.nan
    flipped: float = math.nan
    attacker_suspicion: float = math.nan
    honest_suspicion: float = math.nan
    top_suspect_hit_rate: float = math.nan
    malicious_ids: tuple[int, ...] = ()
    suspicion_by_round: tuple[tuple[float, ...], ...] = ()
    natural_rate: float = math.nan
    error: str = ""


@dataclass(frozen=True)
class PoisoningMatrix:
    """All cells plus what is needed to read them.

    Attributes
    ----------
    cells : tuple of MatrixCell
    trigger : str
        Description of the backdoor trigger.
    rounds : int
    reference_f1 : dict of str to float
        Clean (no-attack) FedAvg F1 per setting key ``"f/n"``.
    """

    cells: tuple[MatrixCell, ...]
    trigger: str
    rounds: int
    reference_f1: dict[str, float] = field(default_factory=dict)

    def cell(self, attackers: int, clients: int, attack: str, defence: str) -> MatrixCell:
        """The cell for one combination."""
        for c in self.cells:
            if (c.attackers, c.clients, c.attack, c.defence) == (attackers, clients, attack, defence):
                return c
        raise ConfigError(f"no cell for {attackers}/{clients} {attack} x {defence}; the matrix has {len(self.cells)} cells.")

    def best_defences(self, *, f1_tolerance: float = 0.01, max_backdoor_success: float = 0.05) -> list[dict[str, Any]]:
        """Per setting and attack, the best defence and whether it meets the target.

        For ``backdoor`` the best defence has the lowest success (ties: higher F1) among the
        defences that keep F1 within ``f1_tolerance`` (all of them when none does), and the
        target is success below ``max_backdoor_success`` with F1 within ``f1_tolerance`` of
        clean FedAvg; for the other attacks it has the highest clean F1 and the target is the
        F1 condition. ``natural_rate`` is reported next to the backdoor success because a
        trigger pattern can be classified benign without any backdoor.
        """
        out = []
        settings = sorted({(c.attackers, c.clients) for c in self.cells})
        attacks = sorted({c.attack for c in self.cells if c.attack != "none"})
        for f, n in settings:
            ref = self.reference_f1.get(f"{f}/{n}", math.nan)
            for a in attacks:
                ok = [c for c in self.cells if (c.attackers, c.clients, c.attack) == (f, n, a) and not c.error]
                if not ok:
                    continue
                if a == "backdoor":
                    # A defence that kills the backdoor by wrecking the detector is no answer: pick
                    # among those that keep F1 within tolerance, if any do.
                    usable = [c for c in ok if c.f1 >= ref - f1_tolerance] or ok
                    best = min(usable, key=lambda c: (c.success, -c.f1))
                    met = best.success < max_backdoor_success and best.f1 >= ref - f1_tolerance
                else:
                    best = max(ok, key=lambda c: (c.f1, -c.success))
                    met = best.f1 >= ref - f1_tolerance
                fedavg = next((c for c in ok if c.defence == "fedavg"), None)
                out.append({
                    "setting": f"{f}/{n}", "attack": a, "best_defence": best.defence, "f1": best.f1,
                    "success": best.success, "natural_rate": best.natural_rate, "reference_f1": ref, "target_met": bool(met),
                    "fedavg_f1": fedavg.f1 if fedavg else math.nan,
                    "fedavg_success": fedavg.success if fedavg else math.nan,
                })
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (nan becomes None)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            return v

        return {
            "trigger": self.trigger,
            "rounds": self.rounds,
            "reference_f1": {k: clean(v) for k, v in self.reference_f1.items()},
            "cells": [{k: clean(v) for k, v in asdict(c).items()} for c in self.cells],
            "best": [{k: clean(v) for k, v in row.items()} for row in self.best_defences()],
        }


def _predict(run: PoisonedRun, X: np.ndarray) -> np.ndarray:
    return (predict_proba(run.model, X) >= _THRESHOLD).astype(np.int64)


def run_poisoning_matrix(
    data: PreparedData,
    *,
    attacks: Sequence[str] = ("label_flip", "sign_flip", "scale", "backdoor"),
    defences: Sequence[str] = ("fedavg", "krum", "multikrum", "median", "trimmed", "bulyan", "normbound", "dpfedavg"),
    settings: Sequence[tuple[int, int]] = ((1, 5), (2, 10)),
    rounds: int = 5,
    fed: FederatedConfig | None = None,
    scale_factor: float = 10.0,
    clipping_norm: float = 1.0,
    noise_multiplier: float = 1.0,
    dp_policy: str = "calibrate",
    trigger: BackdoorTrigger | None = None,
    partition: str = "iid",
    rng: RandomLike = None,
    progress: Callable[[str], None] | None = None,
) -> PoisoningMatrix:
    """Run every attack against every defence for each (attackers, clients) setting.

    Parameters
    ----------
    data : PreparedData
        Clients share ``data.train`` IID; F1 and attack success are measured on ``data.test``.
    attacks : sequence of str
        Attacks from :func:`privids.attacks.poisoning.available_attacks`; the clean run
        (``none``) is always added.
    defences : sequence of str
        Names accepted by :func:`privids.attacks.defences.aggregate_updates`.
    settings : sequence of (int, int), default=((1, 5), (2, 10))
        (malicious clients, clients).
    rounds : int, default=5
    fed : FederatedConfig or None, default=None
        Local training (``local_epochs``, ``lr``, ``batch_size``); None: 1 epoch, lr 0.01,
        batch 64.
    scale_factor : float, default=10.0
        Boost of the ``sign_flip`` and ``scale`` attacks.
    clipping_norm, noise_multiplier : float, default=1.0
        C and z of DP-FedAvg and the ``dp-<aggregator>`` defences.
    dp_policy : {"calibrate", "refuse"}, default="calibrate"
    trigger : BackdoorTrigger or None, default=None
        None: :func:`privids.attacks.backdoor.default_trigger`.
    partition : str, default="iid"
        Client partition scheme (``iid``, ``day``, ``family``, ``dirichlet:ALPHA``).
    rng : int, Generator or None, default=None
        Each setting gets one seed shared by all its cells (same partition, malicious ids and
        initial model), so differences come from the attack and defence only.
    progress : callable or None, default=None
        Called with a short label before each cell.

    Returns
    -------
    PoisoningMatrix
        Cells whose defence cannot run in a setting (Bulyan needs n >= 4f + 3; ``dp-krum``
        under ``dp_policy="refuse"``) carry the reason in ``error``.
    """
    # Validate names up front: inside the loop a ConfigError marks one cell n/a, which would
    # turn a typo into a matrix of n/a cells.
    bad_attacks = sorted(set(attacks) - set(available_attacks()))
    bad_defences = sorted(set(defences) - set(available_defences()))
    if bad_attacks or bad_defences:
        raise ConfigError(
            f"unknown attack(s) {bad_attacks} / defence(s) {bad_defences}; allowed attacks: {list(available_attacks())}, "
            f"defences: {list(available_defences())}."
        )
    for f, n in settings:
        if not 1 <= f < n:
            raise ConfigError(f"settings must be (attackers, clients) with 1 <= attackers < clients; got ({f}, {n}).")
    fed = fed or FederatedConfig(local_epochs=1, lr=0.01, batch_size=64)
    trigger = trigger or default_trigger(data)
    gen = as_generator(rng)
    test_X, test_y = data.test.X, data.test.y
    triggered = apply_trigger(test_X[test_y == 1], trigger)
    all_attacks = ["none"] + [a for a in attacks if a != "none"]
    cells: list[MatrixCell] = []
    reference: dict[str, float] = {}
    for f, n in settings:
        seed = child_seed(gen)
        spec = DefenceSpec(n_malicious=max(1, f), clipping_norm=clipping_norm, noise_multiplier=noise_multiplier, dp_policy=dp_policy)
        base_pred: np.ndarray | None = None
        natural: dict[str, float] = {}
        order = ["fedavg"] + [d for d in defences if d != "fedavg"]
        for defence in order:
            for attack in all_attacks:
                if defence not in defences and attack != "none":
                    continue  # FedAvg's clean run is the reference even when not requested
                if progress is not None:
                    progress(f"{f}/{n} {attack} x {defence}")
                try:
                    run = run_poisoned_federation(
                        data, attack=attack, defence=defence, n_clients=n, n_attackers=f, rounds=rounds,
                        fed=fed, spec=spec, scale_factor=scale_factor, trigger=trigger, partition=partition, rng=seed,
                    )
                except (ConfigError, PrivacyError) as e:
                    cells.append(MatrixCell(f, n, attack, defence, error=str(e)))
                    continue
                pred = _predict(run, test_X)
                if base_pred is None:
                    base_pred = pred
                    reference[f"{f}/{n}"] = float(f1_score(test_y, pred, zero_division=0))
                correct = base_pred == test_y
                flipped = float(np.mean(pred[correct] != test_y[correct])) if correct.any() else math.nan
                trig_benign = float(np.mean(_predict(run, triggered) == 0)) if len(triggered) else math.nan
                susp = run.mean_suspicion()
                mal = list(run.attackers)
                honest = [i for i in range(n) if i not in mal]
                success = math.nan if attack == "none" else (trig_benign if attack == "backdoor" else flipped)
                if attack == "none":
                    natural[defence] = trig_benign
                if defence in defences:
                    cells.append(MatrixCell(
                        f, n, attack, defence,
                        f1=float(f1_score(test_y, pred, zero_division=0)),
                        success=success, triggered_benign=trig_benign, flipped=flipped,
                        attacker_suspicion=float(susp[mal].mean()) if mal else math.nan,
                        honest_suspicion=float(susp[honest].mean()),
                        top_suspect_hit_rate=run.top_suspect_hit_rate(),
                        malicious_ids=run.attackers, natural_rate=natural.get(defence, math.nan),
                        suspicion_by_round=tuple(tuple(round(v, 4) for v in r.suspicion) for r in run.rounds),
                    ))
    return PoisoningMatrix(cells=tuple(cells), trigger=trigger.describe(), rounds=rounds, reference_f1=reference)
