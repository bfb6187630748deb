"""Tests for privids.federated.partition: coverage, schemes, skew, empty partitions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_synthetic

from privids.data.dataset import SplitView
from privids.exceptions import ConfigError, DataError
from privids.federated.partition import parse_scheme, partition_indices, partition_summary

SCHEMES = ["iid", "family", "dirichlet:0.5", "day"]


def _split_with_days(n: int = 420, days: tuple[str, ...] = ("Mon", "Tue", "Wed"), seed: int = 0) -> SplitView:
    base = make_synthetic(n=int(n / 0.7) + 1, seed=seed).train
    day = np.array([days[i % len(days)] for i in range(len(base))], dtype=object)
    return SplitView(X=base.X, y=base.y, labels=base.labels, families=base.families, meta={"day": day})


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEMES)
@pytest.mark.parametrize("clients", [1, 2, 5, 7], ids=lambda c: f"{c}clients")
def test_every_row_goes_to_exactly_one_client(scheme, clients):
    # Arrange
    split = _split_with_days()
    # Act
    parts = partition_indices(split, clients=clients, scheme=scheme, rng=3)
    # Assert: brute-force count of how often each row was assigned
    assert len(parts) == clients
    counts = np.zeros(len(split), dtype=int)
    for p in parts:
        assert p.dtype == np.int64 and np.all(np.diff(p) > 0)
        counts[p] += 1
    assert np.all(counts == 1)


def test_iid_shards_are_balanced_seeded_and_shuffled():
    split = make_synthetic(n=1000).train
    a = partition_indices(split, clients=3, scheme="iid", rng=1)
    b = partition_indices(split, clients=3, scheme="iid", rng=1)
    c = partition_indices(split, clients=3, scheme="iid", rng=2)
    sizes = [len(p) for p in a]
    assert max(sizes) - min(sizes) <= 1
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    # Shuffled before sharding: shard 0 is not simply the first third of the rows.
    assert not np.array_equal(a[0], np.arange(sizes[0]))


def test_family_scheme_gives_each_attack_family_to_one_client_and_benign_to_all():
    split = make_synthetic(n=1500).train
    parts = partition_indices(split, clients=2, scheme="family", rng=0)
    fams = sorted(set(split.families[split.y == 1]))
    owners = {f: [i for i, p in enumerate(parts) if (split.families[p] == f).any()] for f in fams}
    assert all(len(o) == 1 for o in owners.values())
    # Sorted family k goes to client k % clients.
    assert [owners[f][0] for f in fams] == [k % 2 for k in range(len(fams))]
    assert all((split.y[p] == 0).sum() > 0 for p in parts)


def test_family_scheme_leaves_spare_clients_benign_only():
    split = make_synthetic(n=1500).train
    parts = partition_indices(split, clients=5, scheme="family", rng=0)
    attacks_per_client = [len(set(split.families[p][split.y[p] == 1])) for p in parts]
    assert attacks_per_client == [1, 1, 1, 0, 0]


def _mean_top_share(split: SplitView, parts: list[np.ndarray]) -> float:
    table = np.array([[np.sum(split.families[p] == f) for p in parts] for f in sorted(set(split.families))], dtype=float)
    return float(np.mean(table.max(axis=1) / table.sum(axis=1)))


def test_dirichlet_alpha_controls_label_skew():
    split = make_synthetic(n=3000).train
    skewed = [_mean_top_share(split, partition_indices(split, clients=4, scheme="dirichlet:0.05", rng=s)) for s in range(5)]
    flat = [_mean_top_share(split, partition_indices(split, clients=4, scheme="dirichlet:1000", rng=s)) for s in range(5)]
    # With 4 clients a perfectly even split puts 25% of each class on the top client.
    assert np.mean(skewed) > 0.8
    assert np.mean(flat) < 0.35


def test_day_scheme_keeps_whole_days_together_when_there_are_enough():
    split = _split_with_days(days=("Mon", "Tue", "Wed", "Thu", "Fri"))
    parts = partition_indices(split, clients=3, scheme="day", rng=0)
    day = split.meta["day"]
    owner = {d: {i for i, p in enumerate(parts) if (day[p] == d).any()} for d in set(day)}
    assert all(len(o) == 1 for o in owner.values())
    assert all(len(p) > 0 for p in parts)


def test_day_scheme_cuts_days_into_contiguous_pieces_when_clients_outnumber_days():
    split = _split_with_days(days=("Mon", "Tue"))
    parts = partition_indices(split, clients=5, scheme="day", rng=0)
    day = split.meta["day"]
    for p in parts:
        assert len(set(day[p])) == 1
        rows_of_day = np.flatnonzero(day == day[p[0]])
        pos = np.searchsorted(rows_of_day, p)
        assert np.all(np.diff(pos) == 1), "a piece must be a contiguous stretch of its day"


def test_day_scheme_without_day_meta_names_the_fix():
    with pytest.raises(DataError, match=r"meta\['day'\].*fix"):
        partition_indices(make_synthetic().train, clients=2, scheme="day")


def test_more_clients_than_rows_gives_empty_partitions():
    split = make_synthetic(n=10).train  # 7 rows
    parts = partition_indices(split, clients=10, scheme="iid", rng=0)
    assert sorted(len(p) for p in parts) == [0, 0, 0] + [1] * 7


def test_summary_counts_rows_per_family():
    split = make_synthetic(n=300).train
    parts = partition_indices(split, clients=2, scheme="iid", rng=0)
    summary = partition_summary(split, parts)
    assert [s["total"] for s in summary] == [len(p) for p in parts]
    assert sum(s.get("BENIGN", 0) for s in summary) == int((split.families == "BENIGN").sum())


@pytest.mark.parametrize(
    ("scheme", "match"),
    [("random", "must be one of"), ("dirichlet", "positive alpha"), ("dirichlet:-1", "positive finite"), ("iid:3", "takes no parameter")],
    ids=["unknown", "no-alpha", "negative-alpha", "iid-param"],
)
def test_bad_schemes_are_refused(scheme, match):
    with pytest.raises(ConfigError, match=match):
        parse_scheme(scheme)


def test_zero_clients_refused():
    with pytest.raises(ConfigError, match="clients must be a positive integer; got 0"):
        partition_indices(make_synthetic().train, clients=0, scheme="iid")
