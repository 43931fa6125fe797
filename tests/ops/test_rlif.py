"""Recurrent LIF twins: by hand, sparse against dense, R = 0 against the feed-forward ops, and
per-neuron alpha against one scalar-alpha run per neuron."""

from __future__ import annotations

import numpy as np
import pytest

from spikegrad.ops.lif import lif_backward_dense, lif_backward_sparse, lif_forward
from spikegrad.ops.rlif import (
    rlif_backward_dense,
    rlif_backward_sparse,
    rlif_forward,
    rlif_forward_sparse_spikes,
)
from spikegrad.ops.surrogate import ActiveSet, active_set, sigma_prime_masked
from spikegrad.spikes import SpikeEvents, as_spike_matrix, spike_matrix_from_keys


def _csr(x):
    """SpikeMatrix of a (B, T, N) 0/1 array."""
    return as_spike_matrix(np, SpikeEvents.from_dense(x), x.shape[2])


def test_recurrent_forward_by_hand():
    # neuron 0 gets 0.6 per step, alpha 1: V0 = 0, 0.6, 1.2 (spike at t=2), then 1.2 - 1 + 0.6.
    # R[0, 1] = 0.5: neuron 1 gets 0.5 one step after each spike of neuron 0.
    h = np.zeros((5, 1, 2))
    h[:, 0, 0] = 0.6
    r = np.array([[0.0, 0.5], [0.0, 0.0]])
    s = rlif_forward(h, r, 1.0, 1.0)
    np.testing.assert_allclose(h[:, 0, 0], [0.0, 0.6, 1.2, 0.8, 1.4])
    np.testing.assert_allclose(h[:, 0, 1], [0.0, 0.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(s[:, 0, 0], [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(s[:, 0, 1], [0, 0, 0, 0, 0])


def _problem(rng, T=30, B=3, n_in=9, N=7, p=0.3):
    x = (rng.random((B, T, n_in)) < p).astype(np.uint8)
    w = rng.normal(0.25, 0.4, (n_in, N))
    r = rng.normal(0.0, 0.4, (N, N))
    return x, w, r


@pytest.mark.parametrize("alpha", ["scalar", "per-neuron"])
def test_sparse_forward_equals_dense_forward(rng, alpha):
    x, w, r = _problem(rng)
    T, B, N = x.shape[1], x.shape[0], w.shape[1]
    a = 0.9 if alpha == "scalar" else rng.uniform(0.5, 1.0, N)
    xs = _csr(x)
    keys, act = rlif_forward_sparse_spikes(xs.indptr, xs.indices, w, r, a, 1.0, 100.0, 0.2, (T, B))
    h = xs.dense_rows(np.float64).reshape(T, B, -1) @ w
    s = rlif_forward(h, r, a, 1.0)
    assert s.any() and not s.all()
    np.testing.assert_array_equal(keys, np.flatnonzero(s))
    ref = active_set(h, 1.0, 100.0, 0.2)
    np.testing.assert_array_equal(act.idx, ref.idx)
    np.testing.assert_allclose(act.sp, ref.sp, rtol=1e-12)


def _dense_and_sparse_backward(rng, a, r, with_prev=True):
    x, w, _ = _problem(rng)
    T, B, N = x.shape[1], x.shape[0], w.shape[1]
    xs = _csr(x)
    keys, act = rlif_forward_sparse_spikes(xs.indptr, xs.indices, w, r, a, 1.0, 100.0, 0.2, (T, B))
    own = spike_matrix_from_keys(np, keys, T, B, N)
    g = rng.normal(0, 1, (T, B, N))
    sp = np.zeros(T * B * N)
    sp[act.idx] = act.sp
    sp = sp.reshape(T, B, N)
    xd = xs.dense_rows(np.float64)
    sd = own.dense_rows(np.float64)
    dense = rlif_backward_dense(g, sp, xd, sd, w, r, a, with_prev)
    prev = ActiveSet(rng.choice(T * B * x.shape[2], 40, replace=False), None) if with_prev else None
    if prev is not None:
        prev = ActiveSet(np.sort(prev.idx), np.ones(40))
    sparse = rlif_backward_sparse(g.reshape(-1)[act.idx], act, xs, own, w, r, a, prev, (T, B, N))
    return dense, sparse, prev, (g, sp, xd, w, xs, act)


@pytest.mark.parametrize("alpha", ["scalar", "per-neuron"])
def test_sparse_backward_equals_dense_backward(rng, alpha):
    a = 0.9 if alpha == "scalar" else rng.uniform(0.5, 1.0, 7)
    r = rng.normal(0.0, 0.4, (7, 7))
    (dw, dr, dx), (sw, sr, sx), prev, _ = _dense_and_sparse_backward(rng, a, r)
    assert np.abs(dr).max() > 0
    np.testing.assert_allclose(sw, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sr, dr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sx, dx.reshape(-1)[prev.idx], rtol=1e-10, atol=1e-12)


def test_zero_recurrence_is_the_feed_forward_layer(rng):
    a = rng.uniform(0.5, 1.0, 7)
    (dw, _, dx), (sw, _, sx), prev, (g, sp, xd, w, xs, act) = _dense_and_sparse_backward(
        rng, a, np.zeros((7, 7))
    )
    fw, fx = lif_backward_dense(g, sp, xd, w, a, True)
    np.testing.assert_array_equal(dw, fw)
    np.testing.assert_array_equal(dx, fx)
    T, B = g.shape[:2]
    gw, gx = lif_backward_sparse(g.reshape(-1)[act.idx], act, xs, w, a, prev, (T, B, 7))
    np.testing.assert_allclose(sw, gw, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sx, gx, rtol=1e-12, atol=1e-15)


def test_per_neuron_alpha_is_one_scalar_run_per_neuron(rng):
    h = rng.normal(0.3, 0.5, (25, 2, 5))
    a = np.array([0.5, 0.8, 0.9, 0.95, 1.0])
    v = h.copy()
    s = lif_forward(v, a, 1.0)
    for j in range(5):
        vj = np.ascontiguousarray(h[:, :, j : j + 1])
        sj = lif_forward(vj, float(a[j]), 1.0)
        np.testing.assert_array_equal(s[:, :, j : j + 1], sj)
        np.testing.assert_array_equal(v[:, :, j : j + 1], vj)
    g = rng.normal(0, 1, h.shape)
    sp = sigma_prime_masked(v, 1.0, 100.0, 0.2)
    x = (rng.random((25 * 2, 3)) < 0.4).astype(np.float64)
    w = rng.normal(0, 1, (3, 5))
    dw, dx = lif_backward_dense(g, sp, x, w, a, True)
    for j in range(5):
        gj, spj = g[:, :, j : j + 1].copy(), sp[:, :, j : j + 1].copy()
        dwj, _ = lif_backward_dense(gj, spj, x, w[:, j : j + 1], float(a[j]), False)
        np.testing.assert_allclose(dw[:, j : j + 1], dwj, rtol=1e-13)
    assert dx.shape == (25, 2, 3)
