"""Frozen configuration dataclasses, one per concern, composed into :class:`RunConfig`.

Configs are resolved once at the CLI edge (flags and ``study.toml``) and passed down; library
code never reads files or environment variables to find its settings.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from privids.exceptions import ConfigError

__all__ = [
    "AttackConfig",
    "DataConfig",
    "FederatedConfig",
    "PrivacyConfig",
    "RunConfig",
    "STUDY_FEDERATED",
    "STUDY_PRIVACY",
    "TrainConfig",
    "config_to_dict",
    "load_run_config",
]


def _choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}; got {value!r}.")


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"{name} must be {bound}; got {value!r}.")


@dataclass(frozen=True)
class DataConfig:
    """How flow files are read, cleaned, split and scaled.

    Parameters
    ----------
    nonfinite : {"drop", "impute"}, default="drop"
        Rows with Infinity/NaN rates are dropped (the reference notebook's choice) or the cells
        are capped/imputed from training statistics.
    log_transform : bool, default=True
        Apply a signed ``log1p`` to heavy-tailed counts before standardisation.
    split : {"stratified", "time"}, default="stratified"
        Stratified 70/15/15 split, or a split by capture time (day/time order).
    fractions : tuple of float, default=(0.70, 0.15, 0.15)
        Train / validation / test fractions.
    rare_policy : {"train-only", "error", "drop"}, default="train-only"
        What to do with classes too small to stratify.
    dedup : bool, default=True
        Remove exact duplicate flows before splitting.
    use_destination_port : bool, default=True
        Keep ``Destination Port`` as a feature (it names the service; source ports, IPs, flow IDs
        and timestamps are never features).
    cache_dir : str or None, default=None
        Where the content-keyed Parquet cache lives (None: ``~/.cache/privids``).
    cache : bool, default=True
        Use the content-keyed cache at all (off: every load parses the files).
    seed : int, default=42
    """

    nonfinite: str = "drop"
    log_transform: bool = True
    split: str = "stratified"
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    rare_policy: str = "train-only"
    dedup: bool = True
    use_destination_port: bool = True
    cache_dir: str | None = None
    cache: bool = True
    seed: int = 42

    def __post_init__(self) -> None:
        _choice("data.nonfinite", self.nonfinite, ("drop", "impute"))
        _choice("data.split", self.split, ("stratified", "time"))
        _choice("data.rare_policy", self.rare_policy, ("train-only", "error", "drop"))
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) <= 0:
            raise ConfigError(f"data.fractions must be three positive numbers summing to 1; got {self.fractions!r}.")


@dataclass(frozen=True)
class TrainConfig:
    """Centralised training of the MLP or the tree model.

    Parameters
    ----------
    model : {"mlp", "gbt"}, default="mlp"
    hidden : tuple of int, default=(64, 64)
        Hidden layer widths of the MLP (reference design: 78 -> 64 -> 64 -> 1).
    multiclass : bool, default=False
        Train a head over attack families instead of the binary BENIGN/attack target.
    optimizer : {"sgd", "adam"}, default="adam"
    lr : float, default=3e-3
    momentum : float, default=0.0
    batch_size : int, default=128
    epochs : int, default=20
        Adam 3e-3 / batch 128 / 20 epochs was chosen on the validation split of the real
        MachineLearningCVE samples (docs/models.md); the reference notebook's SGD 0.01 / 256 / 5
        is ``privids train --reference``.
    threshold : {"f1", "fpr"}, default="f1"
        How the decision threshold is picked on the validation split.
    target_fpr : float, default=0.01
        Used when ``threshold == "fpr"``.
    gbt_estimators : int, default=300
    gbt_leaves : int, default=63
    gbt_lr : float, default=0.1
    seed : int, default=42
    anomaly_feature : bool, default=False
        Append the benign-distance anomaly score, fitted on the benign training flows only.
    anomaly_clusters : int, default=8
        k-means centres of that score.
    temporal : bool, default=False
        Append per-source sliding-window features (needs timestamps and source addresses).
    temporal_windows : tuple of float, default=(60.0, 300.0)
        Window lengths in seconds for ``temporal``.
    """

    model: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    multiclass: bool = False
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.0
    batch_size: int = 128
    epochs: int = 20
    threshold: str = "f1"
    target_fpr: float = 0.01
    gbt_estimators: int = 300
    gbt_leaves: int = 63
    gbt_lr: float = 0.1
    seed: int = 42
    anomaly_feature: bool = False
    anomaly_clusters: int = 8
    temporal: bool = False
    temporal_windows: tuple[float, ...] = (60.0, 300.0)

    def __post_init__(self) -> None:
        _choice("train.model", self.model, ("mlp", "gbt"))
        _positive("train.anomaly_clusters", self.anomaly_clusters)
        if not self.temporal_windows or min(self.temporal_windows) <= 0:
            raise ConfigError(f"train.temporal_windows must be positive seconds; got {self.temporal_windows!r}.")
        _choice("train.optimizer", self.optimizer, ("sgd", "adam"))
        _choice("train.threshold", self.threshold, ("f1", "fpr"))
        _positive("train.lr", self.lr)
        _positive("train.batch_size", self.batch_size)
        _positive("train.epochs", self.epochs)
        if not 0 < self.target_fpr < 1:
            raise ConfigError(f"train.target_fpr must be in (0, 1); got {self.target_fpr!r}.")


@dataclass(frozen=True)
class PrivacyConfig:
    """Record-level DP-SGD settings (Opacus).

    Parameters
    ----------
    noise_multiplier : float or None, default=1.1
        Gaussian noise sigma relative to the clipping norm; ignored when ``target_epsilon`` is set.
    target_epsilon : float or None, default=None
        Calibrate sigma so that the whole run spends exactly this budget.
    max_grad_norm : float, default=1.0
        Per-sample clipping norm C.
    delta : float or None, default=None
        None means ``1 / (10 n)``; a delta >= 1/n is refused.
    accountant : {"rdp", "prv"}, default="rdp"
    grad_sample_mode : {"auto", "ghost", "hooks", "linear"}, default="auto"
        ``linear``: privids' exact one-pass clipping for Linear-only models (fastest);
        ``auto``: ``linear`` when every parameter is in an nn.Linear, else Opacus ``ghost``.
    secure_mode : bool, default=False
        Cryptographically secure noise (slower; for production releases).
    batch_size : int, default=256
        Expected Poisson batch size (the reference notebook's 256); the sample rate is ``batch_size / n``.
    epochs : int, default=5
    lr : float, default=0.01
    optimizer : {"sgd", "adam"}, default="sgd"
    momentum : float, default=0.0
    fix_batchnorm : bool, default=True
        Replace BatchNorm by GroupNorm before DP training (logged); False refuses such a model.
    ema_decay : float or None, default=None
        Keep an exponential moving average of the weights (post-processing: no privacy cost).
    lr_schedule : {"constant", "cosine"}, default="constant"
    """

    noise_multiplier: float | None = 1.1
    target_epsilon: float | None = None
    max_grad_norm: float = 1.0
    delta: float | None = None
    accountant: str = "rdp"
    grad_sample_mode: str = "auto"
    secure_mode: bool = False
    batch_size: int = 256
    epochs: int = 5
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.0
    fix_batchnorm: bool = True
    ema_decay: float | None = None
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        _choice("privacy.accountant", self.accountant, ("rdp", "prv"))
        _choice("privacy.grad_sample_mode", self.grad_sample_mode, ("auto", "ghost", "hooks", "linear"))
        _choice("privacy.optimizer", self.optimizer, ("sgd", "adam"))
        _choice("privacy.lr_schedule", self.lr_schedule, ("constant", "cosine"))
        _positive("privacy.max_grad_norm", self.max_grad_norm)
        _positive("privacy.batch_size", self.batch_size)
        _positive("privacy.epochs", self.epochs)
        if self.target_epsilon is None and self.noise_multiplier is None:
            raise ConfigError("privacy needs noise_multiplier or target_epsilon; got neither.")
        if self.target_epsilon is not None:
            _positive("privacy.target_epsilon", self.target_epsilon)
        if self.noise_multiplier is not None:
            _positive("privacy.noise_multiplier", self.noise_multiplier, allow_zero=True)
        if self.delta is not None and not 0 < self.delta < 1:
            raise ConfigError(f"privacy.delta must be in (0, 1); got {self.delta!r}.")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ConfigError(f"privacy.ema_decay must be in [0, 1); got {self.ema_decay!r}. Try 0.99, or leave it unset.")


@dataclass(frozen=True)
class FederatedConfig:
    """A Flower federation of organisations.

    Parameters
    ----------
    clients : int, default=5
    rounds : int, default=5
    partition : str, default="iid"
        ``iid``, ``day``, ``family`` or ``dirichlet:ALPHA``.
    local_epochs : int, default=1
    lr : float, default=1e-3
    batch_size : int, default=256
    strategy : str, default="fedavg"
    central_dp : bool, default=False
        DP-FedAvg: clip each client update and add Gaussian noise at the server.
    dp_noise_multiplier : float, default=1.0
    dp_clipping_norm : float, default=1.0
    local_dp : bool, default=False
        Record-level DP-SGD inside each client.
    min_clients : int or None, default=None
        None: all clients must answer.
    seed : int, default=42
    """

    clients: int = 5
    rounds: int = 5
    partition: str = "iid"
    local_epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 256
    strategy: str = "fedavg"
    central_dp: bool = False
    dp_noise_multiplier: float = 1.0
    dp_clipping_norm: float = 1.0
    local_dp: bool = False
    min_clients: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        _positive("federated.clients", self.clients)
        _positive("federated.rounds", self.rounds)
        head = self.partition.split(":", 1)[0]
        _choice("federated.partition", head, ("iid", "day", "family", "dirichlet"))
        if head == "dirichlet":
            try:
                alpha = float(self.partition.split(":", 1)[1])
            except (IndexError, ValueError) as e:
                raise ConfigError(
                    f"federated.partition 'dirichlet' needs an alpha, e.g. 'dirichlet:0.5'; got {self.partition!r}."
                ) from e
            _positive("federated.partition alpha", alpha)


@dataclass(frozen=True)
class AttackConfig:
    """Adversarial evaluation settings.

    Parameters
    ----------
    malicious : tuple of (int, int), default=((1, 5), (2, 10))
        (attackers, clients) settings evaluated.
    attacks : tuple of str, default=("label_flip", "sign_flip", "scale", "backdoor")
    defences : tuple of str
        Aggregators and defences compared.
    scale_factor : float, default=10.0
    membership_samples : int, default=2000
        Members and non-members per membership-inference evaluation.
    rounds : int, default=5
        Federated rounds per cell of the attack x defence matrix.
    local_epochs : int, default=1
    local_lr : float, default=0.01
    local_batch_size : int, default=64
        Local training of every organisation in the matrix: one short epoch per round keeps the
        many federations of the matrix affordable, and lr 0.01 at batch 64 trains the clean
        FedAvg model to within a few F1 points of the centralised one (docs/attacks.md).
    """

    malicious: tuple[tuple[int, int], ...] = ((1, 5), (2, 10))
    attacks: tuple[str, ...] = ("label_flip", "sign_flip", "scale", "backdoor")
    defences: tuple[str, ...] = ("fedavg", "krum", "multikrum", "median", "trimmed", "bulyan", "normbound", "dpfedavg")
    scale_factor: float = 10.0
    membership_samples: int = 2000
    rounds: int = 5
    local_epochs: int = 1
    local_lr: float = 0.01
    local_batch_size: int = 64


#: DP-SGD settings the study uses (tuned on validation at epsilon = 1 on the real CIC-IDS2017
#: samples; see docs/privacy.md). ``PrivacyConfig()`` itself keeps the reference notebook's
#: settings so that ``privids train --dp`` with no flags reproduces the reference run.
STUDY_PRIVACY = PrivacyConfig(
    target_epsilon=1.0,
    noise_multiplier=None,
    batch_size=2048,
    epochs=60,
    lr=16.0,
    max_grad_norm=0.5,
    optimizer="sgd",
    lr_schedule="cosine",
    accountant="prv",
)

#: Federation settings the study uses: 5 local epochs per round close the gap to the
#: centralised model on IID partitions (measured in docs/federated.md); one local epoch at
#: lr 1e-3 (``FederatedConfig()``) under-trains by about 8 F1 points in 5 rounds.
STUDY_FEDERATED = FederatedConfig(clients=5, rounds=5, local_epochs=5, lr=3e-3, batch_size=128)


@dataclass(frozen=True)
class RunConfig:
    """The whole study run by ``privids run``; sub-configs default to the measured study settings."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    privacy: PrivacyConfig = field(default_factory=lambda: STUDY_PRIVACY)
    federated: FederatedConfig = field(default_factory=lambda: STUDY_FEDERATED)
    attack: AttackConfig = field(default_factory=AttackConfig)
    epsilons: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    seed: int = 42
    # Flows generated for the synthetic demo when ``privids run`` gets no --data.
    demo_rows: int = 20_000


def _build(base: Any, values: dict[str, Any], where: str) -> Any:
    """``base`` with the TOML ``values`` applied; nested tables update nested configs field by field."""
    known = {f.name for f in fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {unknown}; allowed: {sorted(known)}.")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        current = getattr(base, name)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table of settings; got {value!r}.")
            kwargs[name] = _build(current, value, f"{where}.{name}" if where else name)
        elif isinstance(value, list):
            kwargs[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        else:
            kwargs[name] = value
    return dataclasses.replace(base, **kwargs)


def load_run_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Read a ``study.toml`` (sections ``[data]``, ``[train]``, ...) into a validated RunConfig.

    Parameters
    ----------
    path : str, Path or None
        TOML file; None gives the defaults.
    **overrides
        Top-level fields or whole sub-configs replacing what the file says.

    Raises
    ------
    ConfigError
        Unknown keys or values outside their allowed range.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read config {path}: {e}; fix the file or omit --config.") from e
    cfg = _build(RunConfig(), values, "")
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON/TOML-ready dict of any config dataclass (tuples become lists)."""
    return dataclasses.asdict(cfg)
