"""DP-SGD really clips and really adds noise; accounting describes exactly what ran."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_synthetic, shared_path
from torch import nn

from privids.config import PrivacyConfig, TrainConfig
from privids.exceptions import ModelError, PrivacyError
from privids.models.mlp import build_mlp
from privids.privacy.accounting import epsilon_for, noise_for_epsilon
from privids.privacy.dp_sgd import dp_fit, train_mlp_dp

MODES = ["ghost", "hooks", "linear"]


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _clipped_mean_grad(model: nn.Module, X: np.ndarray, y: np.ndarray, C: float) -> torch.Tensor:
    # Oracle: clip each example's gradient on its own, then average over the batch.
    total = torch.zeros_like(_flat(model))
    for i in range(len(X)):
        model.zero_grad()
        out = model(torch.as_tensor(X[i : i + 1])).reshape(-1)
        nn.functional.binary_cross_entropy_with_logits(out, torch.as_tensor(y[i : i + 1], dtype=torch.float32)).backward()
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        total += g * min(1.0, C / (float(g.norm()) + 1e-6))
    return total / len(X)


def _tiny(n: int = 40, f: int = 4, scale: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, f)) * scale).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return X, y


@pytest.mark.parametrize("mode", MODES)
def test_update_is_clipped_mean_plus_gaussian_noise_of_sigma_c_over_batch(mode: str) -> None:
    # Arrange: q = 1 (batch = n) so every step sees the whole batch; one SGD step with lr = 1
    # makes the update equal to -(clipped sum + noise) / n.
    X, y = _tiny()
    n, sigma, C = len(X), 1.0, 1.0
    cfg = PrivacyConfig(
        noise_multiplier=sigma, max_grad_norm=C, batch_size=n, epochs=1, lr=1.0, delta=1e-3, grad_sample_mode=mode
    )
    start = build_mlp(4, hidden=(3,), seed=5)
    theta0 = _flat(start)
    clipped = _clipped_mean_grad(build_mlp(4, hidden=(3,), seed=5), X, y, C)
    seeds = range(40)
    # Act
    updates = torch.stack([_flat(dp_fit(start, X, y, privacy=cfg, rng=s).model) - theta0 for s in seeds])
    residual = updates + clipped  # what is left once the clipped signal is removed: the noise / n
    # Assert: noise std is sigma*C/n (pooled over parameters and seeds), centred on the clipped mean
    expected_std = sigma * C / n
    assert float(residual.std()) == pytest.approx(expected_std, rel=0.08)
    assert abs(float(residual.mean())) < 4 * expected_std / np.sqrt(residual.numel())
    # The inputs are large, so clipping binds: the unclipped mean gradient is far from the updates.
    unclipped = _clipped_mean_grad(build_mlp(4, hidden=(3,), seed=5), X, y, 1e9)
    assert float((unclipped - clipped).norm()) > 10 * expected_std


def test_modes_give_the_same_trajectory_with_noise_on(synthetic_data) -> None:
    # Same seed -> same Poisson draws and the same noise stream; only clipping code differs.
    cfg = dict(batch_size=32, epochs=2, lr=0.1, noise_multiplier=1.0)
    finals = {
        m: _flat(train_mlp_dp(synthetic_data, TrainConfig(), PrivacyConfig(grad_sample_mode=m, **cfg), rng=3).model)
        for m in MODES
    }
    assert torch.allclose(finals["ghost"], finals["hooks"], atol=1e-4)
    assert torch.allclose(finals["linear"], finals["hooks"], atol=1e-4)


def test_auto_mode_picks_linear_for_the_mlp(synthetic_data) -> None:
    res = train_mlp_dp(synthetic_data, TrainConfig(), PrivacyConfig(batch_size=64, epochs=1), rng=0)
    assert res.spent.mode == "linear"


def _case14() -> tuple[np.ndarray, np.ndarray]:
    path = shared_path("cases", "14-opacus-empty-poisson-batch", "tiny_client.csv")
    df = pd.read_csv(path)
    df.columns = [c.strip() for c in df.columns]
    y = (df.pop("Label").str.strip() != "BENIGN").to_numpy(np.int64)
    raw = np.log1p(np.abs(df.to_numpy(np.float64)))
    X = (raw - raw.mean(0)) / (raw.std(0) + 1e-9)
    return X.astype(np.float32), y


@pytest.mark.shared
@pytest.mark.parametrize("mode", MODES)
def test_case14_empty_poisson_batches_are_trained_and_accounted(mode: str) -> None:
    # Arrange: 12 flows, expected batch 1 -> q = 1/12, 3 epochs -> 36 steps, ~35% of them empty.
    X, y = _case14()
    cfg = PrivacyConfig(batch_size=1, epochs=3, grad_sample_mode=mode)
    empties = 0
    for seed in range(10):
        # Act
        res = dp_fit(build_mlp(X.shape[1], hidden=(8,), seed=seed), X, y, privacy=cfg, rng=seed)
        s = res.spent
        # Assert
        assert (s.steps, s.sample_rate, s.delta) == (36, pytest.approx(1 / 12), pytest.approx(1 / 120))
        assert s.epsilon == pytest.approx(
            epsilon_for(sample_rate=1 / 12, noise_multiplier=1.1, steps=36, delta=1 / 120), rel=1e-9
        )
        assert all(np.isfinite(res.losses)) and len(res.losses) == 3
        assert all(np.isfinite(_flat(res.model).numpy()))
        empties += s.empty_batches
    assert 60 <= empties <= 200  # about 12.7 expected per seed


@pytest.mark.parametrize("mode", ["ghost", "linear"])
def test_target_epsilon_is_calibrated_and_met(mode: str, synthetic_data) -> None:
    # Arrange
    cfg = PrivacyConfig(target_epsilon=2.0, noise_multiplier=None, batch_size=32, epochs=2, grad_sample_mode=mode)
    # Act
    res = train_mlp_dp(synthetic_data, TrainConfig(), cfg, rng=0)
    s = res.spent
    # Assert
    assert 1.98 <= s.epsilon <= 2.0
    sigma = noise_for_epsilon(target_epsilon=2.0, sample_rate=s.sample_rate, steps=s.steps, delta=s.delta, accountant="rdp")
    assert s.noise_multiplier == pytest.approx(sigma, rel=1e-9)
    assert s.target_epsilon == 2.0


def test_prv_accountant_is_recorded(synthetic_data) -> None:
    res = train_mlp_dp(synthetic_data, TrainConfig(), PrivacyConfig(batch_size=64, epochs=1, accountant="prv"), rng=0)
    assert res.spent.accountant == "prv"
    assert res.spent.recompute_epsilon() == pytest.approx(res.spent.epsilon, rel=1e-9)


def test_dp_mlp_still_detects_on_separable_data() -> None:
    data = make_synthetic(n=3000, seed=1)
    cfg = PrivacyConfig(batch_size=128, epochs=4, lr=0.5, noise_multiplier=1.0)
    res = train_mlp_dp(data, TrainConfig(), cfg, rng=0)
    with torch.no_grad():
        pred = res.model(torch.as_tensor(data.test.X)).reshape(-1).numpy() > 0
    assert (pred == data.test.y.astype(bool)).mean() > 0.85
    assert res.spent.epsilon < 10


def test_delta_at_one_over_n_is_refused() -> None:
    X, y = _tiny(n=100)
    with pytest.raises(PrivacyError, match=r"delta must be below 1/n = 0\.01 for n = 100"):
        dp_fit(build_mlp(4), X, y, privacy=PrivacyConfig(delta=0.01, batch_size=10), rng=0)


def test_batch_larger_than_data_is_refused() -> None:
    X, y = _tiny(n=20)
    with pytest.raises(PrivacyError, match="at most n = 20"):
        dp_fit(build_mlp(4), X, y, privacy=PrivacyConfig(batch_size=64), rng=0)


def test_zero_noise_is_refused() -> None:
    X, y = _tiny()
    with pytest.raises(PrivacyError, match="no privacy"):
        dp_fit(build_mlp(4), X, y, privacy=PrivacyConfig(noise_multiplier=0.0, batch_size=8), rng=0)


def test_secure_mode_without_secure_generator_is_refused() -> None:
    pytest.importorskip("torch")
    try:
        import torchcsprng  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torchcsprng is installed")
    X, y = _tiny()
    with pytest.raises(PrivacyError, match="torchcsprng"):
        dp_fit(build_mlp(4), X, y, privacy=PrivacyConfig(secure_mode=True, batch_size=8), rng=0)


def _case16_model() -> nn.Module:
    spec = json.loads(shared_path("cases", "16-opacus-batchnorm", "model_spec.json").read_text())
    layers: dict[str, nn.Module] = {}
    for layer in spec["layers"]:
        kind = layer["type"]
        if kind == "Linear":
            layers[layer["name"]] = nn.Linear(layer["in"], layer["out"])
        elif kind == "BatchNorm1d":
            layers[layer["name"]] = nn.BatchNorm1d(layer["num_features"])
        elif kind == "ReLU":
            layers[layer["name"]] = nn.ReLU(inplace=layer.get("inplace", False))
    return nn.Sequential(OrderedDict(layers))


@pytest.mark.shared
@pytest.mark.parametrize("mode", ["auto", "ghost", "hooks"])
def test_case16_batchnorm_model_is_fixed_and_trains_privately(mode: str) -> None:
    # Arrange: 78 features, 15 classes, BatchNorm1d + ReLU(inplace=True)
    model = _case16_model()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 78)).astype(np.float32)
    y = rng.integers(0, 15, 300)
    # Act
    res = dp_fit(model, X, y, privacy=PrivacyConfig(batch_size=32, epochs=1, grad_sample_mode=mode), rng=0, multiclass=True)
    # Assert
    assert "bn1: BatchNorm1d(64) -> GroupNorm(32, 64)" in res.model_changes
    assert any(c.startswith("act1: ReLU(inplace=True)") for c in res.model_changes)
    assert isinstance(res.model.bn1, nn.GroupNorm) and not res.model.act1.inplace
    assert res.spent.mode == "ghost" if mode == "auto" else mode
    assert isinstance(model.bn1, nn.BatchNorm1d)  # the caller's model is untouched
    assert res.spent.epsilon > 0 and np.isfinite(res.spent.epsilon)


@pytest.mark.shared
def test_case16_refuses_batchnorm_naming_the_layer_when_fix_is_off() -> None:
    X = np.zeros((50, 78), dtype=np.float32)
    with pytest.raises(ModelError, match=r"'bn1' is BatchNorm1d\(64\).*fix_batchnorm=True"):
        dp_fit(_case16_model(), X, np.zeros(50, dtype=np.int64), privacy=PrivacyConfig(batch_size=8, fix_batchnorm=False), rng=0)


@pytest.mark.parametrize("extra", [dict(lr_schedule="cosine"), dict(ema_decay=0.9)], ids=["cosine", "ema"])
def test_post_processing_options_change_the_model_not_the_epsilon(extra: dict, synthetic_data) -> None:
    # Arrange
    cfg = PrivacyConfig(batch_size=32, epochs=2, lr=0.5, noise_multiplier=1.0)
    # Act
    plain = train_mlp_dp(synthetic_data, TrainConfig(), cfg, rng=1)
    other = train_mlp_dp(synthetic_data, TrainConfig(), PrivacyConfig(**(cfg.__dict__ | extra)), rng=1)
    # Assert: same draws and noise, so the same accounting, but the weights differ
    assert other.spent.epsilon == plain.spent.epsilon and other.spent.steps == plain.spent.steps
    assert not torch.allclose(_flat(other.model), _flat(plain.model), atol=1e-4)


def test_cosine_schedule_ends_near_zero_learning_rate() -> None:
    # The last update of a cosine run is tiny: train one more epoch at lr ~ 0 and nothing moves much.
    X, y = _tiny(n=64)
    cfg = PrivacyConfig(batch_size=64, epochs=4, lr=1.0, noise_multiplier=1.0, delta=1e-3, lr_schedule="cosine")
    from privids.privacy.dp_loops import _AfterStep

    model = build_mlp(4, hidden=(3,))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    after = _AfterStep(model, opt, cfg, total_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradients: a no-op that keeps the scheduler order torch expects
        after()
    assert lrs == pytest.approx([1.0, 0.5 * (1 + np.cos(np.pi / 4)), 0.5, 0.5 * (1 + np.cos(3 * np.pi / 4))])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.shared
def test_case14_empty_steps_add_the_same_noise_in_every_mode() -> None:
    # The linear loop adds noise on an empty batch explicitly; equal weights show the Opacus
    # paths do too (a skipped empty step would leave the weights behind by one noise draw).
    X, y = _case14()
    cfg = dict(batch_size=1, epochs=3)
    finals = {}
    for mode in MODES:
        res = dp_fit(build_mlp(X.shape[1], hidden=(8,), seed=0), X, y, privacy=PrivacyConfig(grad_sample_mode=mode, **cfg), rng=0)
        assert res.spent.empty_batches > 0
        finals[mode] = _flat(res.model)
    assert torch.allclose(finals["ghost"], finals["linear"], atol=1e-5)
    assert torch.allclose(finals["hooks"], finals["linear"], atol=1e-5)


def test_multiclass_head_trains_identically_in_linear_and_hooks_mode(synthetic_data) -> None:
    cfg = dict(batch_size=32, epochs=1, lr=0.2, noise_multiplier=1.0)
    train = TrainConfig(multiclass=True)
    lin = train_mlp_dp(synthetic_data, train, PrivacyConfig(grad_sample_mode="linear", **cfg), rng=2)
    hooks = train_mlp_dp(synthetic_data, train, PrivacyConfig(grad_sample_mode="hooks", **cfg), rng=2)
    assert lin.model.n_outputs == len(synthetic_data.family_names)
    assert torch.allclose(_flat(lin.model), _flat(hooks.model), atol=1e-4)
    assert lin.spent == dataclasses.replace(hooks.spent, mode="linear")


def test_non_finite_epsilon_is_refused_before_training(monkeypatch) -> None:
    # A tiny sigma whose accountant gives epsilon = inf must fail before any step, not at save time.
    import privids.privacy.dp_sgd as dp_sgd

    X, y = _tiny()
    monkeypatch.setattr(dp_sgd, "epsilon_for", lambda **k: math.inf)
    monkeypatch.setattr(dp_sgd, "fit_linear", lambda *a, **k: pytest.fail("trained despite an infinite epsilon"))
    with pytest.raises(PrivacyError, match="no finite epsilon for noise multiplier 0.01.*--noise-multiplier"):
        dp_fit(build_mlp(4), X, y, privacy=PrivacyConfig(noise_multiplier=0.01, batch_size=8), rng=0)


def test_vanishing_noise_under_prv_is_refused_on_the_fast_rdp_bound_before_training():
    """Regression: sigma 0.01 with PRV spent minutes in accounting; the RDP bound refuses it at once."""
    import numpy as np

    from privids.config import PrivacyConfig
    from privids.exceptions import PrivacyError
    from privids.models.mlp import build_mlp
    from privids.privacy import dp_fit

    X = np.random.default_rng(0).normal(size=(500, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cfg = PrivacyConfig(noise_multiplier=0.01, batch_size=50, accountant="prv", epochs=1)
    with pytest.raises(PrivacyError, match=r"RDP bound.*no meaningful privacy"):
        dp_fit(build_mlp(4, hidden=(8,)), X, y, privacy=cfg, rng=0)
