"""Spike events to the engine's CSR: the native kernel (cpu_events.h) against its twin."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import native
from spikegrad.ops.events_input import events_to_csr, keys_to_csr
from spikegrad.ops.events_input.glue import events_to_csr as events_to_csr_native
from spikegrad.ops.events_input.glue import keys_to_csr as keys_to_csr_native
from spikegrad.spikes import SpikeEvents, as_spike_matrix


@pytest.fixture(autouse=True)
def _need_native():
    if not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")


def _reference(b, t, i, T, B, N):
    """Row by row from a dense array: the plainest statement of the CSR's definition."""
    dense = np.zeros((T, B, N), dtype=bool)
    dense[t, b, i] = True
    rows = dense.reshape(T * B, N)
    indptr = np.r_[0, np.cumsum(rows.sum(axis=1))].astype(np.int32)
    return indptr, np.concatenate([np.flatnonzero(r) for r in rows] + [[]]).astype(np.int32)


# (T, B, N, E): empty; one cell; many repeats in few cells; long rows (> 32 units: the qsort
# path); a typical sparse batch
CASES = [(1, 1, 1, 0), (1, 1, 1, 7), (4, 3, 5, 200), (3, 2, 300, 2000), (60, 9, 120, 5000)]


@pytest.mark.parametrize("shape", CASES)
@pytest.mark.parametrize("order", ["random", "sorted by (b, t, i)", "time-major"])
def test_events_to_csr_matches_twin_and_reference(rng, shape, order):
    T, B, N, E = shape
    b, t, i = rng.integers(0, B, E), rng.integers(0, T, E), rng.integers(0, N, E)
    if order != "random":
        o = np.lexsort((i, t, b) if order.startswith("sorted") else (i, b, t))
        b, t, i = b[o], t[o], i[o]
    got = events_to_csr_native(b, t, i, (T, B, N))
    ref = _reference(b, t, i, T, B, N)
    for g, r, tw in zip(got, ref, events_to_csr(b, t, i, (T, B, N)), strict=True):
        assert g.dtype == np.int32
        np.testing.assert_array_equal(g, r)
        np.testing.assert_array_equal(g, tw)
    if E:
        assert got[1].size > 0


def test_engine_input_of_events_uses_the_kernel_and_agrees_with_dense(rng):
    T, B, N = 30, 5, 40
    x = rng.random((B, T, N)) < 0.1
    b, t, i = np.nonzero(x)
    o = rng.permutation(b.size)
    m = as_spike_matrix(np, SpikeEvents(b[o], t[o], i[o], (B, T, N)), N)
    d = as_spike_matrix(np, x, N)
    np.testing.assert_array_equal(m.indptr, d.indptr)
    np.testing.assert_array_equal(m.indices, d.indices)


def test_out_of_range_events_are_refused_before_the_kernel_reads_them():
    ev = SpikeEvents(np.array([0, 1]), np.array([0, 2]), np.array([3, 0]), (2, 3, 4))
    ev.i[0] = 4  # changed after validation
    with pytest.raises(sg.ShapeError, match=r"SpikeEvents\.i must lie in 0\.\.3"):
        events_to_csr_native(ev.b, ev.t, ev.i, (3, 2, 4))


@pytest.mark.parametrize(("T", "B", "N", "p"), [(1, 1, 1, 0.0), (1, 1, 1, 1.0), (9, 4, 13, 0.1)])
def test_keys_to_csr_matches_twin(rng, T, B, N, p):
    keys = np.flatnonzero(rng.random(T * B * N) < p)
    keys[-1:] = T * B * N - 1 if keys.size else keys[-1:]  # the last row and unit
    got = keys_to_csr_native(keys, (T, B, N))
    want = keys_to_csr(keys, (T, B, N))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int32
        np.testing.assert_array_equal(g, w)
    assert got[0][-1] == keys.size


def test_keys_to_csr_refuses_unsorted_or_out_of_range_keys():
    with pytest.raises(sg.ShapeError, match="strictly increasing"):
        keys_to_csr_native(np.array([3, 1]), (2, 1, 2))
    with pytest.raises(sg.ShapeError, match=r"keys must lie in 0\.\.3"):
        keys_to_csr_native(np.array([1, 4]), (2, 1, 2))
