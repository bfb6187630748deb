"""DP-SGD training over Opacus: Poisson sampling, per-sample clipping, Gaussian noise, exact accounting."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
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
from privids.privacy.linear_clip import LinearTape, clipped_backward
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


def _criterion(multiclass: bool) -> nn.Module:
    return nn.CrossEntropyLoss() if multiclass else nn.BCEWithLogitsLoss()


def _targets(y: np.ndarray, multiclass: bool) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y))
    return t.long() if multiclass else t.float()


def _logits(model: nn.Module, X: torch.Tensor, multiclass: bool) -> torch.Tensor:
    out = model(X)
    return out if multiclass else out.reshape(-1)


def _optimizer(model: nn.Module, privacy: PrivacyConfig) -> torch.optim.Optimizer:
    if privacy.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=privacy.lr)
    return torch.optim.SGD(model.parameters(), lr=privacy.lr, momentum=privacy.momentum)


def _require_secure_rng() -> None:
    try:
        import torchcsprng  # noqa: F401
    except ImportError as e:
        raise PrivacyError(
            "secure_mode=True needs a cryptographically secure generator; got no 'torchcsprng' package. "
            "Install torchcsprng, or train with secure_mode=False (fine for experiments, not for a release)."
        ) from e


class _WeightAverage:
    """Exponential moving average of the parameters over steps.

    Averaging iterates is post-processing of the private updates, so it costs no privacy, and
    it damps the injected noise (De et al., 2022, "Unlocking High-Accuracy Differentially
    Private Image Classification through Scale").
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = list(model.parameters())
        self.shadow = [p.detach().clone() for p in self.params]

    def update(self) -> None:
        with torch.no_grad():
            for s, p in zip(self.shadow, self.params, strict=True):
                s.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)

    def apply(self) -> None:
        with torch.no_grad():
            for s, p in zip(self.shadow, self.params, strict=True):
                p.copy_(s)


