"""rlif.cu and per-neuron alpha on the CPU emulation (see test_emulation.py), against the twins.

The recurrent forward repeats the twin's order of additions (input rows in CSR order, then the
R rows of the spiking neurons, ascending), so spikes, active set and sigma' are equal bit for
bit in both dtypes; the backward's recurrent dot products sum in another order, so e1 and the
gradients agree to rounding (float64: 1e-12 relative, CONTRACT of issue 13). The feed-forward
kernels with a per-neuron alpha (one value per neuron j, broadcast along the last axis) equal
their twins bit for bit. Each test runs in every launch mode of conftest.EMU_MODES; the
recurrent kernels are cooperative (one OS thread per CUDA thread). The file name sorts before
test_emulator.py, whose coverage test wants every kernel instance run in every mode.
"""

from __future__ import annotations

import functools
import re
import tracemalloc

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import backend, native
from spikegrad import kernels as K
from spikegrad.ops import lif as lif_twin
from spikegrad.ops import readout as readout_twin
from spikegrad.ops import rlif as rlif_twin
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import assert_close, host, rel_err, rlif_glue

# (T, B, N_in, N): B, T, N = 1; N not a multiple of 32; N > the block (256 threads)
RLIF_SHAPES = [(1, 1, 1, 1), (6, 1, 4, 3), (1, 3, 5, 4), (9, 3, 13, 97), (5, 2, 7, 300)]
RTOL_BACKWARD = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


# alpha one float or per neuron; the per-sample rows in shared memory or (host switch) global
VARIANTS = ["scalar-shared", "neuron-shared", "neuron-global"]


def _variant(name: str, n: int, rng, monkeypatch) -> float | np.ndarray:
    """alpha of the variant; sets the host's shared-memory switch."""
    kind, where = name.split("-")
    if where == "global":
        monkeypatch.setattr(rlif_glue, "RLIF_SHARED", 0)
    return 0.9 if kind == "scalar" else rng.uniform(0.6, 0.99, n)


def _inputs(rng, T, B, N_in, N, dtype, idx_dtype=np.int32):
    """Input spikes (every third row empty), w and a recurrent r strong enough to matter."""
    keep = rng.random((T * B, N_in)) < 0.4
    keep[1::3] = False
    x = spike_matrix_from_keys(np, np.flatnonzero(keep), T, B, N_in)
    w = rng.normal(0.3, 0.6, (N_in, N)).astype(dtype)
    r = rng.normal(0.0, 1.5 / np.sqrt(N), (N, N)).astype(dtype)
    return x.indptr.astype(idx_dtype), x.indices.astype(idx_dtype), w, r


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("b_th", [0.2, np.inf, 1e-30], ids=["band", "all", "empty"])
@pytest.mark.parametrize("shape", RLIF_SHAPES, ids=str)
def test_rlif_forward_sparse_spikes(emu, monkeypatch, shape, b_th, variant, dtype):
    T, B, N_in, N = shape
    rng = np.random.default_rng(31)
    ip, ind, w, r = _inputs(rng, T, B, N_in, N, dtype)
    alpha = _variant(variant, N, rng, monkeypatch)
    args = (ip, ind, w, r, alpha, 1.0, 100.0, b_th, (T, B))
    keys_ref, act_ref = rlif_twin.rlif_forward_sparse_spikes(*args)
    emu.calls.clear()
    keys, act = host.rlif_forward_sparse_spikes(emu, *args)
    assert np.array_equal(keys, keys_ref)
    assert act.idx.dtype == act_ref.idx.dtype and act.sp.dtype == dtype
    assert np.array_equal(act.idx, act_ref.idx)
    assert np.array_equal(act.sp, act_ref.sp)
    assert emu.calls[0].startswith("rlif_spikes_count_kernel")
    if b_th == np.inf:
        assert act.idx.size == T * B * N
    if b_th == 1e-30:
        assert act.idx.size == 0
    if T > 1 and N > 3 and b_th == 0.2:
        assert keys.size and act.idx.size, "the case must exercise spikes and a band"


