"""The layer protocol's records: the dense and sparse tapes and signals are two forms of the
same quantities (gathering the dense form at the active entries gives the sparse form)."""

from __future__ import annotations

import numpy as np
from helpers import spikes

from spikegrad.layers.base import DenseTape, Signal, SparseTape, input_signal
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import as_spike_matrix

T, B, N, M = 7, 3, 5, 4


def tapes(rng):
    idx = np.sort(rng.choice(T * B * N, 40, replace=False)).astype(np.int32)
    sp = rng.random(40)
    dense = DenseTape(None, (T, B, N), sp=np.zeros((T, B, N)))
    return dense, SparseTape(None, (T, B, N), act=ActiveSet(idx, sp)), idx


def test_grad_from_and_rate_grad_agree(rng):
    dense, sparse, idx = tapes(rng)
    dy, w, greg = rng.normal(size=(T * B, M)), rng.normal(size=(N, M)), rng.normal(size=(B, N))
    g_dense = dense.grad_from(dy, w)
    assert g_dense.shape == (T, B, N)
    np.testing.assert_allclose(sparse.grad_from(dy, w), g_dense.reshape(-1)[idx], rtol=1e-13)
    g0 = rng.normal(size=(T, B, N))
    got = sparse.add_rate_grad(g0.reshape(-1)[idx], greg)
    np.testing.assert_array_equal(got, dense.add_rate_grad(g0, greg).reshape(-1)[idx])


def test_signal_forms_agree(rng):
    xs = as_spike_matrix(np, spikes(rng, B, T, N), N)
    sparse, dense = input_signal(xs, "sparse", np.float64), input_signal(xs, "dense", np.float64)
    assert sparse.rows is None and sparse.operand is xs and dense.operand is dense.rows
    w, e = rng.normal(size=(N, M)), rng.normal(size=(T * B, M))
    np.testing.assert_allclose(sparse.matmul(w), dense.matmul(w), rtol=1e-13)
    np.testing.assert_allclose(sparse.tmatmul(e), dense.tmatmul(e), rtol=1e-13)
    assert isinstance(input_signal(xs, None, np.float64), Signal)
