"""The DP-SGD training loops: Opacus (ghost/hooks) and exact Linear clipping, plus post-processing hooks."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from privids.config import PrivacyConfig
from privids.exceptions import PrivacyError
from privids.privacy.linear_clip import LinearTape, clipped_backward
from privids.privacy.poisson import PoissonBatches

__all__ = ["fit_linear", "fit_opacus"]


def _criterion(multiclass: bool) -> nn.Module:
    return nn.CrossEntropyLoss() if multiclass else nn.BCEWithLogitsLoss()


def _logits(model: nn.Module, X: torch.Tensor, multiclass: bool) -> torch.Tensor:
    out = model(X)
    return out if multiclass else out.reshape(-1)


def _bce_per_sample(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), t, reduction="none")


def _ce_per_sample(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, t, reduction="none")


def _optimizer(model: nn.Module, privacy: PrivacyConfig) -> torch.optim.Optimizer:
    if privacy.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=privacy.lr)
    return torch.optim.SGD(model.parameters(), lr=privacy.lr, momentum=privacy.momentum)


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

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, privacy: PrivacyConfig, total_steps: int
    ) -> None:
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


def fit_opacus(
    model: nn.Module,
    loader: DataLoader | PoissonBatches,
    *,
    poisson_sampling: bool,
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
            # False when the loader already is our exact Poisson sampler; Opacus then accounts
            # q = 1 / len(loader), the rate that loader draws with.
            poisson_sampling=poisson_sampling,
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
    loader: DataLoader | PoissonBatches,
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


def fit_linear(
    model: nn.Module,
    loader: PoissonBatches,
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
    loss_fn = _ce_per_sample if multiclass else _bce_per_sample
    expected = n * sample_rate
    std = sigma * privacy.max_grad_norm
    tallies: list[_Tally] = []
    model.train()
    after = _AfterStep(model, optimizer, privacy, privacy.epochs * len(loader))
    params = list(model.parameters())
    try:
        for _ in range(privacy.epochs):
            tally = _Tally()
            for xb, yb in loader:
                step = clipped_backward(model, tape, xb, yb, loss_fn, max_grad_norm=privacy.max_grad_norm)
                with torch.no_grad():
                    for p in params:
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
