"""Pure membership-inference metrics and the bounds that (epsilon, delta)-DP puts on them."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta as beta_dist
from sklearn.metrics import roc_auc_score, roc_curve

from privids.exceptions import ConfigError

__all__ = [
    "clopper_pearson",
    "dp_advantage_bound",
    "dp_tpr_bound",
    "exceeds_dp_bound",
    "membership_advantage",
    "membership_auc",
    "tpr_at_fpr",
]


def _labels_scores(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(member_scores, dtype=np.float64).ravel()
    o = np.asarray(nonmember_scores, dtype=np.float64).ravel()
    if len(m) == 0 or len(o) == 0:
        raise ConfigError(f"membership metrics need members and non-members; got {len(m)} and {len(o)}.")
    return np.r_[np.ones(len(m)), np.zeros(len(o))], np.r_[m, o]


def membership_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """ROC-AUC of an attack score (higher means "member"); 0.5 is chance.

    Examples
    --------
    >>> membership_auc(np.array([0.9, 0.8]), np.array([0.1, 0.85]))
    0.75
    """
    labels, scores = _labels_scores(member_scores, nonmember_scores)
    return float(roc_auc_score(labels, scores))


def membership_advantage(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """Best ``TPR - FPR`` over all thresholds ("membership advantage", Yeom et al. 2018).

    Examples
    --------
    >>> membership_advantage(np.array([0.9, 0.8]), np.array([0.1, 0.85]))
    0.5
    """
    labels, scores = _labels_scores(member_scores, nonmember_scores)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(max(0.0, np.max(tpr - fpr)))


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, *, fpr: float) -> float:
    """Highest true-positive rate of any threshold whose false-positive rate is at most ``fpr``.

    Parameters
    ----------
    member_scores, nonmember_scores : ndarray
    fpr : float
        In (0, 1). With ``m`` non-members the smallest non-zero FPR is ``1 / m``: at 0.1% FPR
        and 2,000 non-members the attack may misfire on two of them.

    Examples
    --------
    >>> tpr_at_fpr(np.array([0.9, 0.8, 0.3]), np.array([0.1, 0.85, 0.2]), fpr=0.01)
    0.3333333333333333
    """
    if not 0 < fpr < 1:
        raise ConfigError(f"fpr must be in (0, 1); got {fpr!r}.")
    labels, scores = _labels_scores(member_scores, nonmember_scores)
    f, t, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(np.max(t[f <= fpr + 1e-12]))


def dp_tpr_bound(fpr: float, *, epsilon: float | None, delta: float = 0.0) -> float:
    """Largest TPR an (epsilon, delta)-DP model allows at ``fpr``: ``min(1, e^eps * fpr + delta)``.

    None (no DP guarantee) gives 1.

    Examples
    --------
    >>> round(dp_tpr_bound(0.01, epsilon=1.0, delta=1e-5), 6)
    0.027193
    """
    if epsilon is None:
        return 1.0
    return float(min(1.0, math.exp(epsilon) * fpr + delta))


def dp_advantage_bound(*, epsilon: float | None, delta: float = 0.0) -> float:
    """Largest membership advantage under (epsilon, delta)-DP: ``(e^eps - 1 + 2 delta) / (e^eps + 1)``.

    None (no DP guarantee) gives 1.

    References
    ----------
    Humphries et al., "Investigating Membership Inference Attacks under Data Dependencies",
    2023 (the bound for balanced member/non-member priors); Yeom et al., CSF 2018.

    Examples
    --------
    >>> round(dp_advantage_bound(epsilon=1.0, delta=0.0), 4)
    0.4621
    """
    if epsilon is None:
        return 1.0
    e = math.exp(epsilon)
    return float(min(1.0, (e - 1 + 2 * delta) / (e + 1)))


def clopper_pearson(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided confidence interval for a binomial rate.

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 100)
    >>> (lo, round(hi, 4))
    (0.0, 0.0362)
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ConfigError(f"need 0 <= successes <= trials and trials > 0; got {successes} of {trials}.")
    a = 1 - confidence
    lo = 0.0 if successes == 0 else float(beta_dist.ppf(a / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta_dist.ppf(1 - a / 2, successes + 1, trials - successes))
    return lo, hi


def exceeds_dp_bound(member_scores: np.ndarray, nonmember_scores: np.ndarray, *, epsilon: float | None, delta: float = 0.0, confidence: float = 0.95) -> bool:
    """Whether some threshold shows, with the given confidence, a TPR above ``e^eps * FPR + delta``.

    Point estimates on a few thousand flows are too coarse for this: one lucky member at FPR 0
    already "beats" the bound ``delta``. So each threshold's TPR is taken at its Clopper-Pearson
    lower limit and its FPR at the upper limit; a violation is reported only when even that
    pessimistic pair breaks the bound. Such a finding means the claimed epsilon is wrong
    (or the members were not the training set).
    """
    if epsilon is None:
        return False
    labels, scores = _labels_scores(member_scores, nonmember_scores)
    f, t, _ = roc_curve(labels, scores, drop_intermediate=False)
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    e = math.exp(epsilon)
    for fp, tp in zip(f, t, strict=True):
        tp_lo, _ = clopper_pearson(int(round(tp * n_pos)), n_pos, confidence=confidence)
        _, fp_hi = clopper_pearson(int(round(fp * n_neg)), n_neg, confidence=confidence)
        if tp_lo > e * fp_hi + delta:
            return True
    return False
