"""Spike containers: the public event form and the engine's compact spike matrix.

Input spikes reach the engine either as a dense ``(B, T, N)`` array holding only 0 and 1
(bool or numeric), or as :class:`SpikeEvents` (batch, time, unit index arrays). Dense inputs
with any other value (2, 0.5, -1, NaN) are **refused** with :class:`InputError`, in training
and evaluation alike: spikegrad never clamps silently. Several events in one (b, t, i) bin of
the event form are one spike (a bin either holds a spike or not); that is the definition of
the event form, so it applies identically everywhere.

Inside the engine spikes are a :class:`SpikeMatrix`: a 0/1 CSR pattern (no values stored)
with one row per (t, b) in time-major order (row = t * B + b) and one column per unit, so
that the input product ``h = x W`` and the weight gradient ``x^T eps`` are spike-event x
dense products (ops ``spike_matmul`` / ``spike_tmatmul``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .backend import Array, call, get_xp, to_numpy
from .errors import InputError, ShapeError


def _index_array(name: str, a: Any) -> np.ndarray:
    a = np.asarray(to_numpy(a))
    if a.ndim != 1:
        raise ShapeError(f"SpikeEvents.{name} must be 1-D; got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.mod(a, 1) == 0):
            raise InputError(f"SpikeEvents.{name} must hold integer indices; got {a.dtype}")
    return a.astype(np.int64, copy=False)


class SpikeEvents:
    """Spikes as events: ``x[b[n], t[n], i[n]] = 1`` for every n, zero elsewhere.

    Shapes: b, t, i: (E,) int; shape = (B, T, N). Duplicate events are one spike.
    """

    __slots__ = ("b", "i", "shape", "t")

    def __init__(self, b: Any, t: Any, i: Any, shape: tuple[int, int, int]) -> None:
        if len(shape) != 3 or any(int(s) < 0 for s in shape):
            raise ShapeError(f"SpikeEvents shape must be (B, T, N) >= 0; got {shape}")
        self.shape = tuple(int(s) for s in shape)
        self.b, self.t, self.i = (_index_array(n, a) for n, a in (("b", b), ("t", t), ("i", i)))
        if not (self.b.size == self.t.size == self.i.size):
            raise ShapeError(
                "SpikeEvents b, t, i must have equal lengths; got "
                f"{self.b.size}, {self.t.size}, {self.i.size}"
            )
        for name, a, n in (
            ("b", self.b, shape[0]),
            ("t", self.t, shape[1]),
            ("i", self.i, shape[2]),
        ):
            if a.size and (a.min() < 0 or a.max() >= n):
                raise InputError(
                    f"SpikeEvents.{name} must lie in 0..{n - 1}; got {a.min()}..{a.max()}"
                )

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def n_events(self) -> int:
        """Number of stored events (duplicates included)."""
        return int(self.b.size)

    def to_dense(self, dtype: Any = np.uint8) -> np.ndarray:
        """The ``(B, T, N)`` 0/1 array of these events."""
        out = np.zeros(self.shape, dtype=dtype)
        out[self.b, self.t, self.i] = 1
        return out

    @classmethod
    def from_dense(cls, x: Any) -> SpikeEvents:
        """Events of a dense ``(B, T, N)`` 0/1 array (validated like engine input)."""
        x = _check_dense(to_numpy(x))
        b, t, i = np.nonzero(x)
        return cls(b, t, i, x.shape)

    def __repr__(self) -> str:
        return f"SpikeEvents(shape={self.shape}, n_events={self.n_events})"


def _check_dense(x: np.ndarray | Any) -> Any:
    if x.ndim != 3:
        raise ShapeError(f"x must be (B, T, N); got shape {tuple(x.shape)}")
    if x.dtype != bool:
        xp = get_xp(x)
        ok = xp.logical_or(x == 0, x == 1)
        if not bool(ok.all()):
            bad = x[~ok].ravel()[0]
            raise InputError(
                f"x must hold only 0 and 1 (spikes); found {float(bad)!r}. "
                "spikegrad refuses non-binary input instead of clamping it; "
                "binarise counts first, e.g. x = (x > 0)"
            )
    return x


@dataclass
class SpikeMatrix:
    """Compact spikes of one layer: a 0/1 CSR pattern with rows t * B + b (time-major).

    Shapes: indptr (T * B + 1,) int32; indices (nnz,) int32 unit indices, sorted per row.
    """

    indptr: Array
    indices: Array
    T: int
    B: int
    N: int

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.indptr.nbytes)

    def matmul(self, w: Array) -> Array:
        """``x @ w`` over all (t, b) rows. Shapes: w (N, M) -> (T * B, M)."""
        return call("spike_matmul", self.indptr, self.indices, w)

    def tmatmul(self, e: Array) -> Array:
        """``x^T @ e``. Shapes: e (T * B, M) -> (N, M)."""
        return call("spike_tmatmul", self.indptr, self.indices, e, self.N)

    def rows(self) -> Array:
        """The row (t * B + b) of every spike. Shapes: -> (nnz,) int64."""
        xp = get_xp(self.indptr)
        k = xp.arange(self.nnz, dtype=self.indptr.dtype)
        return xp.searchsorted(self.indptr, k, side="right").astype(xp.int64) - 1

    def counts(self) -> Array:
        """Spikes per (b, j) summed over time. Shapes: -> (B, N) int64."""
        xp = get_xp(self.indptr)
        flat = (self.rows() % self.B) * self.N + self.indices
        out = xp.zeros(self.B * self.N, dtype=xp.int64)
        xp.add.at(out, flat, 1)  # not bincount: on CuPy it reads max(flat) from the device
        return out.reshape(self.B, self.N)

    def dense_rows(self, dtype: Any) -> Array:
        """The (T * B, N) 0/1 matrix in ``dtype`` (the dense mode's operand)."""
        xp = get_xp(self.indptr)
        out = xp.zeros((self.T * self.B, self.N), dtype=dtype)
        out[self.rows(), self.indices] = 1
        return out


def spike_matrix_from_keys(xp: ModuleType, keys: Array, T: int, B: int, N: int) -> SpikeMatrix:
    """Build a :class:`SpikeMatrix` from sorted unique flat keys ``(t * B + b) * N + i``."""
    keys = xp.asarray(keys)
    rows = keys // N
    cols = (keys - rows * N).astype(xp.int32)
    indptr = xp.searchsorted(rows, xp.arange(T * B + 1)).astype(xp.int32)
    return SpikeMatrix(indptr, cols, T, B, N)


def as_spike_matrix(xp: ModuleType, x: Any, n_inputs: int) -> SpikeMatrix:
    """Validate engine input (dense 0/1 array or SpikeEvents) and make a SpikeMatrix."""
    if isinstance(x, SpikeEvents):
        B, T, N = x.shape
        if N != n_inputs:
            raise ShapeError(f"x has {N} input units; the network expects {n_inputs}")
        keys = np.sort((x.t * B + x.b) * N + x.i)
        if keys.size > 1:
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    else:
        if not hasattr(x, "ndim"):
            x = np.asarray(x)
        x = _check_dense(x)
        B, T, N = x.shape
        if N != n_inputs:
            raise ShapeError(f"x has {N} input units; the network expects {n_inputs}")
        keys = get_xp(x).flatnonzero(get_xp(x).moveaxis(x, 0, 1))
    if B < 1 or T < 1:
        raise ShapeError(f"x must have B >= 1 and T >= 1; got shape {(B, T, N)}")
    return spike_matrix_from_keys(xp, keys, T, B, N)
