"""Privacy ledger: every (epsilon, delta) release of a model line, composed against a lifetime budget.

The ledger is pure data and pure math: no files, no clocks, no training. Storage lives in
``privids.artifacts`` (the ledger is a JSON-safe dict inside the artifact metadata).

Composition rule
----------------
Releases are grouped by the fingerprint of the dataset they were trained on.

* **Same dataset, sequential (basic) composition.** Every release that touched dataset ``D``
  spends its own budget on the records of ``D``, so ``eps(D) = sum eps_i`` and
  ``delta(D) = sum delta_i`` over the releases on ``D``.
* **Default: sequential composition across datasets too.** Two fingerprints prove the files
  differ, not that their flows are disjoint (a re-export with one extra row, or one file of
  the training folder, has a new fingerprint but shares records). So by default every release
  composes sequentially with every other: ``eps = sum eps_i``, ``delta = sum delta_i``.
* **Opt-in: parallel composition over disjoint datasets** (``disjoint=True``, the user's
  assertion that the datasets share no record). A record then lives in exactly one dataset
  and is only exposed through the releases on it (later fine-tunes on other data are
  post-processing for that record), so the line's guarantee is the worst dataset:
  ``eps = max_D eps(D)``, ``delta = max_D delta(D)``.

Every release also carries its ``level``: ``"record"`` (one flow) or ``"client"`` (one whole
organisation, DP-FedAvg). Epsilons of different units cannot be added or maxed, so a ledger
refuses to mix levels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from privids.exceptions import BudgetExceededError, PrivacyError

__all__ = ["Composed", "PrivacyLedger", "Release", "compose"]

# Sums such as 0.1 + 0.2 must not refuse a release that fits the budget exactly.
_REL_TOL = 1e-9
_LEVELS = ("record", "client")


def _check_eps_delta(what: str, epsilon: float, delta: float, *, allow_inf: bool) -> None:
    if not isinstance(epsilon, int | float) or math.isnan(epsilon) or epsilon < 0:
        raise PrivacyError(
            f"{what} epsilon must be a non-negative number; got {epsilon!r}. Pass the epsilon the accountant reported.")
    if math.isinf(epsilon) and not allow_inf:
        raise PrivacyError(f"{what} epsilon must be finite; got {epsilon!r}. Set a finite lifetime budget.")
    if not isinstance(delta, int | float) or math.isnan(delta) or not 0 <= delta < 1:
        raise PrivacyError(f"{what} delta must be in [0, 1); got {delta!r}. Use delta well below 1/n (e.g. 1/(10 n)).")


@dataclass(frozen=True)
class Release:
    """One model release and the privacy it spent on one dataset.

    Parameters
    ----------
    dataset : str
        Content fingerprint of the training data of this release.
    epsilon : float
        Epsilon spent by this release alone (``inf`` for a non-private training run).
    delta : float
        Delta of this release alone.
    accountant : str, default="rdp"
        Accountant that produced ``epsilon`` (``"rdp"``, ``"prv"``, ``"none"`` for non-DP).
    time : str, default=""
        ISO-8601 UTC time of the release (the caller stamps it; the ledger never reads a clock).
    note : str, default=""
        Free text, e.g. ``"initial training"`` or ``"update v2"``.
    level : {"record", "client"}, default="record"
        Unit of the guarantee: one flow (DP-SGD) or one organisation (client-level DP-FedAvg).

    Examples
    --------
    >>> Release("sha256:ab", 1.0, 1e-5).epsilon
    1.0
    """

    dataset: str
    epsilon: float
    delta: float
    accountant: str = "rdp"
    time: str = ""
    note: str = ""
    level: str = "record"

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise PrivacyError(f"release dataset must be a non-empty fingerprint string; got {self.dataset!r}.")
        if self.level not in _LEVELS:
            raise PrivacyError(f"release level must be one of {list(_LEVELS)}; got {self.level!r}. "
                               "Use 'record' for DP-SGD and 'client' for client-level DP-FedAvg.")
        _check_eps_delta("release", self.epsilon, self.delta, allow_inf=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (an infinite epsilon is written as the string ``"inf"``)."""
        eps: float | str = "inf" if math.isinf(self.epsilon) else self.epsilon
        return {"dataset": self.dataset, "epsilon": eps, "delta": self.delta, "accountant": self.accountant,
                "time": self.time, "note": self.note, "level": self.level}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Release:
        """Rebuild a release written by :meth:`to_dict`."""
        try:
            return cls(dataset=d["dataset"], epsilon=float(d["epsilon"]), delta=float(d["delta"]),
                       accountant=str(d.get("accountant", "rdp")), time=str(d.get("time", "")),
                       note=str(d.get("note", "")), level=str(d.get("level", "record")))
        except (KeyError, TypeError, ValueError) as e:
            raise PrivacyError(f"ledger release needs dataset, epsilon and delta; got {dict(d)!r}. "
                               "The ledger in the artifact is damaged; restore it from the previous version.") from e


