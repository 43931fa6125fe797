"""NumPy twins against hand-computed values (one neuron, a few steps)."""

from __future__ import annotations

import numpy as np
import pytest

from spikegrad.backend import call
from spikegrad.ops.lif import lif_forward, lif_forward_sparse
from spikegrad.ops.readout import leaky_scan, leaky_scan_reverse
from spikegrad.ops.surrogate import active_set, sigma_prime


def test_lif_forward_one_neuron_by_hand():
    # alpha 0.5, theta 1: V0=0; V1=0.5*0+0.8=0.8; V2=0.4+0.8=1.2 (spike at t=2);
    # V3=0.6+0.8-1=0.4; V4=0.2+0=0.2
    h = np.array([0.8, 0.8, 0.8, 0.0, 0.0]).reshape(5, 1, 1)
    s = lif_forward(h, 0.5, 1.0)
    np.testing.assert_allclose(h.ravel(), [0.0, 0.8, 1.2, 0.4, 0.2])
    np.testing.assert_array_equal(s.ravel(), [0, 0, 1, 0, 0])


def test_spike_needs_strictly_above_threshold():
    h = np.array([1.0, 0.0, 0.0]).reshape(3, 1, 1)
    s = lif_forward(h, 1.0, 1.0)  # V1 = 1.0 exactly: no spike (strict >)
    np.testing.assert_array_equal(s.ravel(), [0, 0, 0])


def test_active_set_and_surrogate_by_hand():
    v = np.array([0.0, 0.79, 0.81, 1.0, 1.19, 1.21]).reshape(6, 1, 1)
    act = active_set(v, 1.0, 100.0, 0.2)
    np.testing.assert_array_equal(act.idx, [2, 3, 4])
    np.testing.assert_allclose(act.sp, [1 / (100 * 0.19 + 1) ** 2, 1.0, 1 / (100 * 0.19 + 1) ** 2])
    assert sigma_prime(np.array([1.5]), 1.0, 2.0)[0] == pytest.approx(1 / 4)
    assert active_set(v, 1.0, 100.0, np.inf).idx.size == 6


def test_fused_sparse_forward_matches_parts(rng):
    h = rng.normal(0.3, 0.5, (20, 3, 7))
    keys, act = lif_forward_sparse(h.copy(), 0.9, 1.0, 100.0, 0.2)
    v = h.copy()
    s = lif_forward(v, 0.9, 1.0)
    np.testing.assert_array_equal(keys, np.flatnonzero(s))
    ref = active_set(v, 1.0, 100.0, 0.2)
    np.testing.assert_array_equal(np.sort(act.idx), ref.idx)


def test_leaky_scans_by_hand():
    x = np.array([1.0, 2.0, 0.0, 4.0]).reshape(4, 1)
    np.testing.assert_allclose(leaky_scan(x, 0.5, 2.0).ravel(), [0, 2, 5, 2.5])
    e = np.array([1.0, 0.0, 2.0, 4.0]).reshape(4, 1)
    leaky_scan_reverse(e, 0.5)
    np.testing.assert_allclose(e.ravel(), [2.0, 2.0, 4.0, 4.0])


@pytest.mark.parametrize("shape", [(0,), (1,), (6,), (0, 3), (5, 0)])
def test_leaky_scans_of_vectors_and_empty_arrays(shape):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) + 1.0
    assert leaky_scan(x, 0.5, 1.0).shape == shape
    e = x.copy()
    assert leaky_scan_reverse(e, 0.5) is e
    if shape == (6,):
        np.testing.assert_array_equal(leaky_scan(x, 0.5, 1.0), [0, 1, 2.5, 4.25, 6.125, 8.0625])
        np.testing.assert_array_equal(e, [3.75, 5.5, 7, 8, 8, 6])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_neuron", [False, True])
def test_dense_backward_scan_is_the_kind_driver_bit_for_bit(rng, dtype, per_neuron, cpu_kernels):
    from spikegrad.neurons import lif as kind
    from spikegrad.ops import kind_twin

    T, B, N, N_in = 30, 3, 7, 5
    g = rng.normal(size=(T, B, N)).astype(dtype)
    sp = (rng.random((T, B, N)) * (rng.random((T, B, N)) < 0.3)).astype(dtype)
    x = (rng.random((T * B, N_in)) < 0.2).astype(dtype)
    w = rng.normal(size=(N_in, N)).astype(dtype)
    alpha = rng.uniform(0.8, 0.99, N).astype(dtype) if per_neuron else 0.9
    dw, dx = call("lif_backward_dense", g, sp, x, w, alpha, True)
    dw2, _, dx2 = kind_twin.backward_dense(kind, g, sp, x, None, w, None, (alpha,), True)
    assert np.array_equal(dw, dw2) and np.array_equal(dx, dx2)
    assert np.abs(dw).max() > 0
