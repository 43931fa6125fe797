"""Spike containers: the O(E) CSR placement against the sort, prepared SpikeMatrix input."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import REG, active_net, spikes

import spikegrad as sg
from spikegrad.spikes import (
    SpikeMatrix,
    as_spike_matrix,
    events_matrix,
    place_sorted_events,
    spike_matrix_from_keys,
)


def by_sort(b, t, i, T, B, N) -> SpikeMatrix:
    """The former construction: sort the time-major keys, drop repeats."""
    keys = np.unique((np.asarray(t) * B + np.asarray(b)) * N + np.asarray(i))
    return spike_matrix_from_keys(np, keys, T, B, N)


def assert_same(m: SpikeMatrix, ref: SpikeMatrix) -> None:
    assert (m.T, m.B, m.N) == (ref.T, ref.B, ref.N)
    assert m.indptr.dtype == m.indices.dtype == np.int32
    np.testing.assert_array_equal(m.indptr, ref.indptr)
    np.testing.assert_array_equal(m.indices, ref.indices)


def random_events(rng, B, T, N, p, repeats=0):
    """Events of a random 0/1 (B, T, N) array in (b, t, i) order, plus ``repeats`` duplicates."""
    b, t, i = np.nonzero(rng.random((B, T, N)) < p)
    if repeats and b.size:
        extra = rng.integers(0, b.size, repeats)
        b, t, i = (np.concatenate((a, a[extra])) for a in (b, t, i))
    return b, t, i


@pytest.mark.parametrize(
    "B, T, N, p",
    [(5, 7, 11, 0.3), (1, 9, 6, 0.4), (6, 1, 8, 0.5), (1, 1, 5, 0.6), (4, 6, 3, 0.0)],
)
def test_placement_equals_sort(rng, B, T, N, p):
    b, t, i = random_events(rng, B, T, N, p)
    if B > 1:
        b[b == B - 1] = 0  # an empty sample ...
    order = np.lexsort((i, t, b))  # ... and the (b, t, i) order placement needs, no repeats
    b, t, i = b[order], t[order], i[order]
    keep = np.diff((b * T + t) * N + i, prepend=-1) != 0
    b, t, i = b[keep], t[keep], i[keep]
    ref = by_sort(b, t, i, T, B, N)
    assert_same(place_sorted_events(np, b, t, i, T, B, N), ref)
    assert_same(events_matrix(np, b, t, i, T, B, N), ref)


@pytest.mark.parametrize("B, T, N", [(5, 7, 11), (1, 4, 6), (3, 1, 5)])
def test_events_in_any_order_with_repeats(rng, B, T, N):
    b, t, i = random_events(rng, B, T, N, 0.3, repeats=20)
    perm = rng.permutation(b.size)
    b, t, i = b[perm], t[perm], i[perm]
    assert_same(events_matrix(np, b, t, i, T, B, N), by_sort(b, t, i, T, B, N))
    x = sg.SpikeEvents(b, t, i, (B, T, N))
    assert_same(as_spike_matrix(np, x, N), by_sort(b, t, i, T, B, N))


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_prepared_matrix_gives_the_same_step(rng, mode):
    net = active_net([30, 20, 16, 4], reg=REG)
    x, y = spikes(rng, 3, 20, 30), rng.integers(0, 4, 3)
    ev = sg.SpikeEvents.from_dense(x)
    m = by_sort(ev.b, ev.t, ev.i, 20, 3, 30)
    results = [net.loss_and_grad(a, y, mode=mode) for a in (x, ev, m)]
    for loss, grads, _ in results[1:]:
        assert loss == results[0][0]
        for k, g in grads.items():
            np.testing.assert_array_equal(g, results[0][1][k])
    np.testing.assert_array_equal(net.forward(m), net.forward(x))


def _matrix(**change):
    rng = np.random.default_rng(0)
    b, t, i = random_events(rng, 2, 5, 30, 0.2)
    m = by_sort(b, t, i, 5, 2, 30)
    for k, v in change.items():
        setattr(m, k, v(m) if callable(v) else v)
    return m


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"N": 29}, sg.ShapeError, "29 input units"),
        ({"B": 0, "indptr": lambda m: m.indptr[:1]}, sg.ShapeError, "B >= 1"),
        ({"T": 4}, sg.ShapeError, r"shape \(9,\)"),
        ({"indptr": lambda m: m.indptr.astype(np.int64)}, sg.InputError, "indptr must be int32"),
        (
            {"indices": lambda m: m.indices.astype(np.uint32)},
            sg.InputError,
            "indices must be int32",
        ),
        ({"indices": lambda m: m.indices[:-1]}, sg.ShapeError, "from 0 to nnz"),
        ({"indptr": lambda m: m.indptr[::-1].copy()}, sg.ShapeError, "from 0 to nnz"),
        ({"indices": lambda m: m.indices + 1}, sg.InputError, "indices must lie in 0..29"),
        (
            {"indptr": lambda m: np.r_[0, m.indptr[-1], m.indptr[2:]].astype(np.int32)},
            sg.InputError,
            "non-decr",
        ),
    ],
)
def test_bad_prepared_matrix_is_refused(change, error, match):
    net = sg.Network([30, 20, 4])
    with pytest.raises(error, match=match) as info:
        net.forward(_matrix(**change))
    assert "\n" not in str(info.value)


def test_good_matrix_passes_unchanged_and_views_become_contiguous():
    m = _matrix()
    assert as_spike_matrix(np, m, 30) is m
    wide = np.zeros((m.nnz, 2), np.int32)
    wide[:, 0] = m.indices
    view = SpikeMatrix(m.indptr, wide[:, 0], m.T, m.B, m.N)
    got = as_spike_matrix(np, view, 30)
    assert got.indices.flags.c_contiguous
    assert_same(got, m)
