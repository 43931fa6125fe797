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


def _index_array(xp: ModuleType, name: str, a: Any) -> Array:
    a = xp.asarray(a)
    if a.ndim != 1:
        raise ShapeError(f"SpikeEvents.{name} must be 1-D; got shape {a.shape}")
    if a.size and a.dtype.kind not in "iuf":
        raise InputError(f"SpikeEvents.{name} must hold integer indices; got dtype {a.dtype}")
    if a.size and a.dtype.kind not in "iu" and not bool(xp.all(xp.mod(a, 1) == 0)):
        raise InputError(f"SpikeEvents.{name} must hold integer indices; got {a.dtype}")
    return a.astype(xp.int64, copy=False)


class SpikeEvents:
    """Spikes as events: ``x[b[n], t[n], i[n]] = 1`` for every n, zero elsewhere.

    The arrays stay where they are given: NumPy arrays on the host, CuPy arrays on the device
    (then they are validated there, by reductions, with one small transfer of the results).

    Shapes: b, t, i: (E,) int; shape = (B, T, N). Duplicate events are one spike.
    """

    __slots__ = ("b", "i", "shape", "t")

    def __init__(self, b: Any, t: Any, i: Any, shape: tuple[int, int, int]) -> None:
        if len(shape) != 3 or any(int(s) < 0 for s in shape):
            raise ShapeError(f"SpikeEvents shape must be (B, T, N) >= 0; got {shape}")
        self.shape = tuple(int(s) for s in shape)
        xp = get_xp(b, t, i)
        self.b, self.t, self.i = (_index_array(xp, n, a) for n, a in (("b", b), ("t", t), ("i", i)))
        if not (self.b.size == self.t.size == self.i.size):
            raise ShapeError(
                "SpikeEvents b, t, i must have equal lengths; got "
                f"{self.b.size}, {self.t.size}, {self.i.size}"
            )
        if not self.b.size:
            return
        arrays = (self.b, self.t, self.i)
        lim = to_numpy(xp.stack([f(a) for a in arrays for f in (xp.min, xp.max)]))
        for k, (name, n) in enumerate(zip("bti", self.shape, strict=True)):
            lo, hi = int(lim[2 * k]), int(lim[2 * k + 1])
            if lo < 0 or hi >= n:
                raise InputError(f"SpikeEvents.{name} must lie in 0..{n - 1}; got {lo}..{hi}")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def n_events(self) -> int:
        """Number of stored events (duplicates included)."""
        return int(self.b.size)

    def to_dense(self, dtype: Any = np.uint8) -> np.ndarray:
        """The ``(B, T, N)`` 0/1 array of these events."""
        out = np.zeros(self.shape, dtype=dtype)
        out[to_numpy(self.b), to_numpy(self.t), to_numpy(self.i)] = 1
        return out

    @classmethod
    def from_dense(cls, x: Any) -> SpikeEvents:
        """Events of a dense ``(B, T, N)`` 0/1 array (validated like engine input)."""
        x = check_dense(to_numpy(x))
        b, t, i = np.nonzero(x)
        return cls(b, t, i, x.shape)

    def __repr__(self) -> str:
        return f"SpikeEvents(shape={self.shape}, n_events={self.n_events})"


def _check_ndim(x: Any) -> None:
    if x.dtype.kind not in "biuf":
        raise InputError(
            f"x must be a bool, integer or real float array of 0/1 spikes; got dtype {x.dtype}"
        )
    if x.ndim != 3:
        raise ShapeError(f"x must be (B, T, N); got shape {tuple(x.shape)}")


def not_binary(value: Any) -> InputError:
    """The error for a dense input holding ``value``, neither 0 nor 1 (NaN included)."""
    return InputError(
        f"x must hold only 0 and 1 (spikes); found {float(value)!r}. "
        "spikegrad refuses non-binary input instead of clamping it; "
        "binarise counts first, e.g. x = (x > 0)"
    )