def test_rlif_forward_recurrence_matters_and_int64(emu, dtype):
    """The recurrent rows change the spikes (so the test above can fail on them), and the
    int64 index path agrees with the int32 one."""
    T, B, N_in, N = 9, 3, 13, 97
    rng = np.random.default_rng(32)
    ip, ind, w, r = _inputs(rng, T, B, N_in, N, dtype)
    args = (0.9, 1.0, 100.0, 0.2, (T, B))
    keys, act = host.rlif_forward_sparse_spikes(emu, ip, ind, w, r, *args)
    keys0, _ = host.rlif_forward_sparse_spikes(emu, ip, ind, w, 0 * r, *args)
    keys_ff, _ = host.lif_forward_sparse_spikes(emu, ip, ind, w, *args)
    assert np.array_equal(keys0, keys_ff) and not np.array_equal(keys, keys0)
    keys64, act64 = host.rlif_forward_sparse_spikes(
        emu, ip.astype(np.int64), ind.astype(np.int64), w, r, *args
    )
    assert np.array_equal(keys64, keys) and np.array_equal(act64.idx, act.idx)
    assert np.array_equal(act64.sp, act.sp)


def test_shared_limit_is_the_kernels():
    """host.RLIF_SHARED names the size of rlif.cu's shared rows (SG_RLIF_SHARED)."""
    m = re.search(r"#define SG_RLIF_SHARED (\d+)", K.source("rlif"))
    assert m and int(m.group(1)) == host.RLIF_SHARED


def test_rlif_forward_allocates_no_dense_array(emu_launcher, dtype):
    """Peak host memory of the fused recurrent forward (the emulator allocates nothing: the
    kernels write the host code's arrays) stays below one (T, B, N) float array, which the
    twin (it holds h and |V - theta|) exceeds, so the measure can fail. Host allocations do
    not depend on the launch mode: one launcher as configured, not every mode."""
    emu = emu_launcher
    T, B, N_in, N = 40, 4, 30, 300
    rng = np.random.default_rng(36)
    ip, ind, _, _ = _inputs(rng, T, B, N_in, N, dtype)
    w = rng.normal(0.0, 0.3, (N_in, N)).astype(dtype)  # ~16 % spikes, ~3 % active
    r = rng.normal(0.0, 0.3 / np.sqrt(N), (N, N)).astype(dtype)
    args = (ip, ind, w, r, 0.9, 1.0, 100.0, 0.1, (T, B))

    def peak(fn):
        tracemalloc.start()
        try:
            out = fn()
            return tracemalloc.get_traced_memory()[1], out
        finally:
            tracemalloc.stop()

    fused, (keys, act) = peak(lambda: host.rlif_forward_sparse_spikes(emu, *args))
    twin, _ = peak(lambda: rlif_twin.rlif_forward_sparse_spikes(*args))
    dense_bytes = T * B * N * dtype.itemsize
    assert 0 < keys.size < 0.3 * T * B * N and 0 < act.idx.size < 0.2 * T * B * N
    assert twin >= dense_bytes
    assert fused < dense_bytes, f"peak {fused} B >= one (T, B, N) array ({dense_bytes} B)"


def _backward_case(case, variant, dtype, monkeypatch):
    rng = np.random.default_rng(33)
    T, B, N_in, N = {"tiny": (1, 1, 1, 1), "wide": (4, 2, 7, 300)}.get(case, (8, 3, 13, 97))
    b_th = {"all": np.inf, "empty": 1e-30}.get(case, 0.3)
    ip, ind, w, r = _inputs(rng, T, B, N_in, N, dtype)
    alpha = _variant(variant, N, rng, monkeypatch)
    keys, act = rlif_twin.rlif_forward_sparse_spikes(ip, ind, w, r, alpha, 1.0, 100.0, b_th, (T, B))
    x = spike_matrix_from_keys(
        np, np.repeat(np.arange(T * B), np.diff(ip)) * N_in + ind, T, B, N_in
    )
    s = spike_matrix_from_keys(np, keys, T, B, N)
    g = rng.normal(size=act.idx.size).astype(dtype)
    prev = None
    if case != "first_layer":
        pidx = np.flatnonzero(rng.random(T * B * N_in) < 0.3).astype(np.int32)
        prev = ActiveSet(pidx, np.ones(pidx.size, dtype))  # sorted: the ActiveSet contract
    return (g, act, x, s, w, r, alpha, prev, (T, B, N))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", ["band", "all", "empty", "first_layer", "tiny", "wide"])
