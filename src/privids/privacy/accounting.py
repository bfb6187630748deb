"""Pure privacy-accounting functions for DP-SGD (sigma, q, steps, delta -> epsilon) over Opacus."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any

from privids.exceptions import PrivacyError

__all__ = [
    "ACCOUNTANTS",
    "PrivacySpent",
    "check_delta",
    "default_delta",
    "epsilon_for",
    "noise_for_epsilon",
]

#: Accountants a privacy claim may be computed with (Opacus mechanism names).
ACCOUNTANTS: tuple[str, ...] = ("prv", "rdp")


def _check_accountant(accountant: str) -> None:
    if accountant not in ACCOUNTANTS:
        raise PrivacyError(
            f"accountant must be one of {list(ACCOUNTANTS)}; got {accountant!r}. "
            "Use 'rdp' (conservative, fast) or 'prv' (tighter numerical bound)."
        )


def _check_schedule(sample_rate: float, steps: int) -> None:
    if not 0 < sample_rate <= 1:
        raise PrivacyError(f"sample_rate q must be in (0, 1]; got {sample_rate!r}. q is expected batch size / n.")
    if int(steps) != steps or steps < 1:
        raise PrivacyError(f"steps must be a positive integer; got {steps!r}. Count every optimizer step, empty ones too.")


def _accountant(accountant: str, history: list[tuple[float, float, int]]) -> Any:
    # Imported lazily: opacus pulls torch, and importing this module should stay cheap.
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=accountant)
    acc.history = list(history)
    return acc


def default_delta(n: int) -> float:
    """The default delta for ``n`` training records: ``1 / (10 n)``.

    A delta of about 1/n would allow the mechanism to leak one whole record with
    non-negligible probability; one order of magnitude below 1/n is the usual choice.

    Parameters
    ----------
    n : int
        Number of training records (the unit of privacy is one flow record).

    Returns
    -------
    float

    Raises
    ------
    PrivacyError
        If ``n`` is not positive.

    Examples
    --------
    >>> default_delta(1000)
    0.0001
    """
    if n < 1:
        raise PrivacyError(f"n (training records) must be positive; got {n!r}. Train on a non-empty split.")
    return 1.0 / (10.0 * n)


def check_delta(delta: float, n: int) -> None:
    """Refuse a delta that does not protect every one of ``n`` records.

    Parameters
    ----------
    delta : float
        The delta of the (epsilon, delta) claim.
    n : int
        Number of training records.

    Raises
    ------
    PrivacyError
        If ``delta`` is not in (0, 1) or ``delta >= 1 / n``.

    Notes
    -----
    With ``delta >= 1/n`` the mechanism "release one random record in the clear" satisfies
    (0, delta)-DP, so such a claim is meaningless for a data set of ``n`` records.

    Examples
    --------
    >>> check_delta(1e-5, 1000)
    >>> check_delta(1e-3, 1000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    privids.exceptions.PrivacyError: delta must be below 1/n = 0.001 for n = 1000 records; got 0.001. ...
    """
    if not 0 < delta < 1:
        raise PrivacyError(f"delta must be in (0, 1); got {delta!r}. Leave it unset for 1/(10 n).")
    if n < 1:
        raise PrivacyError(f"n (training records) must be positive; got {n!r}. Train on a non-empty split.")
    if delta >= 1.0 / n:
        raise PrivacyError(
            f"delta must be below 1/n = {1.0 / n:.6g} for n = {n} records; got {delta!r}. "
            "A delta >= 1/n allows leaking a whole record with probability delta; "
            f"leave delta unset for 1/(10 n) = {default_delta(n):.3g} or pass a smaller one."
        )


def epsilon_for(
    *, sample_rate: float, noise_multiplier: float, steps: int, delta: float, accountant: str = "rdp"
) -> float:
    """Epsilon spent by ``steps`` Poisson-sampled Gaussian steps.

    Parameters
    ----------
    sample_rate : float
        Poisson sampling rate q (expected batch size / n).
    noise_multiplier : float
        Noise standard deviation relative to the clipping norm (sigma).
    steps : int
        Number of optimizer steps taken, empty batches included.
    delta : float
    accountant : {"rdp", "prv"}, default="rdp"

    Returns
    -------
    float
        The epsilon of the run; ``inf`` when ``noise_multiplier == 0``.

    Raises
    ------
    PrivacyError
        On an unknown accountant or values outside their range.

    References
    ----------
    Mironov, Talwar, Zhang, "Renyi Differential Privacy of the Sampled Gaussian Mechanism", 2019.
    Gopi, Lee, Wutschitz, "Numerical Composition of Differential Privacy", NeurIPS 2021 (PRV).

    Examples
    --------
    >>> round(epsilon_for(sample_rate=0.01, noise_multiplier=1.1, steps=1000, delta=1e-5), 3)
    1.712
    """
    _check_accountant(accountant)
    _check_schedule(sample_rate, steps)
    if not 0 < delta < 1:
        raise PrivacyError(f"delta must be in (0, 1); got {delta!r}.")
    if noise_multiplier < 0:
        raise PrivacyError(f"noise_multiplier must be non-negative; got {noise_multiplier!r}.")
    if noise_multiplier == 0:
        return math.inf
    acc = _accountant(accountant, [(float(noise_multiplier), float(sample_rate), int(steps))])
    with warnings.catch_warnings():
        # Opacus notes when the best RDP order is at the grid's edge; the bound is still valid.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        return float(acc.get_epsilon(delta=delta))


def noise_for_epsilon(
    *, target_epsilon: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp"
) -> float:
    """Smallest noise multiplier (to 0.01 in epsilon) whose run spends at most ``target_epsilon``.

    This is the calibration ``PrivacyEngine.make_private_with_epsilon`` performs.

    Parameters
    ----------
    target_epsilon : float
    sample_rate : float
    steps : int
    delta : float
    accountant : {"rdp", "prv"}, default="rdp"

    Returns
    -------
    float
        sigma such that ``epsilon_for(..., noise_multiplier=sigma) <= target_epsilon``.

    Raises
    ------
    PrivacyError
        If the budget cannot be reached with any sigma below 1e6.
    """
    _check_accountant(accountant)
    _check_schedule(sample_rate, steps)
    if not target_epsilon > 0:
        raise PrivacyError(f"target_epsilon must be positive; got {target_epsilon!r}.")
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():
            # The bisection probes huge sigmas whose best RDP order is the last one; harmless there.
            warnings.filterwarnings("ignore", message="Optimal order is the")
            return float(
                get_noise_multiplier(
                    target_epsilon=target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=int(steps),
                    accountant=accountant,
                )
            )
    except ValueError as e:
        raise PrivacyError(
            f"no noise multiplier reaches epsilon={target_epsilon} at delta={delta} over {steps} steps at q={sample_rate}; "
            f"got: {e}. Raise the budget or train fewer steps."
        ) from e


@dataclass(frozen=True)
class PrivacySpent:
    """What a DP-SGD run spent, with everything needed to recompute its epsilon.

    Attributes
    ----------
    epsilon : float
    delta : float
    sample_rate : float
        Poisson rate q the sampler used (= expected_batch_size / n_records).
    noise_multiplier : float
        sigma actually used (calibrated when a target epsilon was given).
    steps : int
        Optimizer steps taken, empty Poisson batches included.
    accountant : str
    max_grad_norm : float
        Per-sample clipping norm C.
    n_records : int
    expected_batch_size : float
    epochs : int
    empty_batches : int
        Steps whose Poisson batch was empty (noise only; counted in ``steps``).
    mode : str
        How per-sample clipping was computed (``ghost``, ``hooks``, ``linear``).
    secure_mode : bool, default=False
    target_epsilon : float or None, default=None
    """

    epsilon: float
    delta: float
    sample_rate: float
    noise_multiplier: float
    steps: int
    accountant: str
    max_grad_norm: float
    n_records: int
    expected_batch_size: float
    epochs: int
    empty_batches: int
    mode: str
    secure_mode: bool = False
    target_epsilon: float | None = None

    def recompute_epsilon(self) -> float:
        """Epsilon recomputed from (q, sigma, steps, delta, accountant) alone."""
        return epsilon_for(
            sample_rate=self.sample_rate,
            noise_multiplier=self.noise_multiplier,
            steps=self.steps,
            delta=self.delta,
            accountant=self.accountant,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (every value a str, number, bool or None)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PrivacySpent:
        """Rebuild from :meth:`to_dict` output; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PrivacyError(f"unknown privacy-record key(s) {unknown}; allowed: {sorted(known)}. Is this a privids record?")
        return cls(**values)
