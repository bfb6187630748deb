"""Row-block iteration over large C-ordered matrices, spread over a few threads.

Column-at-a-time work on a C-ordered (n, 77) float32 matrix touches one cache line per value;
working on blocks of contiguous rows keeps each block in cache and lets NumPy's ufuncs (which
release the GIL) run on every core. Results are returned in block order, so every reduction
built on them is deterministic whatever the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

__all__ = ["BLOCK_ROWS", "block_slices", "map_blocks", "workers"]

BLOCK_ROWS = 32_768
T = TypeVar("T")


def workers() -> int:
    """Threads to use: ``PRIVIDS_THREADS`` if set, else the CPUs this process may run on (max 4)."""
    env = os.environ.get("PRIVIDS_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def block_slices(n: int, block: int | None = None) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)`` (``block`` rows each, default :data:`BLOCK_ROWS`)."""
    block = block or BLOCK_ROWS
    for start in range(0, n, block):
        yield slice(start, min(start + block, n))


def map_blocks(fn: Callable[[slice], T], n: int, *, block: int | None = None) -> list[T]:
    """``[fn(s) for s in block_slices(n)]``, computed on :func:`workers` threads, in order."""
    slices = list(block_slices(n, block))
    k = workers()
    if k == 1 or len(slices) <= 1:
        return [fn(s) for s in slices]
    with ThreadPoolExecutor(max_workers=k) as pool:
        return list(pool.map(fn, slices))