def check_dense(x: np.ndarray | Any) -> Any:
    """``x`` itself after checking it is a (B, T, N) array of only 0 and 1 (any dtype; bool
    needs no check). Raises ShapeError, or InputError naming the first other value (C order).
    """
    _check_ndim(x)
    if x.dtype != bool:
        xp = get_xp(x)
        ok = xp.logical_or(x == 0, x == 1)
        if not bool(ok.all()):
            raise not_binary(x[~ok].ravel()[0])
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
        # not bincount: on CuPy it reads max(flat) from the device; int32 counts (at most T),
        # the dtype CuPy's add.at takes
        out = xp.zeros(self.B * self.N, dtype=xp.int32)
        xp.add.at(out, flat, xp.int32(1))
        return out.astype(xp.int64).reshape(self.B, self.N)

    def dense_rows(self, dtype: Any) -> Array:
        """The (T * B, N) 0/1 matrix in ``dtype`` (the dense mode's operand)."""
        xp = get_xp(self.indptr)
        out = xp.zeros((self.T * self.B, self.N), dtype=dtype)
        out[self.rows(), self.indices] = 1
        return out


def spike_matrix_from_keys(xp: ModuleType, keys: Array, T: int, B: int, N: int) -> SpikeMatrix:
    """Build a :class:`SpikeMatrix` from sorted unique flat keys ``(t * B + b) * N + i`` (op
    ``keys_to_csr``)."""
    indptr, indices = call("keys_to_csr", xp.asarray(keys), (T, B, N))
    return SpikeMatrix(indptr, indices, T, B, N)


def place_sorted_events(
    xp: ModuleType, b: Array, t: Array, i: Array, T: int, B: int, N: int
) -> SpikeMatrix:
    """The SpikeMatrix of events sorted by (b, t, i) without repeats, by O(E) placement, no sort.

    The events of one (b, t) form one contiguous block, already ordered by unit. One bincount
    of the keys b * T + t gives every block's length; exclusive cumsums of those lengths in
    (b, t) order and in the time-major (t, b) order give where each block starts now and in
    the CSR (indptr), so every event moves by its block's shift. xp-generic (CuPy 13:
    bincount, cumsum, fancy indexing).

    Shapes: b, t, i (E,) int -> SpikeMatrix with nnz = E.
    """
    key = xp.asarray(b).astype(xp.int64) * T  # block of each event, (b, t)
    key += xp.asarray(t)
    E = int(key.size)
    counts = xp.bincount(key, minlength=B * T) if E else xp.zeros(B * T, dtype=xp.int64)
    indptr = xp.zeros(T * B + 1, dtype=xp.int64)
    indptr[1:] = xp.cumsum(counts.reshape(B, T).T)  # time-major rows t * B + b
    shift = indptr[:-1].reshape(T, B).T.ravel() - (xp.cumsum(counts) - counts)
    dest = shift[key]
    dest += xp.arange(E, dtype=xp.int64)
    indices = xp.empty(E, dtype=xp.int32)
    indices[dest] = xp.asarray(i).astype(xp.int32, copy=False)
    return SpikeMatrix(indptr.astype(xp.int32), indices, T, B, N)


def events_matrix(
    xp: ModuleType, b: Array, t: Array, i: Array, T: int, B: int, N: int
) -> SpikeMatrix:
    """The SpikeMatrix of validated events (any order, repeats allowed) in ``xp`` (op
    ``events_to_csr``). Shapes: b, t, i (E,) int64 -> SpikeMatrix."""
    indptr, indices = call("events_to_csr", xp.asarray(b), xp.asarray(t), xp.asarray(i), (T, B, N))
    return SpikeMatrix(indptr, indices, T, B, N)


def _moved(xp: ModuleType, a: Array) -> Array:
    return to_numpy(a) if xp is np else xp.asarray(a)


