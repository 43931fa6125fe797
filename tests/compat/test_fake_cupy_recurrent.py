"""Recurrent layers and per-neuron alpha on the fake CuPy 13.3: the dense mode (xp-generic
recurrent twins, CUDA feed-forward kernels in the CPU emulation) against the NumPy backend."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg

TOL = 1e-9  # float64: the two sides differ in summation order only (tests/kernels/conftest.py)


@pytest.mark.parametrize("recurrent", [True, [False, True]])
def test_dense_step_matches_numpy(fake_cp, recurrent):
    rng = np.random.default_rng(4)
    x, y = (rng.random((3, 12, 10)) < 0.3).astype(np.uint8), rng.integers(0, 4, 3)
    kw = dict(
        sizes=[10, 30, 20, 4],
        recurrent=recurrent,
        alpha=[0.9, rng.uniform(0.6, 0.95, 20)],
        b_th=0.4,
        dtype="float64",
        seed=3,
    )
    ref, net = sg.Network(**kw), sg.Network(**kw, backend="cupy")
    params = {k: v * 3 for k, v in ref.params.items()}
    ref.params, net.params = params, params
    loss_ref, g_ref, st_ref = ref.loss_and_grad(x, y, mode="dense")
    loss, g, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st_ref["n_active"]) > 0 and st["n_active"] == st_ref["n_active"]
    assert abs(float(loss) - float(loss_ref)) <= TOL * abs(float(loss_ref))
    for k in ref.param_shapes():
        want, got = np.asarray(g_ref[k]), g[k].get()
        assert np.abs(got - want).max() <= TOL * np.abs(want).max(), k
