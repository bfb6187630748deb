"""Prints the DP-SGD / non-private epoch-time ratio at batch 1024 and 4096, in one process.

Usage: ``nice -n 10 .venv/bin/python benchmarks/dp_overhead.py [--rows 200000] [--reps 3] [--modes ghost,linear]``

Both sides use the same model (78-64-64-1 MLP) and plain SGD: the non-private side is
``privids.models.train.fit_mlp`` for one epoch, the DP side a full one-epoch ``dp_fit`` call
(validation, Poisson sampling, clipping, noise, accounting).
Timings are the minimum over ``--reps`` repetitions, one torch thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from privids.config import PrivacyConfig
from privids.models.mlp import build_mlp
from privids.models.train import fit_mlp
from privids.privacy.dp_sgd import dp_fit


def _plain_epoch(X: np.ndarray, y: np.ndarray, batch: int, seed: int) -> float:
    # The project's own non-private trainer (tensor-indexed batches from a permutation).
    model = build_mlp(X.shape[1], seed=seed)
    start = time.perf_counter()
    fit_mlp(model, X, y, epochs=1, batch_size=batch, lr=0.01, optimizer="sgd", rng=seed)
    return time.perf_counter() - start


def _dp_epoch(X: np.ndarray, y: np.ndarray, batch: int, mode: str, seed: int) -> float:
    cfg = PrivacyConfig(batch_size=batch, epochs=1, grad_sample_mode=mode, noise_multiplier=1.0, accountant="rdp")
    start = time.perf_counter()
    dp_fit(build_mlp(X.shape[1], seed=seed), X, y, privacy=cfg, rng=seed)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print one line per (mode, batch)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=78)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modes", default="ghost,linear")
    parser.add_argument("--batches", default="1024,4096")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    print(f"rows={args.rows} features={args.features} reps={args.reps} torch_threads={torch.get_num_threads()}")
    print(f"{'mode':<8} {'batch':>6} {'plain s':>8} {'dp s':>8} {'ratio':>6}")
    for batch in (int(b) for b in args.batches.split(",")):
        plain = min(_plain_epoch(X, y, batch, r) for r in range(args.reps))
        for mode in args.modes.split(","):
            dp = min(_dp_epoch(X, y, batch, mode, r) for r in range(args.reps))
            print(f"{mode:<8} {batch:>6} {plain:>8.3f} {dp:>8.3f} {dp / plain:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
