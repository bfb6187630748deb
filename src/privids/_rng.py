"""Turns a seed, a Generator or None into generators; the only place seeds are handled."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["as_generator", "child_seed", "torch_generator"]

RandomLike = int | np.random.Generator | None


def as_generator(rng: RandomLike) -> np.random.Generator:
    """Return a NumPy Generator for ``rng``.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
        A seed, an existing generator (returned as is) or None (fresh entropy).

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def child_seed(rng: RandomLike) -> int:
    """Draw a 63-bit seed from ``rng`` for a component that needs its own stream."""
    return int(as_generator(rng).integers(0, 2**63 - 1))


def torch_generator(rng: RandomLike) -> "torch.Generator":
    """Return a CPU ``torch.Generator`` seeded from ``rng``."""
    import torch  # deferred: the data layer uses this module and must not pay torch's import

    gen = torch.Generator(device="cpu")
    gen.manual_seed(child_seed(rng))
    return gen
