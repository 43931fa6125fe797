"""Neuron kinds other than LIF (CuBa, ALIF) on the fake CuPy: both modes and inference run on
the device, the sparse ops through their CUDA kernels (templated on the kind, on the CPU
emulation here), and match NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg

TOL = 1e-9


def _net(kind: str, backend: str) -> sg.Network:
    net = sg.Network(
        [10, 12, 8, 3], neuron=kind, recurrent=[True, False], alpha_out=0.8, b_th=0.4,
        reg={}, dtype="float64", seed=2, backend=backend,
    )  # fmt: skip
    net.params = {k: v * 3 for k, v in net.params.items()}
    return net


@pytest.mark.parametrize("kind", ["cuba", "alif"])
def test_both_modes_and_inference_on_cupy_match_numpy(fake_cp, kind):
    rng = np.random.default_rng(5)
    x, y = (rng.random((3, 15, 10)) < 0.3).astype(np.uint8), rng.integers(0, 3, 3)
    ref, net = _net(kind, "numpy"), _net(kind, "cupy")
    for mode in ("dense", "sparse"):
        loss_r, g_r, st_r = ref.loss_and_grad(x, y, mode=mode)
        loss, g, st = net.loss_and_grad(x, y, mode=mode)
        assert min(st_r["n_active"]) > 0 and st["n_active"] == st_r["n_active"]
        assert abs(float(loss) - float(loss_r)) <= TOL * abs(float(loss_r))
        for k in g_r:
            assert isinstance(g[k], fake_cp.ndarray)
            assert np.abs(g[k].get() - g_r[k]).max() <= TOL * np.abs(g_r[k]).max(), (mode, k)
    out = net.forward(x)
    want = ref.forward(x)
    got = out.get() if hasattr(out, "get") else out
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=TOL, atol=0)
