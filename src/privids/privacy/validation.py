"""Checks (and, where asked, fixes) that a model is DP-SGD compatible before any private training."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

from torch import nn

from privids.exceptions import ModelError

__all__ = ["ValidatedModel", "linear_only", "validate_model"]

_log = logging.getLogger(__name__)

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class ValidatedModel:
    """A DP-compatible copy of a model and the changes made to get it.

    Attributes
    ----------
    model : torch.nn.Module
        A deep copy; the caller's model is never modified.
    changes : tuple of str
        One line per change, e.g. ``"bn1: BatchNorm1d(64) -> GroupNorm(32, 64)"``.
    """

    model: nn.Module
    changes: tuple[str, ...]


def _set_child(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent = root
    *path, leaf = dotted.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, leaf, new)


def validate_model(model: nn.Module, *, fix_batchnorm: bool = True) -> ValidatedModel:
    """Return a DP-SGD compatible copy of ``model``, or refuse it naming the offending layer.

    Parameters
    ----------
    model : torch.nn.Module
    fix_batchnorm : bool, default=True
        Replace every BatchNorm by ``GroupNorm(gcd(32, C), C)`` (the Opacus fixer's choice);
        when False a BatchNorm is refused.

    Returns
    -------
    ValidatedModel

    Raises
    ------
    ModelError
        A BatchNorm with ``fix_batchnorm=False``, or any layer Opacus cannot compute
        per-sample gradients for.

    Notes
    -----
    BatchNorm normalises each example with statistics of the whole batch, so one record's
    gradient depends on the others and per-sample clipping no longer bounds its influence.
    In-place activations are switched to their out-of-place form because Opacus' backward
    hooks see views that an in-place op would overwrite (opacus#828).

    Examples
    --------
    >>> import torch.nn as nn
    >>> v = validate_model(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(inplace=True)))
    >>> v.changes
    ('1: BatchNorm1d(8) -> GroupNorm(8, 8)', '2: ReLU(inplace=True) -> ReLU()')
    """
    fixed = copy.deepcopy(model)
    changes: list[str] = []
    for name, module in list(fixed.named_modules()):
        if isinstance(module, _BATCHNORMS):
            channels = module.num_features
            if not fix_batchnorm:
                raise ModelError(
                    f"layer {name!r} is {type(module).__name__}({channels}), which DP-SGD cannot train; got fix_batchnorm=False. "
                    "BatchNorm mixes samples within a batch and breaks per-sample privacy: use GroupNorm/LayerNorm, "
                    "or allow the automatic fix (PrivacyConfig(fix_batchnorm=True), the default)."
                )
            groups = math.gcd(32, channels)
            _set_child(fixed, name, nn.GroupNorm(groups, channels, affine=module.affine))
            changes.append(f"{name}: {type(module).__name__}({channels}) -> GroupNorm({groups}, {channels})")
        elif getattr(module, "inplace", False) is True:
            before = repr(module)
            module.inplace = False
            changes.append(f"{name}: {before} -> {module!r}")
    for line in changes:
        _log.warning("DP model fix: %s", line)

    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(fixed, strict=False)
    if errors:
        listed = "; ".join(str(e) for e in errors)
        raise ModelError(
            f"model is not DP-SGD compatible: got {listed}. Use layers with per-sample gradient support "
            "(Linear, Conv, GroupNorm, LayerNorm, Embedding)."
        )
    return ValidatedModel(model=fixed, changes=tuple(changes))


def linear_only(model: nn.Module) -> bool:
    """True when every parameter of ``model`` belongs to an ``nn.Linear`` (fast exact clipping applies).

    Examples
    --------
    >>> import torch.nn as nn
    >>> linear_only(nn.Sequential(nn.Linear(3, 2), nn.ReLU())), linear_only(nn.LayerNorm(3))
    (True, False)
    """
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if own and not isinstance(module, nn.Linear):
            return False
    return any(isinstance(m, nn.Linear) for m in model.modules())
