"""Large row-major float32 matrices: anonymous-memory allocation and a growing row buffer.

The loader fills one C-ordered ``(n, 77)`` matrix file by file, straight from each parsed file's
columns, and frees the file's columns right after: there is never a second full copy of the
features (no concatenated frame, no per-file blocks to join).
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["RowBuffer", "empty_rows"]

_MAP_MIN_BYTES = 4 << 20
_SUB_ROWS = 1024


def empty_rows(n: int, width: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """An uninitialised C-ordered ``(n, width)`` array; large ones in their own anonymous map.

    NumPy asks for transparent huge pages on arrays of 4 MB and more. Where the kernel then
    compacts memory on first touch (THP and its defrag set to ``madvise``, as on the 2-core box
    the benchmarks ran on), writing a fresh 0.9 GB matrix took 0.2 - 2.1 CPU-s against a steady
    0.4 s with plain pages. The map is returned to the system when the array and its views go.

    Parameters
    ----------
    n, width : int
    dtype : numpy dtype, default=float32

    Returns
    -------
    ndarray, shape (n, width)
    """
    dt = np.dtype(dtype)
    nbytes = n * width * dt.itemsize
    if nbytes < _MAP_MIN_BYTES:
        return np.empty((n, width), dtype=dt)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dt, count=n * width).reshape(n, width)


class RowBuffer:
    """A C-ordered matrix filled block by block from column arrays, growing when needed.

    Parameters
    ----------
    width : int
        Number of columns.
    capacity : int
        Rows to reserve. Reserved rows that are never written cost no memory (the pages are only
        mapped); when the estimate is short the buffer grows by half and copies what it holds.
    """

    def __init__(self, width: int, capacity: int) -> None:
        self.width = width
        self.rows = 0
        self._X = empty_rows(max(capacity, _SUB_ROWS), width)
        self._tmp = np.empty((_SUB_ROWS, width), dtype=np.float32)

    def _reserve(self, extra: int) -> None:
        need = self.rows + extra
        if need <= self._X.shape[0]:
            return
        grown = empty_rows(max(need, self._X.shape[0] * 3 // 2), self.width)
        grown[: self.rows] = self._X[: self.rows]
        self._X = grown

    def append(self, columns: list[np.ndarray], keep: np.ndarray | None = None) -> None:
        """Append the rows of equally long 1-D ``columns`` (only where ``keep``), as float32.

        Notes
        -----
        Each 1024-row run of every column is written as a strided column of the destination:
        the run's rows (300 KB) stay in cache across the columns, so the transposition costs one
        read and one write of the data.
        """
        n = len(columns[0]) if columns else 0
        self._reserve(n if keep is None else int(np.count_nonzero(keep)))
        X, w = self._X, self.rows
        for a in range(0, n, _SUB_ROWS):
            b = min(a + _SUB_ROWS, n)
            k = None if keep is None else keep[a:b]
            m = b - a if k is None else int(np.count_nonzero(k))
            if m == 0:
                continue
            dest = X[w : w + m] if m == b - a else self._tmp[: b - a]
            for j, col in enumerate(columns):
                dest[:, j] = col[a:b]
            if m != b - a:
                X[w : w + m] = dest[k]
            w += m
        self.rows = w

    def result(self) -> np.ndarray:
        """The filled rows: a C-ordered view (the unused reserve is never touched)."""
        return self._X[: self.rows]
