"""The O(batch) Poisson sampler has the distribution of independent Bernoulli(q) inclusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from privids.privacy.dp_sgd import TensorRows
from privids.privacy.poisson import PoissonBatches, poisson_indices

DRAWS = 4000


def _draws(n: int, q: float, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [poisson_indices(n, q, generator=g) for _ in range(DRAWS)]


def test_indices_are_sorted_distinct_and_in_range() -> None:
    for idx in _draws(50, 0.2)[:200]:
        assert idx.dtype == torch.int64
        assert torch.equal(idx, torch.unique(idx)) and (idx >= 0).all() and (idx < 50).all()


@pytest.mark.parametrize(("n", "q"), [(40, 0.15), (12, 1 / 12), (300, 0.02)], ids=["q0.15", "case14", "sparse"])
def test_batch_size_is_binomial(n: int, q: float) -> None:
    # Oracle: the batch size of n independent Bernoulli(q) trials is Binomial(n, q).
    sizes = np.array([len(i) for i in _draws(n, q)])
    k = np.arange(n + 1)
    expected = stats.binom.pmf(k, n, q) * DRAWS
    observed = np.bincount(sizes, minlength=n + 1)
    keep = expected >= 5  # pool the thin tails into one bin
    obs = np.r_[observed[keep], observed[~keep].sum()]
    exp = np.r_[expected[keep], expected[~keep].sum()]
    obs, exp = obs[exp > 0], exp[exp > 0]
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-3


def test_each_index_and_each_pair_is_included_independently() -> None:
    n, q = 40, 0.15
    hits = np.zeros((DRAWS, n), dtype=bool)
    for r, idx in enumerate(_draws(n, q, seed=1)):
        hits[r, idx.numpy()] = True
    sd = np.sqrt(DRAWS * q * (1 - q))
    assert np.abs(hits.sum(0) - DRAWS * q).max() < 5 * sd
    both = (hits[:, 0] & hits[:, 1]).sum()  # P = q^2 when independent
    assert abs(both - DRAWS * q * q) < 5 * np.sqrt(DRAWS * q * q)
    last_two = (hits[:, -1] & hits[:, -2]).sum()
    assert abs(last_two - DRAWS * q * q) < 5 * np.sqrt(DRAWS * q * q)


def test_case14_empty_batch_rate() -> None:
    # (11/12)^12 = 0.352 of steps are empty at q = 1/12 on 12 flows.
    empty = sum(len(i) == 0 for i in _draws(12, 1 / 12, seed=2))
    p = (11 / 12) ** 12
    assert abs(empty - DRAWS * p) < 5 * np.sqrt(DRAWS * p * (1 - p))


def test_rate_one_takes_everything() -> None:
    assert poisson_indices(7, 1.0, generator=torch.Generator()).tolist() == list(range(7))


def test_batches_follow_the_loader_interface() -> None:
    rows = TensorRows(torch.arange(24, dtype=torch.float32).reshape(12, 2), torch.arange(12))
    loader = PoissonBatches(rows, sample_rate=1 / 12, generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert len(loader) == len(batches) == 12 and loader.dataset is rows
    for xb, yb in batches:
        assert xb.shape == (len(yb), 2) and torch.equal(xb[:, 0], 2.0 * yb.float())
