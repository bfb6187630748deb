"""Split one training split into per-organisation index sets (IID, by day, by family, Dirichlet)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from privids._rng import RandomLike, as_generator
from privids.data.dataset import SplitView
from privids.exceptions import ConfigError, DataError

__all__ = ["PartitionScheme", "parse_scheme", "partition_indices", "partition_summary"]

_Splitter = Callable[[SplitView, int, float | None, np.random.Generator], list[np.ndarray]]


@dataclass(frozen=True)
class PartitionScheme:
    """A parsed partition scheme such as ``"dirichlet:0.5"``.

    Attributes
    ----------
    name : str
        ``iid``, ``day``, ``family`` or ``dirichlet``.
    alpha : float or None
        Dirichlet concentration (only for ``dirichlet``).
    """

    name: str
    alpha: float | None = None


def parse_scheme(scheme: str) -> PartitionScheme:
    """Parse ``iid``, ``day``, ``family`` or ``dirichlet:ALPHA``.

    Raises
    ------
    ConfigError
        Unknown scheme name, or a Dirichlet alpha that is missing or not positive.

    Examples
    --------
    >>> parse_scheme("dirichlet:0.3")
    PartitionScheme(name='dirichlet', alpha=0.3)
    """
    head, _, tail = scheme.partition(":")
    if head not in _SPLITTERS:
        raise ConfigError(f"partition scheme must be one of {sorted(_SPLITTERS)} (dirichlet:ALPHA); got {scheme!r}.")
    if head != "dirichlet":
        if tail:
            raise ConfigError(f"partition scheme {head!r} takes no parameter; got {scheme!r}.")
        return PartitionScheme(head)
    try:
        alpha = float(tail)
    except ValueError as e:
        raise ConfigError(f"dirichlet partition needs a positive alpha, e.g. 'dirichlet:0.5'; got {scheme!r}.") from e
    if not alpha > 0 or not np.isfinite(alpha):
        raise ConfigError(f"dirichlet alpha must be a positive finite number; got {scheme!r}.")
    return PartitionScheme("dirichlet", alpha)


def partition_indices(
    split: SplitView, *, clients: int, scheme: str, rng: RandomLike = None
) -> list[np.ndarray]:
    """Assign every row of ``split`` to exactly one of ``clients`` organisations.

    Parameters
    ----------
    split : SplitView
        Usually the training split; ``meta["day"]`` is needed for ``scheme="day"``.
    clients : int
        Number of organisations (positive).
    scheme : str
        ``iid``: a seeded shuffle, then contiguous shards of near-equal size (the reference
        design's contiguous shards, taken after the shuffle because the rows arrive grouped by
        file and day, and unshuffled shards would be a day split in disguise).
        ``day``: whole capture days go to organisations, largest day to the least loaded one;
        with fewer days than organisations a day is cut into contiguous (time-ordered) pieces.
        ``family``: BENIGN rows are shared IID, each attack family goes to one organisation
        (family ``k`` of the sorted list to organisation ``k % clients``), so each sees only
        some attacks. ``dirichlet:ALPHA``: per class, proportions drawn from
        ``Dirichlet(ALPHA)`` (small alpha, strong label skew).
    rng : int, Generator or None
        Seed for every random choice.

    Returns
    -------
    list of ndarray of int64
        One sorted index array per organisation; together they cover each row exactly once.
        Arrays may be empty: callers report and exclude such organisations.

    Raises
    ------
    ConfigError
        ``clients`` < 1 or an unknown scheme.
    DataError
        ``scheme="day"`` on a split without ``meta["day"]``.

    Notes
    -----
    The class list (the sorted unique families of ``split``) is fixed before any partitioning,
    so every organisation trains the same output head even when it sees no example of a class.

    Examples
    --------
    >>> from privids.data.dataset import SplitView
    >>> y = np.array([0, 1] * 5)
    >>> s = SplitView(X=np.zeros((10, 1), np.float32), y=y, labels=y.astype(str), families=y.astype(str))
    >>> [len(p) for p in partition_indices(s, clients=3, scheme="iid", rng=0)]
    [4, 3, 3]
    """
    if clients < 1:
        raise ConfigError(f"clients must be a positive integer; got {clients!r}.")
    parsed = parse_scheme(scheme)
    gen = as_generator(rng)
    parts = _SPLITTERS[parsed.name](split, clients, parsed.alpha, gen)
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def partition_summary(split: SplitView, parts: list[np.ndarray]) -> list[dict[str, int]]:
    """Rows per family for each organisation (plus ``"total"``), for reports and tables."""
    out: list[dict[str, int]] = []
    for idx in parts:
        names, counts = np.unique(split.families[idx], return_counts=True)
        row = {str(n): int(c) for n, c in zip(names, counts, strict=True)}
        row["total"] = int(len(idx))
        out.append(row)
    return out


def _iid(split: SplitView, clients: int, _alpha: float | None, gen: np.random.Generator) -> list[np.ndarray]:
    order = gen.permutation(len(split))
    return list(np.array_split(order, clients))


def _by_day(split: SplitView, clients: int, _alpha: float | None, gen: np.random.Generator) -> list[np.ndarray]:
    if "day" not in split.meta:
        raise DataError(
            "partition 'day' needs the capture day of every row (meta['day']); got a split without it; "
            "fix: use data whose files name their day, or partition with 'iid'/'family'/'dirichlet:A'."
        )
    days = np.asarray(split.meta["day"]).astype(str)
    names = sorted(set(days.tolist()))
    groups = {d: np.flatnonzero(days == d) for d in names}
    parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
    if len(names) >= clients:
        load = np.zeros(clients, dtype=np.int64)
        # Largest day first to the least loaded organisation (ties: lowest id) balances sizes.
        for d in sorted(names, key=lambda k: (-len(groups[k]), k)):
            target = int(np.argmin(load))
            parts[target].append(groups[d])
            load[target] += len(groups[d])
    else:
        # Every day gets one organisation; the spare ones go to the largest days, whose rows are
        # cut in time order (row order within a day) so each piece is a contiguous stretch.
        share = np.ones(len(names), dtype=np.int64)
        sizes = np.array([len(groups[d]) for d in names])
        for _ in range(clients - len(names)):
            share[int(np.argmax(sizes / share))] += 1
        client = 0
        for d, k in zip(names, share, strict=True):
            for piece in np.array_split(groups[d], int(k)):
                parts[client].append(piece)
                client += 1
    del gen  # deterministic: days are not shuffled
    return [np.concatenate(p) if p else np.empty(0, dtype=np.int64) for p in parts]


def _by_family(split: SplitView, clients: int, _alpha: float | None, gen: np.random.Generator) -> list[np.ndarray]:
    fams = np.asarray(split.families).astype(str)
    benign = np.flatnonzero(split.y == 0)
    parts: list[list[np.ndarray]] = [[p] for p in np.array_split(gen.permutation(benign), clients)]
    attack_families = sorted(set(fams[split.y == 1].tolist()))
    for k, fam in enumerate(attack_families):
        parts[k % clients].append(np.flatnonzero((fams == fam) & (split.y == 1)))
    return [np.concatenate(p) for p in parts]


def _dirichlet(split: SplitView, clients: int, alpha: float | None, gen: np.random.Generator) -> list[np.ndarray]:
    assert alpha is not None  # parse_scheme guarantees it
    fams = np.asarray(split.families).astype(str)
    parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
    for cls in sorted(set(fams.tolist())):
        idx = gen.permutation(np.flatnonzero(fams == cls))
        share = gen.dirichlet(np.full(clients, alpha))
        cuts = np.floor(np.cumsum(share)[:-1] * len(idx)).astype(np.int64)
        for c, piece in enumerate(np.split(idx, cuts)):
            parts[c].append(piece)
    return [np.concatenate(p) for p in parts]


_SPLITTERS: dict[str, _Splitter] = {"iid": _iid, "day": _by_day, "family": _by_family, "dirichlet": _dirichlet}