def test_rlif_backward_sparse(emu, monkeypatch, case, variant, dtype):
    args = _backward_case(case, variant, dtype, monkeypatch)
    ref = rlif_twin.rlif_backward_sparse(*args)
    got = host.rlif_backward_sparse(emu, *args)
    for a, b in zip(got[:2], ref[:2], strict=True):
        assert a.dtype == dtype and rel_err(a, b) <= RTOL_BACKWARD[np.dtype(dtype)]
    if args[7] is None:
        assert got[2] is None
    else:
        assert rel_err(got[2], ref[2]) <= RTOL_BACKWARD[np.dtype(dtype)]
    act = args[1]
    if case == "empty":
        assert act.idx.size == 0 and not got[0].any() and not got[1].any()
    if case in ("band", "all", "wide"):
        assert act.idx.size and args[3].nnz and got[1].any(), "dR must be exercised"


def test_rlif_backward_recurrent_term_matters(emu, monkeypatch, dtype):
    """Without the recurrent term (r = 0 in the backward only) the gradients differ: the
    kernel's dot products are checked, not just the leaky scan."""
    case = _backward_case("band", "neuron-shared", dtype, monkeypatch)
    g, act, x, s, w, r, alpha, prev, shape = case
    got = host.rlif_backward_sparse(emu, g, act, x, s, w, r, alpha, prev, shape)
    zero = host.rlif_backward_sparse(emu, g, act, x, s, w, 0 * r, alpha, prev, shape)
    assert rel_err(zero[0], got[0]) > 1e-3


def test_rlif_checks(emu):
    ip, ind = np.zeros(7, np.int32), np.zeros(0, np.int32)
    w, r = np.ones((4, 3)), np.ones((3, 3))
    with pytest.raises(sg.ShapeError, match="r must"):
        host.rlif_forward_sparse_spikes(emu, ip, ind, w, r[:2], 0.9, 1.0, 1.0, 0.2, (2, 3))
    with pytest.raises(sg.ShapeError, match="alpha"):
        host.rlif_forward_sparse_spikes(emu, ip, ind, w, r, np.ones(4), 1.0, 1.0, 0.2, (2, 3))
    with pytest.raises(sg.DTypeError):
        host.rlif_forward_sparse_spikes(
            emu, ip, ind, w, r.astype(np.float32), 0.9, 1.0, 1.0, 0.2, (2, 3)
        )
    with pytest.raises(sg.ShapeError, match="indptr"):
        host.rlif_forward_sparse_spikes(emu, ip, ind, w, r, 0.9, 1.0, 1.0, 0.2, (2, 2))
    keys, act = host.rlif_forward_sparse_spikes(emu, ip, ind, w, r, 0.9, 1.0, 1.0, 2.0, (2, 3))
    assert keys.size == 0 and np.array_equal(act.idx, np.arange(18))  # no input: V = 0
    x = spike_matrix_from_keys(np, np.zeros(0, np.int64), 2, 3, 4)
    s = spike_matrix_from_keys(np, np.zeros(0, np.int64), 2, 3, 3)
    g = np.ones(act.idx.size)
    with pytest.raises(sg.ShapeError, match="s must"):
        host.rlif_backward_sparse(emu, g, act, x, x, w, r, 0.9, None, (2, 3, 3))
    dw, dr, _ = host.rlif_backward_sparse(emu, g, act, x, s, w, r, 0.9, None, (2, 3, 3))
    assert not dw.any() and not dr.any()


# ----------------------------------------------------- per-neuron alpha in the FF kernels


@pytest.mark.parametrize("shape", [(1, 1, 1), (9, 3, 97), (4, 2, 300)])
def test_ff_kernels_per_neuron_alpha(emu, shape, dtype):
    T, B, N = shape
    rng = np.random.default_rng(34)
    alpha = rng.uniform(0.5, 0.99, N)
    h = rng.normal(0.35, 0.6, shape).astype(dtype)
    v_ref, v = h.copy(), h.copy()
    s_ref = lif_twin.lif_forward(v_ref, alpha, 1.0)
    s = host.lif_forward(emu, v, alpha, 1.0)
    assert np.array_equal(s, s_ref) and np.array_equal(v, v_ref)
    if N > 1:  # the per-neuron values are used: one shared alpha gives other potentials
        v1 = h.copy()
        host.lif_forward(emu, v1, float(alpha[0]), 1.0)
        assert not np.array_equal(v1, v_ref) or T == 1
    e_ref, e = h.copy(), h.copy()
    readout_twin.leaky_scan_reverse(e_ref, alpha)
    assert np.array_equal(host.leaky_scan_reverse(emu, e, alpha), e_ref)
    g = rng.normal(size=shape).astype(dtype)
    sp = (rng.random(shape) * (rng.random(shape) < 0.3)).astype(dtype)
    x = (rng.random((T * B, 11)) < 0.3).astype(dtype)
    w = rng.normal(size=(11, N)).astype(dtype)
    dw, dx = host.lif_backward_dense(emu, g, sp, x, w, alpha, True)
    dw_ref, dx_ref = lif_twin.lif_backward_dense(g, sp, x, w, alpha, True)
    assert_close(dw, dw_ref, dtype)
    assert_close(dx, dx_ref, dtype)