class _AfterStep:
    """What runs after every optimizer step, empty ones included: LR schedule and weight averaging.

    Both only transform already-privatised updates (post-processing), so neither changes epsilon.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, privacy: PrivacyConfig, total_steps: int) -> None:
        self.average = _WeightAverage(model, privacy.ema_decay) if privacy.ema_decay else None
        self.schedule: torch.optim.lr_scheduler.LRScheduler | None = None
        if privacy.lr_schedule == "cosine":
            horizon = max(1, total_steps)
            self.schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, horizon) / horizon))
            )

    def __call__(self) -> None:
        if self.schedule is not None:
            self.schedule.step()
        if self.average is not None:
            self.average.update()

    def finish(self) -> None:
        if self.average is not None:
            self.average.apply()


@dataclass
class _Tally:
    steps: int = 0
    empty: int = 0
    loss_sum: float = 0.0
    seen: int = 0

    def epoch_loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else float("nan")


def _fit_opacus(
    model: nn.Module,
    loader: DataLoader,
    *,
    privacy: PrivacyConfig,
    multiclass: bool,
    sigma: float | None,
    delta: float,
    noise_gen: torch.Generator | None,
) -> tuple[nn.Module, float, list[tuple[float, float, int]], list[_Tally]]:
    from opacus import PrivacyEngine

    with warnings.catch_warnings():
        # Opacus warns on every engine without secure RNG; secure_mode is recorded in PrivacySpent instead.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Optimal order is the")
        engine = PrivacyEngine(accountant=privacy.accountant, secure_mode=privacy.secure_mode)
        optimizer = _optimizer(model, privacy)
        common = dict(
            module=model,
            optimizer=optimizer,
            criterion=_criterion(multiclass),
            data_loader=loader,
            max_grad_norm=privacy.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode=privacy.grad_sample_mode,
            noise_generator=noise_gen,
        )
        if sigma is None:
            made = engine.make_private_with_epsilon(
                target_epsilon=privacy.target_epsilon, target_delta=delta, epochs=privacy.epochs, **common
            )
        else:
            made = engine.make_private(noise_multiplier=sigma, **common)
    if privacy.grad_sample_mode == "ghost":
        private_model, dp_optimizer, criterion, dp_loader = made
    else:
        private_model, dp_optimizer, dp_loader = made
        criterion = _criterion(multiclass)
    tallies: list[_Tally] = []
    private_model.train()
    with warnings.catch_warnings():
        # torch notes that the first layer's input needs no grad; Opacus hooks on outputs are what we want.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        after = _AfterStep(model, dp_optimizer, privacy, privacy.epochs * len(dp_loader))
        for _ in range(privacy.epochs):
            tallies.append(_opacus_epoch(private_model, dp_optimizer, criterion, dp_loader, multiclass, after))
        after.finish()
    history = [tuple(h) for h in engine.accountant.history]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the")
        eps = float(engine.accountant.get_epsilon(delta=delta))
    used_sigma = float(dp_optimizer.noise_multiplier)
    inner = private_model._module if hasattr(private_model, "_module") else private_model
    if hasattr(private_model, "_close"):
        private_model._close()
    return inner, eps, [(float(s), float(q), int(k)) for s, q, k in history] or [(used_sigma, 0.0, 0)], tallies


def _opacus_epoch(
    private_model: nn.Module,
    dp_optimizer: torch.optim.Optimizer,
    criterion: Callable,
    loader: DataLoader,
    multiclass: bool,
    after: _AfterStep,
) -> _Tally:
    tally = _Tally()
    for xb, yb in loader:
        dp_optimizer.zero_grad()
        if xb.shape[0] == 0:
            # No example drawn: the optimizer still adds noise and the accountant counts the step
            # (opacus PR#530); there is no loss to back-propagate.
            _empty_step(private_model, dp_optimizer)
            tally.empty += 1
        else:
            loss = criterion(_logits(private_model, xb, multiclass), yb)
            loss.backward()
            dp_optimizer.step()
            tally.loss_sum += float(loss.detach()) * xb.shape[0]
            tally.seen += xb.shape[0]
        tally.steps += 1
        after()
    return tally


def _empty_step(private_model: nn.Module, dp_optimizer: torch.optim.Optimizer) -> None:
    # Opacus' clip_and_accumulate treats zero-length grad samples as an empty batch: zero signal,
    # full noise, one accounted step. Ghost mode keeps norms instead of grad samples.
    for p in private_model.parameters():
        if not p.requires_grad:
            continue
        p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        p._norm_sample = torch.zeros((0,), dtype=p.dtype)
        p.grad = torch.zeros_like(p)
    dp_optimizer.step()


def _fit_linear(
    model: nn.Module,
    loader: DataLoader,
    *,
    privacy: PrivacyConfig,
    multiclass: bool,
    sigma: float,
    sample_rate: float,
    n: int,
    noise_gen: torch.Generator,
) -> tuple[nn.Module, list[tuple[float, float, int]], list[_Tally]]:
    from opacus.accountants import create_accountant

    if privacy.secure_mode:
        raise PrivacyError(
            "secure_mode=True is only wired through Opacus' optimizer; got grad_sample_mode='linear'. "
            "Use grad_sample_mode='ghost' with secure_mode."
        )
    accountant = create_accountant(mechanism=privacy.accountant)
    optimizer = _optimizer(model, privacy)
    tape = LinearTape(model)
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    if multiclass:
        loss_fn = lambda out, t: nn.functional.cross_entropy(out, t, reduction="none")  # noqa: E731
    else:
        loss_fn = lambda out, t: nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), t, reduction="none")  # noqa: E731
    expected = n * sample_rate
    std = sigma * privacy.max_grad_norm
    tallies: list[_Tally] = []
    model.train()
    after = _AfterStep(model, optimizer, privacy, privacy.epochs * len(loader))
    try:
        for _ in range(privacy.epochs):
            tally = _Tally()
            for xb, yb in loader:
                step = clipped_backward(model, tape, xb, yb, loss_fn, max_grad_norm=privacy.max_grad_norm)
                with torch.no_grad():
                    for p in model.parameters():
                        noise = torch.normal(0.0, std, size=p.shape, generator=noise_gen, dtype=p.dtype)
                        p.grad.add_(noise).div_(expected)
                optimizer.step()
                accountant.step(noise_multiplier=sigma, sample_rate=sample_rate)
                after()
                tally.steps += 1
                tally.empty += step.batch_size == 0
                tally.loss_sum += step.loss_sum
                tally.seen += step.batch_size
            tallies.append(tally)
    finally:
        tape.remove()
    after.finish()
    return model, [(float(s), float(q), int(k)) for s, q, k in accountant.history], tallies


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
        privacy = replace(privacy, grad_sample_mode="linear" if linear_only(work) else "ghost")
    gen = as_generator(rng)
    sample_gen = torch_generator(child_seed(gen))
    noise_gen = torch_generator(child_seed(gen))
    dataset = TensorRows(torch.as_tensor(np.asarray(X, dtype=np.float32)), _targets(y, multiclass))
    base = DataLoader(dataset, batch_size=privacy.batch_size, collate_fn=_as_batch, generator=sample_gen)
    sample_rate = 1.0 / len(base)

    if privacy.grad_sample_mode == "linear":
        from opacus.data_loader import DPDataLoader

        loader = DPDataLoader.from_data_loader(base, generator=sample_gen)
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
        trained, history, tallies = _fit_linear(
            work, loader, privacy=privacy, multiclass=multiclass, sigma=sigma, sample_rate=sample_rate, n=n, noise_gen=noise_gen
        )
        eps = None
    else:
        sigma_arg = None if privacy.target_epsilon is not None else float(privacy.noise_multiplier)  # type: ignore[arg-type]
        trained, eps, history, tallies = _fit_opacus(
            work,
            base,
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
    _log.info("DP-SGD spent epsilon=%.4f at delta=%.3g (q=%.6g, sigma=%.4f, %d steps)", spent.epsilon, delta, q_used, sigma_used, steps_used)
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
