"""DP-SGD training over Opacus: Poisson sampling, per-sample clipping, Gaussian noise, exact accounting."""

from __future__ import annotations

import math

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from privids._rng import RandomLike, as_generator, child_seed, torch_generator
from privids.config import PrivacyConfig, TrainConfig
from privids.data.dataset import PreparedData
from privids.exceptions import PrivacyError
from privids.models.mlp import build_mlp
from privids.privacy.accounting import PrivacySpent, check_delta, default_delta, epsilon_for, noise_for_epsilon
from privids.privacy.dp_loops import fit_linear, fit_opacus
from privids.privacy.poisson import PoissonBatches
from privids.privacy.validation import linear_only, validate_model

__all__ = ["DPFitResult", "TensorRows", "dp_fit", "train_mlp_dp"]

_log = logging.getLogger(__name__)


class TensorRows(Dataset):
    """Tensor rows whose ``__getitems__`` gathers a whole batch with one index op."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X = X
        self.y = y

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[i], self.y[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.X[idx], self.y[idx]


def _as_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    # __getitems__ already returns stacked tensors; an empty Poisson draw arrives as (0, F) tensors.
    return batch


@dataclass(frozen=True)
class DPFitResult:
    """A DP-SGD trained model and what it spent.

    Attributes
    ----------
    model : torch.nn.Module
        The trained plain module (no Opacus wrapper, no hooks), in eval mode.
    spent : PrivacySpent
        Everything needed to recompute epsilon; store it with the model.
    losses : tuple of float
        Mean training loss per epoch over the examples actually drawn (empty steps ignored).
    model_changes : tuple of str
        Fixes applied to make the model DP-compatible (e.g. BatchNorm -> GroupNorm).
    """

    model: nn.Module
    spent: PrivacySpent
    losses: tuple[float, ...]
    model_changes: tuple[str, ...] = ()


def _targets(y: np.ndarray, multiclass: bool) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y))
    return t.long() if multiclass else t.float()


def _require_secure_rng() -> None:
    try:
        import torchcsprng  # noqa: F401
    except ImportError as e:
        raise PrivacyError(
            "secure_mode=True needs a cryptographically secure generator; got no 'torchcsprng' package. "
            "Install torchcsprng, or train with secure_mode=False (fine for experiments, not for a release)."
        ) from e


# Above this RDP epsilon a run is refused under PRV before accounting (see dp_fit).
_PRV_MAX_RDP_EPSILON = 1000.0


def _require_finite(epsilon: float, *, sigma: float, delta: float) -> None:
    if not math.isfinite(epsilon):
        raise PrivacyError(
            f"the accountant gives no finite epsilon for noise multiplier {sigma:g} at delta={delta:g}; got epsilon="
            f"{epsilon}. Use a larger --noise-multiplier (about 0.5 or more) or set --target-epsilon instead.")


def dp_fit(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    privacy: PrivacyConfig,
    rng: RandomLike,
    multiclass: bool = False,
) -> DPFitResult:
    """Train ``model`` with DP-SGD and return it with an exact record of the privacy spent.

    Parameters
    ----------
    model : torch.nn.Module
        Validated first (BatchNorm fixed or refused, in-place activations made out-of-place);
        the caller's module is not modified.
    X : ndarray, shape (n, F)
        Training features (float32); each row is one protected record.
    y : ndarray, shape (n,)
        0/1 targets, or class indices when ``multiclass``.
    privacy : PrivacyConfig
        ``batch_size`` is the *expected* Poisson batch; ``noise_multiplier`` or ``target_epsilon``.
    rng : int, numpy.random.Generator or None
        Seeds the sampler and the noise (two independent streams).
    multiclass : bool, default=False
        Cross-entropy over class logits instead of a binary logit.

    Returns
    -------
    DPFitResult

    Raises
    ------
    PrivacyError
        ``delta >= 1/n``, an expected batch larger than the data, or secure mode without a
        secure generator.
    ModelError
        A model Opacus cannot train privately.

    Notes
    -----
    Requires Poisson sampling: each step includes every record independently with
    probability ``q = 1 / ceil(n / batch_size)``. Steps with an empty batch still add noise
    and are accounted. The accountant's history must match the steps taken, otherwise the
    run is refused rather than reported with a wrong epsilon.
    """
    n = int(len(X))
    delta = privacy.delta if privacy.delta is not None else default_delta(n)
    check_delta(delta, n)
    if privacy.batch_size > n:
        raise PrivacyError(
            f"expected batch size must be at most n = {n}; got batch_size={privacy.batch_size}. Use a smaller batch."
        )
    if privacy.noise_multiplier == 0 and privacy.target_epsilon is None:
        raise PrivacyError(
            "noise_multiplier=0 gives no privacy (epsilon = inf); got 0. Set a positive noise_multiplier or target_epsilon, "
            "or train without --dp."
        )
    if privacy.secure_mode:
        _require_secure_rng()
    validated = validate_model(model, fix_batchnorm=privacy.fix_batchnorm)
    work = validated.model
    if privacy.grad_sample_mode == "auto":
        # Secure noise is only wired through Opacus' optimizer, so secure runs use ghost clipping.
        fast = linear_only(work) and not privacy.secure_mode
        privacy = replace(privacy, grad_sample_mode="linear" if fast else "ghost")
    gen = as_generator(rng)
    sample_gen = torch_generator(child_seed(gen))
    noise_gen = torch_generator(child_seed(gen))
    dataset = TensorRows(torch.as_tensor(np.asarray(X, dtype=np.float32)), _targets(y, multiclass))
    base = DataLoader(dataset, batch_size=privacy.batch_size, collate_fn=_as_batch, generator=sample_gen)
    sample_rate = 1.0 / len(base)

    # Opacus' own sampler draws a uniform per record per step (O(n)); ours draws O(batch) with the
    # same distribution. Secure mode keeps Opacus' sampler, which takes the secure generator.
    loader = PoissonBatches(dataset, sample_rate=sample_rate, generator=sample_gen)
    if privacy.target_epsilon is None:
        # A fixed sigma fixes epsilon before any step: refuse a run the accountant cannot bound
        # (e.g. sigma 0.01 gives epsilon = inf) instead of training it and failing at save time.
        # The RDP bound is fast for any sigma and never below the PRV estimate; PRV itself can
        # take minutes on vanishing noise, so a hopeless sigma is refused on the RDP bound first.
        sigma0 = float(privacy.noise_multiplier)  # type: ignore[arg-type]
        steps0 = len(loader) * privacy.epochs
        rdp_eps = epsilon_for(sample_rate=sample_rate, noise_multiplier=sigma0, steps=steps0, delta=delta, accountant="rdp")
        _require_finite(rdp_eps, sigma=sigma0, delta=delta)
        if privacy.accountant == "prv" and rdp_eps > _PRV_MAX_RDP_EPSILON:
            raise PrivacyError(
                f"noise multiplier {sigma0:g} gives epsilon {rdp_eps:.3g} (RDP bound) at delta={delta:g}, which is no "
                f"meaningful privacy, and PRV accounting of so little noise takes minutes; got accountant='prv'. Use a "
                "larger --noise-multiplier, --target-epsilon, or --accountant rdp.")
        if privacy.accountant != "rdp":
            _require_finite(epsilon_for(sample_rate=sample_rate, noise_multiplier=sigma0, steps=steps0, delta=delta,
                                        accountant=privacy.accountant), sigma=sigma0, delta=delta)
    if privacy.grad_sample_mode == "linear":
        steps_planned = len(loader) * privacy.epochs
        if privacy.target_epsilon is not None:
            sigma = noise_for_epsilon(
                target_epsilon=privacy.target_epsilon,
                sample_rate=sample_rate,
                steps=steps_planned,
                delta=delta,
                accountant=privacy.accountant,
            )
        else:
            sigma = float(privacy.noise_multiplier)  # type: ignore[arg-type]
        trained, history, tallies = fit_linear(
            work,
            loader,
            privacy=privacy,
            multiclass=multiclass,
            sigma=sigma,
            sample_rate=sample_rate,
            n=n,
            noise_gen=noise_gen,
        )
        eps = None
    else:
        sigma_arg = None if privacy.target_epsilon is not None else float(privacy.noise_multiplier)  # type: ignore[arg-type]
        trained, eps, history, tallies = fit_opacus(
            work,
            base if privacy.secure_mode else loader,
            poisson_sampling=privacy.secure_mode,
            privacy=privacy,
            multiclass=multiclass,
            sigma=sigma_arg,
            delta=delta,
            noise_gen=None if privacy.secure_mode else noise_gen,
        )

    steps_run = sum(t.steps for t in tallies)
    if len(history) != 1 or history[0][2] != steps_run or abs(history[0][1] - sample_rate) > 1e-12:
        raise PrivacyError(
            f"the accountant saw {history} but the run took {steps_run} steps at q={sample_rate}; "
            "refusing to report an epsilon that does not describe what ran. This is a bug: please report it."
        )
    sigma_used, q_used, steps_used = history[0]
    recomputed = epsilon_for(
        sample_rate=q_used, noise_multiplier=sigma_used, steps=steps_used, delta=delta, accountant=privacy.accountant
    )
    _require_finite(recomputed, sigma=sigma_used, delta=delta)
    if eps is not None and abs(eps - recomputed) > 1e-6 * max(1.0, recomputed):
        raise PrivacyError(f"Opacus reported epsilon {eps} but (q, sigma, steps, delta) give {recomputed}; this is a bug.")
    spent = PrivacySpent(
        epsilon=recomputed,
        delta=delta,
        sample_rate=q_used,
        noise_multiplier=sigma_used,
        steps=steps_used,
        accountant=privacy.accountant,
        max_grad_norm=privacy.max_grad_norm,
        n_records=n,
        expected_batch_size=n * q_used,
        epochs=privacy.epochs,
        empty_batches=sum(t.empty for t in tallies),
        mode=privacy.grad_sample_mode,
        secure_mode=privacy.secure_mode,
        target_epsilon=privacy.target_epsilon,
    )
    _log.info(
        "DP-SGD spent epsilon=%.4f at delta=%.3g (q=%.6g, sigma=%.4f, %d steps)",
        spent.epsilon, delta, q_used, sigma_used, steps_used,
    )
    trained.eval()
    return DPFitResult(
        model=trained,
        spent=spent,
        losses=tuple(t.epoch_loss() for t in tallies),
        model_changes=validated.changes,
    )


def train_mlp_dp(data: PreparedData, train: TrainConfig, privacy: PrivacyConfig, *, rng: RandomLike) -> DPFitResult:
    """Build the reference MLP for ``data`` and train it with DP-SGD on the training split.

    Parameters
    ----------
    data : PreparedData
    train : TrainConfig
        Architecture (``hidden``) and target (``multiclass``); the optimisation settings of a
        DP run come from ``privacy`` (batch size, epochs, lr, optimizer).
    privacy : PrivacyConfig
    rng : int, numpy.random.Generator or None
        Seeds the initial weights, the sampler and the noise.

    Returns
    -------
    DPFitResult
    """
    gen = as_generator(rng)
    n_out = len(data.family_names) if train.multiclass else 1
    model = build_mlp(len(data.feature_names), hidden=train.hidden, n_outputs=n_out, seed=child_seed(gen) % (2**31))
    y = data.family_index(data.train.families) if train.multiclass else data.train.y
    return dp_fit(model, data.train.X, y, privacy=privacy, rng=gen, multiclass=train.multiclass)