@pytest.mark.parametrize("b_th", [0.2, np.inf])
def test_ff_sparse_per_neuron_alpha(emu, b_th, dtype):
    T, B, N_in, N = 9, 3, 13, 97
    rng = np.random.default_rng(35)
    ip, ind, w, _ = _inputs(rng, T, B, N_in, N, dtype)
    alpha = rng.uniform(0.5, 0.99, N)
    args = (ip, ind, w, alpha, 1.0, 100.0, b_th, (T, B))
    keys_ref, act_ref = lif_twin.lif_forward_sparse_spikes(*args)
    keys, act = host.lif_forward_sparse_spikes(emu, *args)
    assert np.array_equal(keys, keys_ref) and np.array_equal(act.idx, act_ref.idx)
    assert np.array_equal(act.sp, act_ref.sp)
    x = spike_matrix_from_keys(
        np, np.repeat(np.arange(T * B), np.diff(ip)) * N_in + ind, T, B, N_in
    )
    g = rng.normal(size=act.idx.size).astype(dtype)
    pidx = np.flatnonzero(rng.random(T * B * N_in) < 0.3).astype(np.int32)
    prev = ActiveSet(pidx, np.ones(pidx.size, dtype))
    got = host.lif_backward_sparse(emu, g, act, x, w, alpha, prev, (T, B, N))
    ref = lif_twin.lif_backward_sparse(g, act, x, w, alpha, prev, (T, B, N))
    assert_close(got[0], ref[0], dtype)
    assert_close(got[1], ref[1], dtype)
    with pytest.raises(sg.ShapeError, match="alpha"):
        host.lif_forward_sparse_spikes(emu, ip, ind, w, alpha[:-1], 1.0, 100.0, b_th, (T, B))


# ----------------------------------------------------- the whole step through the kernels


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_recurrent_loss_and_grad_through_kernels(emu, monkeypatch, mode, dtype):
    """Network.loss_and_grad of a recurrent + feed-forward stack with per-neuron alpha, with
    every kernel op swapped in for its twin: the layers call rlif.cu and the per-neuron-alpha
    LIF kernels with the arguments the twins take, and the gradients match."""
    rng = np.random.default_rng(38)
    x = (rng.random((3, 12, 10)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 4, 3)
    alpha = [rng.uniform(0.7, 0.95, 30), rng.uniform(0.7, 0.95, 20)]
    kw = dict(sizes=[10, 30, 20, 4], alpha=alpha, recurrent=[True, False], b_th=0.4, reg={})
    kw.update(dtype=dtype.name, seed=3)
    net = sg.Network(**kw)
    net.params = {k: v * 2 for k, v in net.params.items()}  # both layers active
    with native.mode("0"):
        loss_ref, g_ref, st_ref = net.loss_and_grad(x, y, mode=mode)
    for op, fn in host.OPS.items():
        monkeypatch.setitem(backend._REGISTRY, (op, "numpy"), functools.partial(fn, emu))
    emu.calls.clear()
    with native.mode("0"):
        loss, g, st = net.loss_and_grad(x, y, mode=mode)
    assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
    assert abs(loss - loss_ref) <= 1e-6 * abs(loss_ref)
    assert set(g) == {"W1", "R1", "W2", "W_out"}
    for k in g_ref:
        assert_close(g[k], g_ref[k], dtype)
    used = {c.split("<")[0] for c in emu.calls}
    rec = {"rlif_spikes_emit_kernel", "rlif_backward_kernel"}
    assert rec & used == (rec if mode == "sparse" else set())
    assert ("dense_eps_kernel" in used) == (mode == "dense")
