"""Neuron kinds without CUDA kernels (CuBa, ALIF) on the fake CuPy: the dense mode runs on
the device through the xp-generic twins and matches NumPy; the sparse mode and inference
are refused with one KernelError naming the kind, never run wrong."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg
from spikegrad.errors import KernelError

TOL = 1e-9


def _net(kind: str, backend: str) -> sg.Network:
    net = sg.Network(
        [10, 12, 8, 3], neuron=kind, recurrent=[True, False], alpha_out=0.8, b_th=0.4,
        reg={}, dtype="float64", seed=2, backend=backend,
    )  # fmt: skip
    net.params = {k: v * 3 for k, v in net.params.items()}
    return net


@pytest.mark.parametrize("kind", ["cuba", "alif"])
def test_dense_mode_on_cupy_matches_numpy_sparse_is_refused(fake_cp, kind):
    rng = np.random.default_rng(5)
    x, y = (rng.random((3, 15, 10)) < 0.3).astype(np.uint8), rng.integers(0, 3, 3)
    ref, net = _net(kind, "numpy"), _net(kind, "cupy")
    loss_r, g_r, st_r = ref.loss_and_grad(x, y, mode="dense")
    loss, g, st = net.loss_and_grad(x, y, mode="dense")
    assert min(st_r["n_active"]) > 0 and st["n_active"] == st_r["n_active"]
    assert abs(float(loss) - float(loss_r)) <= TOL * abs(float(loss_r))
    for k in g_r:
        assert isinstance(g[k], fake_cp.ndarray)
        assert np.abs(g[k].get() - g_r[k]).max() <= TOL * np.abs(g_r[k]).max(), k
    for call in (lambda: net.loss_and_grad(x, y, mode="sparse"), lambda: net.forward(x)):
        with pytest.raises(KernelError, match=f"^neuron kind '{kind}' has no CUDA kernels yet"):
            call()