@dataclass(frozen=True)
class Composed:
    """Composed privacy of a set of releases.

    Attributes
    ----------
    epsilon, delta : float
        The model line's guarantee (worst dataset under parallel composition).
    per_dataset : dict of str to (float, float)
        Sequentially composed ``(epsilon, delta)`` for each dataset fingerprint.
    rule : str
        ``"parallel-over-datasets"`` or ``"sequential"``.
    """

    epsilon: float
    delta: float
    per_dataset: dict[str, tuple[float, float]]
    rule: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the totals."""
        def _e(x: float) -> float | str:
            return "inf" if math.isinf(x) else x

        return {"epsilon": _e(self.epsilon), "delta": self.delta, "rule": self.rule,
                "per_dataset": {k: {"epsilon": _e(e), "delta": d} for k, (e, d) in self.per_dataset.items()}}


def compose(releases: Iterable[Release], *, disjoint: bool = False) -> Composed:
    """Compose releases: basic composition, or parallel across datasets asserted disjoint.

    Parameters
    ----------
    releases : iterable of Release
    disjoint : bool, default=False
        Whether different fingerprints stand for record-disjoint datasets (the caller's
        assertion; fingerprints cannot prove it). False composes every release sequentially
        (sum of all epsilons and deltas); True takes the worst dataset.

    Returns
    -------
    Composed
        Zero epsilon and delta when there is no release.

    Examples
    --------
    >>> rs = [Release("A", 1.0, 1e-6), Release("A", 0.5, 1e-6), Release("B", 2.0, 1e-6)]
    >>> compose(rs).epsilon
    3.5
    >>> c = compose(rs, disjoint=True)
    >>> c.epsilon, c.per_dataset["A"]
    (2.0, (1.5, 2e-06))
    """
    groups: dict[str, list[Release]] = {}
    for r in releases:
        groups.setdefault(r.dataset, []).append(r)
    per = {k: (math.fsum(r.epsilon for r in g), math.fsum(r.delta for r in g)) for k, g in groups.items()}
    if not per:
        return Composed(0.0, 0.0, {}, "parallel-over-datasets" if disjoint else "sequential")
    if disjoint:
        return Composed(max(e for e, _ in per.values()), max(d for _, d in per.values()), per, "parallel-over-datasets")
    return Composed(math.fsum(e for e, _ in per.values()), math.fsum(d for _, d in per.values()), per, "sequential")


def _check_levels(releases: Iterable[Release]) -> None:
    # A client-level epsilon bounds what one organisation's whole data reveals, a record-level
    # one what one flow reveals: adding or maxing them gives a number with no meaning.
    levels = sorted({r.level for r in releases})
    if len(levels) > 1:
        raise PrivacyError(f"a ledger composes releases of one privacy level only; got levels {levels}. "
                           "Client-level (DP-FedAvg) and record-level (DP-SGD) epsilons are different units: "
                           "keep them in separate model lines.")


def _within(spent: float, budget: float) -> bool:
    return spent <= budget * (1 + _REL_TOL) + 1e-15


@dataclass(frozen=True)
class PrivacyLedger:
    """The releases of one model line and the lifetime budget fixed when the line was created.

    Parameters
    ----------
    budget_epsilon : float
        Lifetime epsilon of the composed total; no release may take the total past it.
    budget_delta : float
        Lifetime delta of the composed total.
    releases : tuple of Release, default=()
        In release order.
    disjoint : bool, default=False
        The user asserts that datasets with different fingerprints share no record (parallel
        composition, see the module docstring); False sums every release.

    Examples
    --------
    >>> led = PrivacyLedger(3.0, 1e-5, disjoint=True).add(Release("A", 1.0, 1e-6))
    >>> led.remaining("A"), led.remaining("B")
    (2.0, 3.0)
    >>> led.add(Release("A", 2.5, 1e-6))
    Traceback (most recent call last):
    ...
    privids.exceptions.BudgetExceededError: release of epsilon=2.5 on dataset 'A' would raise its composed epsilon to 3.5, over the lifetime budget 3 (already spent there: 1, remaining: 2); got the request for 2.5. Ask for at most epsilon=2, or train on new, disjoint data.
    """

    budget_epsilon: float
    budget_delta: float
    releases: tuple[Release, ...] = field(default=())
    disjoint: bool = False

    def __post_init__(self) -> None:
        _check_eps_delta("lifetime budget", self.budget_epsilon, self.budget_delta, allow_inf=False)
        if self.budget_epsilon == 0:
            raise PrivacyError("lifetime budget epsilon must be positive; got 0. Pass e.g. --budget 8.")
        object.__setattr__(self, "releases", tuple(self.releases))
        _check_levels(self.releases)
        total = self.totals()
        if not (_within(total.epsilon, self.budget_epsilon) and _within(total.delta, self.budget_delta)):
            raise BudgetExceededError(
                f"ledger releases already compose to epsilon={total.epsilon}, delta={total.delta:g}, over the "
                f"lifetime budget epsilon={self.budget_epsilon}, delta={self.budget_delta:g}; got {len(self.releases)} "
                "release(s). A budget is fixed at creation; open the ledger with a larger one (--budget / --budget-delta on the "
                "first privids update) or start a new model line.")

    def totals(self) -> Composed:
        """Composed totals under the ledger's rule."""
        return compose(self.releases, disjoint=self.disjoint)

    def remaining(self, dataset: str) -> float:
        """Largest epsilon a new release on ``dataset`` may spend (0 when nothing is left)."""
        tot = self.totals()
        spent = tot.epsilon if not self.disjoint else tot.per_dataset.get(dataset, (0.0, 0.0))[0]
        return max(0.0, self.budget_epsilon - spent)

    def check(self, release: Release) -> Composed:
        """Composed totals with ``release`` added; raise if they would exceed the lifetime budget.

        Raises
        ------
        BudgetExceededError
            The new epsilon or delta total is over the lifetime budget.
        """
        _check_levels((*self.releases, release))
        after = compose((*self.releases, release), disjoint=self.disjoint)
        ds = after.per_dataset[release.dataset]
        where = "its composed" if self.disjoint else "the sequentially composed"
        if not _within(after.epsilon, self.budget_epsilon):
            before = self.remaining(release.dataset)
            raise BudgetExceededError(
                f"release of epsilon={release.epsilon:g} on dataset {release.dataset!r} would raise {where} epsilon "
                f"to {ds[0] if self.disjoint else after.epsilon:g}, over the lifetime budget {self.budget_epsilon:g} "
                f"(already spent there: {self.budget_epsilon - before:g}, remaining: {before:g}); got the request for "
                f"{release.epsilon:g}. Ask for at most epsilon={before:g}"
                + (", or train on new, disjoint data." if self.disjoint else
                   "; under sequential composition new data do not refill the budget."))
        if not _within(after.delta, self.budget_delta):
            raise BudgetExceededError(
                f"release of delta={release.delta:g} on dataset {release.dataset!r} would raise the composed delta to "
                f"{after.delta:g}, over the lifetime budget delta={self.budget_delta:g}; got delta={release.delta:g}. "
                "Use a smaller delta for this release (privids update --delta), or open the model line with a larger "
                "lifetime delta (--budget-delta, first update only).")
        return after

    def add(self, release: Release) -> PrivacyLedger:
        """A new ledger with ``release`` appended, after :meth:`check` passed."""
        self.check(release)
        return replace(self, releases=(*self.releases, release))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict including the composed totals (informative; recomputed on load)."""
        return {"budget": {"epsilon": self.budget_epsilon, "delta": self.budget_delta}, "disjoint": self.disjoint,
                "releases": [r.to_dict() for r in self.releases], "total": self.totals().to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrivacyLedger:
        """Rebuild a ledger written by :meth:`to_dict` (stored totals are ignored and recomputed)."""
        try:
            budget = d["budget"]
            return cls(budget_epsilon=float(budget["epsilon"]), budget_delta=float(budget["delta"]),
                       releases=tuple(Release.from_dict(r) for r in d.get("releases", ())),
                       disjoint=bool(d.get("disjoint", False)))
        except (KeyError, TypeError, ValueError) as e:
            raise PrivacyError(f"privacy ledger needs budget.epsilon and budget.delta; got keys {sorted(d)}. "
                               "The ledger in the artifact is damaged; restore it from the previous version.") from e