def check_spike_matrix(xp: ModuleType, m: SpikeMatrix, n_inputs: int) -> SpikeMatrix:
    """Validate a prepared SpikeMatrix as engine input and move it to ``xp``.

    Always checked (free): T, B >= 1, N == n_inputs, int32 indptr (T * B + 1,) and indices
    (nnz,). A host matrix is also checked for content (O(nnz) reductions): indptr from 0 to
    nnz, non-decreasing, indices in 0..N-1. A device matrix is trusted for its content, since
    reading it back would cost a device synchronisation every step. The result is contiguous
    (the kernels' layout); a valid matrix already in ``xp`` is returned as it is.
    """
    T, B, N = m.T, m.B, m.N
    if N != n_inputs:
        raise ShapeError(f"x has {N} input units; the network expects {n_inputs}")
    if B < 1 or T < 1:
        raise ShapeError(f"x must have B >= 1 and T >= 1; got (B, T, N) = {(B, T, N)}")
    for name, a in (("indptr", m.indptr), ("indices", m.indices)):
        if a.dtype != np.int32:
            raise InputError(f"SpikeMatrix.{name} must be int32; got {a.dtype}")
    if m.indptr.shape != (T * B + 1,) or m.indices.ndim != 1:
        raise ShapeError(
            f"SpikeMatrix indptr must have shape ({T * B + 1},) (T * B + 1) and indices be 1-D; "
            f"got {tuple(m.indptr.shape)} and {tuple(m.indices.shape)}"
        )
    if get_xp(m.indptr, m.indices) is np:
        indptr, indices = np.asarray(m.indptr), np.asarray(m.indices)
        if indptr[0] != 0 or indptr[-1] != indices.size:
            raise ShapeError(
                f"SpikeMatrix indptr must run from 0 to nnz = {indices.size}; "
                f"got {indptr[0]}..{indptr[-1]}"
            )
        if np.any(indptr[1:] < indptr[:-1]):
            raise InputError("SpikeMatrix indptr must be non-decreasing")
        if indices.size and (indices.min() < 0 or indices.max() >= N):
            raise InputError(
                f"SpikeMatrix indices must lie in 0..{N - 1}; got {indices.min()}..{indices.max()}"
            )
    indptr, indices = (xp.ascontiguousarray(_moved(xp, a)) for a in (m.indptr, m.indices))
    if indptr is m.indptr and indices is m.indices:
        return m
    return SpikeMatrix(indptr, indices, T, B, N)


def as_spike_matrix(xp: ModuleType, x: Any, n_inputs: int) -> SpikeMatrix:
    """Validate engine input and make it a SpikeMatrix in ``xp``.

    x: a dense (B, T, N) 0/1 array, :class:`SpikeEvents` (host or device arrays) or a
    prepared :class:`SpikeMatrix` (see :func:`check_spike_matrix`). Events that live where
    the network computes are converted there; host events for a device network are converted
    on the host and the (smaller) CSR is moved.
    """
    if isinstance(x, SpikeMatrix):
        return check_spike_matrix(xp, x, n_inputs)
    if isinstance(x, SpikeEvents):
        B, T, N = x.shape
        if N != n_inputs:
            raise ShapeError(f"x has {N} input units; the network expects {n_inputs}")
        if B < 1 or T < 1:
            raise ShapeError(f"x must have B >= 1 and T >= 1; got shape {(B, T, N)}")
        ex = get_xp(x.b)
        if ex is xp:
            return events_matrix(xp, x.b, x.t, x.i, T, B, N)
        m = events_matrix(np, to_numpy(x.b), to_numpy(x.t), to_numpy(x.i), T, B, N)
        return SpikeMatrix(_moved(xp, m.indptr), _moved(xp, m.indices), T, B, N)
    if get_xp(x) is np:
        x = np.asarray(x)  # array-likes (lists, CPU tensors) as NumPy arrays, without a copy
    _check_ndim(x)
    B, T, N = x.shape
    if N != n_inputs:
        raise ShapeError(f"x has {N} input units; the network expects {n_inputs}")
    if B < 1 or T < 1:
        raise ShapeError(f"x must have B >= 1 and T >= 1; got shape {(B, T, N)}")
    indptr, indices = call("dense_to_csr", x)  # validates: only 0 and 1
    return SpikeMatrix(_moved(xp, indptr), _moved(xp, indices), T, B, N)
