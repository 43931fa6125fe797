"""16-bit weight copies (spikegrad/ops/half) on the CPU emulation (see test_emulation.py):
every weight-reading kernel's float16 and bfloat16 instance (W = sg_f16, sg_bf16; common.cuh:
sg_wload) against the NumPy twins on the same copy. The products and the fused forward sum in
the twins' order, so they are equal bit for bit; dot products and the backward to float32
rounding. Each test runs in every launch mode of conftest.EMU_MODES; the file name sorts before
test_emulator.py, whose coverage test wants every kernel instance run in every mode.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import backend, native
from spikegrad.ops.half import to_half
from spikegrad.ops.lif import twin as lif_twin
from spikegrad.ops.spmm import twin as spmm_twin
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import assert_close, host

HALVES = {"float16": "sg_f16", "bfloat16": "sg_bf16"}


@pytest.mark.parametrize("wd", sorted(HALVES))
@pytest.mark.parametrize("variant", [1, 2])
def test_half_products(emu, wd, variant):
    """spike_matmul bit for bit, gather_rowdot (both variants) to rounding, on the copy."""
    rng = np.random.default_rng(3)
    n_rows, n_cols, m = 23, 11, 70
    keys = np.flatnonzero(rng.random(n_rows * n_cols) < 0.3)
    x = spike_matrix_from_keys(np, keys, n_rows, 1, n_cols)
    w = to_half((rng.normal(size=(n_cols, m)) * 3).astype(np.float32), wd)
    got = host.spike_matmul(emu, x.indptr, x.indices, w)
    assert got.dtype == np.float32
    assert np.array_equal(got, spmm_twin.spike_matmul(x.indptr, x.indices, w))
    assert emu.calls[-1].startswith(f"spmm_csr_kernel<float, {HALVES[wd]}, ")
    e = rng.normal(size=(9, m)).astype(np.float32)
    rows, cols = rng.integers(0, 9, 40), rng.integers(0, n_cols, 40)
    got = host.gather_rowdot(emu, e, rows, w, cols, variant)
    assert_close(got, lif_twin.gather_rowdot(e, rows, w, cols), np.float32)
    assert HALVES[wd] in emu.calls[-1]


# (neuron kind, recurrent, mode): every kind and form sparse; the dense mode reads the weights
# in products on the widened copy (layers/base.py: Signal.matmul), the same for every kind
STEPS = [(k, r, "sparse") for k in ("lif", "cuba", "alif") for r in (False, True)]
STEPS.append(("lif", False, "dense"))


@pytest.mark.parametrize("wd", sorted(HALVES))
@pytest.mark.parametrize(("neuron", "recurrent", "mode"), STEPS)
def test_step_through_kernels_reads_the_copy(emu, monkeypatch, wd, neuron, recurrent, mode):
    """A network reading a 16-bit copy, every kernel op swapped in for its twin: the same
    spikes and active sets, loss and gradients to float32 rounding, through the W instances."""
    rng = np.random.default_rng(9)
    x = (rng.random((3, 12, 10)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 4, 3)
    kw = dict(sizes=[10, 40, 33, 4], b_th=0.4, seed=3, weight_dtype=wd, neuron=neuron)
    kw["recurrent"] = recurrent

    def run():
        net = sg.Network(**kw)
        net.params = {k: v * 2 for k, v in net.params.items()}
        with native.mode("0"):  # the registry's "numpy" entries, not the native C kernels
            return net.loss_and_grad(x, y, mode=mode), net.hidden_spikes(x)

    (loss_ref, g_ref, st_ref), spikes_ref = run()
    for op, fn in host.OPS.items():
        monkeypatch.setitem(backend._REGISTRY, (op, "numpy"), functools.partial(fn, emu))
    emu.calls.clear()
    (loss, g, st), spikes = run()
    assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
    for a, b in zip(spikes, spikes_ref, strict=True):
        assert np.array_equal(a.to_dense(), b.to_dense())
    assert abs(loss - loss_ref) <= 1e-6 * abs(loss_ref)
    for k in g_ref:
        assert g[k].dtype == np.float32
        assert_close(g[k], g_ref[k], np.float32)
    half = {c.split("<")[0] for c in emu.calls if HALVES[wd] in c}
    want = set()
    if mode == "sparse":
        stem = "rlif" if recurrent else "lif"
        want = {f"{stem}_spikes_emit_kernel", "spmm_csr_kernel", "gather_rowdot_kernel"}
        want |= {"gather_rowdot_warp_kernel"} | ({"rlif_backward_kernel"} if recurrent else set())
    assert want <= half, (want - half, emu.calls)
