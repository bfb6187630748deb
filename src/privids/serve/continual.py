"""Continual learning: DP-SGD fine-tuning of a stored model on new flows, under its privacy ledger."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from privids._rng import RandomLike
from privids.config import PrivacyConfig
from privids.exceptions import BudgetExceededError, ConfigError, DataError, ModelError, PrivacyError
from privids.privacy.ledger import PrivacyLedger, Release
from privids.serve.model_info import ledger_of

__all__ = ["UpdateResult", "default_budget_delta", "initial_ledger", "plan_update", "update_artifact"]


@dataclass(frozen=True)
class UpdateResult:
    """What ``privids update`` wrote.

    Attributes
    ----------
    path : Path
        The new artifact directory.
    version : int
        Version number of the new artifact (the base model is version 1 unless it says otherwise).
    release : Release
        This update's entry in the ledger (the epsilon actually spent).
    ledger : PrivacyLedger
        The ledger stored in the new artifact.
    rows : int
        Labelled, finite flows the update trained on.
    skipped : dict of str to int
        Rows left out of training and why (unscorable row, empty label, non-finite after transform).
    losses : tuple of float
        Mean training loss per epoch.
    """

    path: Path
    version: int
    release: Release
    ledger: PrivacyLedger
    rows: int
    skipped: dict[str, int]
    losses: tuple[float, ...]


def _training_release(metadata: Mapping[str, Any], now: str) -> Release:
    data = metadata.get("data") or {}
    fingerprint = str(data.get("fingerprint") or "unknown-training-data")
    priv = metadata.get("privacy")
    if not priv:
        return Release(fingerprint, math.inf, 0.0, accountant="none", time=str(metadata.get("created", now)),
                       note="initial training without DP")
    return Release(fingerprint, float(priv["epsilon"]), float(priv["delta"]), accountant=str(priv.get("accountant", "rdp")),
                   time=str(metadata.get("created", now)), note="initial training", level=str(priv.get("level", "record")))


def _refuse_client_level(metadata: Mapping[str, Any]) -> None:
    # DP-SGD fine-tuning spends a record-level epsilon; a client-level (DP-FedAvg) epsilon bounds
    # one organisation's whole data. Summing the two would report a number in no unit at all.
    priv = metadata.get("privacy") or {}
    if str(priv.get("level", "record")) == "client":
        raise PrivacyError(
            "this model's privacy is client-level (DP-FedAvg: epsilon bounds one organisation's whole data), but "
            f"privids update spends a record-level DP-SGD epsilon; got privacy level 'client' (epsilon "
            f"{priv.get('epsilon')}). The two are different units and cannot share one ledger: fine-tune a "
            "record-level DP model (privids train --dp) instead, or run more federated rounds.")


def default_budget_delta(training_delta: float, release_delta: float) -> float:
    """Default lifetime delta of a model line opened by its first update: room for ten releases.

    Ten times the larger of the training run's delta and this update's delta, so the default
    per-update delta ``1 / (10 n)`` always fits, and about nine more updates of that size do.

    Examples
    --------
    >>> default_budget_delta(1e-6, 5e-5)
    0.0005
    """
    return 10 * max(training_delta, release_delta)


def initial_ledger(metadata: Mapping[str, Any], *, budget_epsilon: float, budget_delta: float, now: str = "",
                   disjoint: bool = False) -> PrivacyLedger:
    """Open the ledger of a model line: the lifetime budget plus the original training release.

    Parameters
    ----------
    metadata : mapping
        Artifact metadata (``privacy`` and ``data.fingerprint`` of the training run).
    budget_epsilon, budget_delta : float
        Lifetime budget; fixed from now on.
    now : str, default=""
        Time stamp used when the metadata has no ``created``.
    disjoint : bool, default=False
        The user asserts that datasets with different fingerprints share no record (parallel
        composition); False composes every release sequentially.

    Raises
    ------
    BudgetExceededError
        The model was trained without DP (its training data have no finite epsilon), or the
        training run alone already exceeds the budget.
    PrivacyError
        The model's privacy is client-level (DP-FedAvg).
    """
    _refuse_client_level(metadata)
    first = _training_release(metadata, now)
    if math.isinf(first.epsilon):
        raise BudgetExceededError(
            "this model was trained without differential privacy, so its training flows have epsilon = inf and no "
            f"lifetime budget (got {budget_epsilon:g}) can hold; fix: train it with DP (privids train --dp) first.")
    return PrivacyLedger(budget_epsilon, budget_delta, (first,), disjoint=disjoint)


def plan_update(metadata: Mapping[str, Any], release: Release, *, budget_epsilon: float | None = None,
                budget_delta: float | None = None, disjoint: bool = False) -> PrivacyLedger:
    """The ledger with ``release`` added, or an error before any training happens.

    Parameters
    ----------
    metadata : mapping
        Base artifact metadata, with or without a ledger.
    release : Release
        The planned release (its epsilon is the update's target epsilon).
    budget_epsilon, budget_delta : float or None
        Needed only when the model has no ledger yet (they open it); refused when they differ
        from a ledger's budget, which is fixed at creation. ``budget_delta`` None opens the
        ledger with :func:`default_budget_delta`.
    disjoint : bool, default=False
        Composition rule of a ledger opened here (ignored once a ledger exists): True is the
        user's assertion that the datasets share no record (parallel composition).

    Raises
    ------
    BudgetExceededError
        The release would exceed the lifetime budget.
    ConfigError
        No ledger and no budget, or an attempt to change the budget.
    PrivacyError
        The model's privacy is client-level (DP-FedAvg).
    """
    _refuse_client_level(metadata)
    led = ledger_of(metadata)
    if led is None:
        if budget_epsilon is None:
            raise ConfigError("this model has no privacy ledger yet; got no --budget. Pass --budget EPS (and "
                              "--budget-delta) to fix the model line's lifetime budget on this first update.")
        if budget_delta is None:
            budget_delta = default_budget_delta(_training_release(metadata, release.time).delta, release.delta)
        led = initial_ledger(metadata, budget_epsilon=budget_epsilon, budget_delta=budget_delta,
                             now=release.time, disjoint=disjoint)
    elif (budget_epsilon is not None and not math.isclose(budget_epsilon, led.budget_epsilon)) or (
            budget_delta is not None and not math.isclose(budget_delta, led.budget_delta)):
        raise ConfigError(f"the lifetime budget was fixed at creation to epsilon={led.budget_epsilon:g}, "
                          f"delta={led.budget_delta:g}; got --budget {budget_epsilon}, --budget-delta {budget_delta}. "
                          "Drop the budget options (a budget cannot be raised later).")
    return led.add(release)


def _training_rows(artifact: Any, table: Any) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    from privids.data.labels import BENIGN, families_of

    if table.labels is None:
        raise DataError("update data have no Label column; got an unlabelled file. Fine-tuning needs labelled flows.")
    status = table.meta.get("row_status")
    labels = np.asarray(table.labels, dtype=object).astype(str)
    keep = np.ones(len(table), dtype=bool)
    skipped: dict[str, int] = {}
    if status is not None:
        bad = np.asarray(status, dtype=object) != ""
        skipped["unscorable"] = int(bad.sum())
        keep &= ~bad
    empty = labels == ""
    skipped["empty label"] = int((empty & keep).sum())
    keep &= ~empty
    # model_inputs: stored transform plus any extra inputs (anomaly score, temporal windows over
    # every row of the file, so rows are selected only afterwards).
    X = np.asarray(artifact.model_inputs(table), dtype=np.float32)[keep]
    finite = np.isfinite(X).all(axis=1)
    skipped["non-finite after transform"] = int((~finite).sum())
    X, labels = X[finite], labels[keep][finite]
    if artifact.task == "multiclass":
        names = list(artifact.class_names)
        fams = families_of(labels)
        unknown = sorted(set(fams.tolist()) - set(names))
        if unknown:
            raise DataError(f"update data hold families the model has no output for: {unknown}; got classes {names}. "
                            "Drop those flows or train a new model that includes them.")
        y = np.fromiter((names.index(f) for f in fams), dtype=np.int64, count=len(fams))
    else:
        y = (labels != BENIGN).astype(np.int64)
    return X, y, {k: v for k, v in skipped.items() if v}


def update_artifact(artifact: Any, table: Any, *, privacy: PrivacyConfig, out: str | Path, rng: RandomLike,
                    budget_epsilon: float | None = None, budget_delta: float | None = None,
                    disjoint: bool = False, now: str | None = None) -> UpdateResult:
    """Fine-tune a stored MLP with DP-SGD on new flows and write the next artifact version.

    Parameters
    ----------
    artifact : privids.artifacts.ModelArtifact
        The base model (kind ``"mlp"``); its feature list and transform are reused, never refitted.
    table : privids.data.FlowTable
        New labelled flows (``load_flows(path)``); ``table.fingerprint`` names the dataset.
    privacy : PrivacyConfig
        ``target_epsilon`` is this release's epsilon and is required, so the budget can be
        checked before training; ``delta`` None means ``1 / (10 n)``.
    out : str or Path
        New artifact directory; must not already hold an artifact.
    rng : int, numpy.random.Generator or None
        Seeds the Poisson sampler and the noise.
    budget_epsilon, budget_delta : float or None
        Lifetime budget, only when the model has no ledger yet (see :func:`plan_update`).
    disjoint : bool, default=False
        Composition rule of a ledger opened by this update (ignored once a ledger exists): True
        asserts that the update data share no record with any earlier release's data.
    now : str or None
        ISO time stamp of the release (None: the current UTC time).

    Returns
    -------
    UpdateResult

    Raises
    ------
    BudgetExceededError
        Before any training, when the release would exceed the lifetime budget.
    ModelError
        A tree model (DP-SGD fine-tuning needs the MLP).
    ConfigError
        No target epsilon, an output directory that already holds an artifact, or a budget change.
    DataError
        ``table`` is the model's own training data (same content fingerprint).
    PrivacyError
        The model's privacy is client-level (DP-FedAvg).

    Notes
    -----
    The decision threshold is kept from the base model: choosing a new one would need held-out
    labelled data outside the privacy accounting. The ledger composes this release with every
    earlier one (see :mod:`privids.privacy.ledger` for the rule).
    """
    from privids.artifacts import METADATA_FILE, save_artifact
    from privids.privacy.accounting import default_delta
    from privids.privacy.dp_sgd import dp_fit

    if artifact.kind != "mlp":
        raise ModelError(f"privids update fine-tunes the MLP with DP-SGD; got a {artifact.kind!r} model. "
                         "Train an MLP (privids train --model mlp --dp) to update it later.")
    if privacy.target_epsilon is None:
        raise ConfigError("an update needs its epsilon up front so the budget is checked before training; got none. "
                          "Pass --epsilon EPS.")
    dest = Path(out)
    if (dest / METADATA_FILE).exists() or dest.resolve() == Path(artifact.path).resolve():
        raise ConfigError(f"--out {dest} already holds an artifact; got an existing directory. Versions are never "
                          "overwritten: choose a new --out.")
    _refuse_client_level(artifact.metadata)
    trained_on = (artifact.metadata.get("data") or {}).get("fingerprint")
    if table.fingerprint and table.fingerprint == trained_on:
        # Fine-tuning on the training file trains on its validation and test rows too, so the
        # stored threshold and any later "test split" evaluation would no longer be held out.
        raise DataError(
            f"update data have the model's own training-data fingerprint ({str(trained_on)[:16]}...); got the training "
            "data again. An update fine-tunes on every row, including the validation and test rows; pass new flows "
            "collected after training instead.")
    stamp = now or datetime.now(UTC).isoformat(timespec="seconds")
    X, y, skipped = _training_rows(artifact, table)
    if len(X) == 0:
        raise DataError(f"no usable labelled flows in the update data; got {len(table)} rows, skipped {skipped}.")
    delta = privacy.delta if privacy.delta is not None else default_delta(len(X))
    version = int(artifact.metadata.get("version", 1)) + 1
    planned = Release(table.fingerprint or "unknown-update-data", float(privacy.target_epsilon), delta,
                      accountant=privacy.accountant, time=stamp, note=f"update to v{version} ({len(X)} flows)")
    plan_update(artifact.metadata, planned, budget_epsilon=budget_epsilon, budget_delta=budget_delta, disjoint=disjoint)
    pconf = dataclasses.replace(privacy, delta=delta, batch_size=min(privacy.batch_size, len(X)))
    # A training-mode copy: the loaded artifact keeps serving the base model unchanged.
    start = copy.deepcopy(artifact.model).train()
    fit = dp_fit(start, X, y, privacy=pconf, rng=rng, multiclass=artifact.task == "multiclass")
    actual = dataclasses.replace(planned, epsilon=float(fit.spent.epsilon), delta=float(fit.spent.delta),
                                 accountant=fit.spent.accountant)
    # Re-check with what was really spent: a calibration overshoot must not slip past the budget.
    ledger = plan_update(artifact.metadata, actual, budget_epsilon=budget_epsilon, budget_delta=budget_delta,
                         disjoint=disjoint)
    meta = {k: v for k, v in artifact.metadata.items() if k not in ("created", "format", "weights", "model")}
    meta.update(
        version=version,
        privacy=fit.spent.to_dict(),
        ledger=ledger.to_dict(),
        # The base model's validation metrics do not describe the fine-tuned weights.
        metrics={},
        parent={"path": str(artifact.path), "version": version - 1,
                "weights_sha256": artifact.metadata.get("weights", {}).get("sha256"),
                "metrics": artifact.metadata.get("metrics", {})},
        updates=[*artifact.metadata.get("updates", []),
                 {"version": version, "fingerprint": actual.dataset, "rows": len(X), "skipped": skipped,
                  "epsilon": actual.epsilon, "delta": actual.delta, "time": stamp, "losses": list(fit.losses)}],
    )
    path = save_artifact(dest, model=fit.model, kind="mlp", metadata=meta)
    return UpdateResult(path=path, version=version, release=actual, ledger=ledger, rows=len(X), skipped=skipped,
                        losses=fit.losses)
