"""Kernel logic on the CPU: the .cu files compiled with g++, launched grid by grid through the
host code of spikegrad.kernels.host, against the NumPy twins on random inputs.

Shapes include B, T or N = 1, sizes that are not multiples of the block (256), an empty
active set and all entries active (b_th = inf). Spikes and active indices must be equal
exactly; since the kernels are built with --fmad=false / -ffp-contract=off and repeat the
twins' operation order, the scans are bitwise equal in both dtypes, and the reductions meet
the tolerance table of conftest.py.

Every test using the `emu` fixture runs in each launch mode of conftest.EMU_MODES (as
launched; grid capped at one block with threads reversed and int64 indices; capped with threads
shuffled over two concurrent OS threads). Kernels without block cooperation may run in any
order, their atomics are real atomics; the kernels of spikegrad.kernels.COOPERATIVE (warp
shuffles) run one OS thread per CUDA thread with barriers; test_cooperation_is_declared keeps
that list complete.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import backend, native
from spikegrad import kernels as K
from spikegrad.kernels import host
from spikegrad.ops import adam as adam_twin
from spikegrad.ops import lif as lif_twin
from spikegrad.ops import spmm as spmm_twin
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import assert_close

SHAPES = [(1, 1, 1), (6, 1, 3), (1, 3, 4), (9, 3, 97)]  # (T, B, N); B*N = 291 > one block


def _h(rng, shape, dtype):
    return (rng.normal(0.35, 0.6, shape)).astype(dtype)


_COOP = re.compile(r"__syncthreads|__shared__|__shfl|cooperative_groups")
_KERNEL = re.compile(r"__global__\s+void\s+__launch_bounds__\([^)]*\)\s+(\w+)\s*\(")


def test_cooperation_is_declared():
    for stem in K.KERNELS:
        code = re.sub(r"//.*", "", K.source(stem))
        for chunk in re.split(r"\ntemplate\s*<", code):
            name = _KERNEL.search(chunk)
            if name is None:
                continue
            uses = bool(_COOP.search(chunk))
            assert uses == (name.group(1) in K.COOPERATIVE), (
                f"{stem}.cu: {name.group(1)} {'uses' if uses else 'does not use'} block "
                "cooperation; spikegrad.kernels.COOPERATIVE must say so (the CPU emulation "
                "runs those kernels one OS thread per CUDA thread)"
            )
    common = re.sub(r"//.*", "", (K.kernel_dir() / "common.cuh").read_text())
    assert not _COOP.search(common)


@pytest.mark.parametrize("shape", SHAPES)
def test_lif_forward(emu, shape, dtype):
    h = _h(np.random.default_rng(1), shape, dtype)
    v_ref = h.copy()
    s_ref = lif_twin.lif_forward(v_ref, 0.9, 1.0)
    v = h.copy()
    s = host.lif_forward(emu, v, 0.9, 1.0)
    assert s.dtype == bool and np.array_equal(s, s_ref)
    assert np.array_equal(v, v_ref)
    assert s.any() or shape[0] == 1


@pytest.mark.parametrize("b_th", [0.2, np.inf, 1e-30], ids=["band", "all", "empty"])
@pytest.mark.parametrize("shape", SHAPES)
def test_lif_forward_sparse(emu, shape, b_th, dtype):
    h = _h(np.random.default_rng(2), shape, dtype)
    keys_ref, act_ref = lif_twin.lif_forward_sparse(h.copy(), 0.9, 1.0, 100.0, b_th)
    h_in = h.copy()
    keys, act = host.lif_forward_sparse(emu, h_in, 0.9, 1.0, 100.0, b_th)
    assert np.array_equal(h_in, h), "the fused forward must not write h"
    assert np.array_equal(keys, keys_ref)
    assert act.idx.dtype == act_ref.idx.dtype and act.sp.dtype == dtype
    order = np.argsort(act.idx)
    assert np.array_equal(act.idx[order], act_ref.idx)  # twin: sorted
    assert np.array_equal(act.sp[order], act_ref.sp)
    if b_th == np.inf:
        assert act.idx.size == h.size
    if b_th == 1e-30:
        assert act.idx.size == 0


def test_lif_forward_sparse_no_input(emu, dtype):
    keys, act = host.lif_forward_sparse(emu, np.zeros((5, 2, 3), dtype), 0.9, 1.0, 100.0, 0.2)
    assert keys.size == 0 and act.idx.size == 0


@pytest.mark.parametrize("shape", [(1, 2, 3), (8, 3, 97)])
def test_leaky_scans(emu, shape, dtype):
    x = np.random.default_rng(3).normal(size=shape).astype(dtype)
    assert np.array_equal(host.leaky_scan(emu, x, 0.8, 0.2), lif_twin.leaky_scan(x, 0.8, 0.2))
    e_ref, e = x.copy(), x.copy()
    lif_twin.leaky_scan_reverse(e_ref, 0.7)
    assert host.leaky_scan_reverse(emu, e, 0.7) is e
    assert np.array_equal(e, e_ref)


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize(("n", "m"), [(0, 37), (1, 1), (300, 37), (70, 5)])
@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
def test_gather_rowdot(emu, n, m, idx_dtype, variant, dtype):
    rng = np.random.default_rng(4)
    e, w = rng.normal(size=(13, m)).astype(dtype), rng.normal(size=(7, m)).astype(dtype)
    rows, cols = rng.integers(0, 13, n).astype(idx_dtype), rng.integers(0, 7, n).astype(np.int32)
    got = host.gather_rowdot(emu, e, rows, w, cols, variant)
    assert_close(got, lif_twin.gather_rowdot(e, rows, w, cols), dtype)
    if n:
        warp = emu.calls[-1].startswith("gather_rowdot_warp_kernel")
        assert warp == (variant == 2)


def _csr(rng, n_rows, n_cols, rate):
    keys = np.flatnonzero(rng.random(n_rows * n_cols) < rate)
    return spike_matrix_from_keys(np, keys, n_rows, 1, n_cols)


@pytest.mark.parametrize("deterministic", [False, True], indirect=True)
@pytest.mark.parametrize(
    ("n_rows", "n_cols", "m", "rate"), [(1, 1, 1, 1.0), (40, 9, 300, 0.1), (5, 4, 3, 0.0)]
)
def test_spike_products(emu, deterministic, n_rows, n_cols, m, rate, dtype):
    rng = np.random.default_rng(5)
    x = _csr(rng, n_rows, n_cols, rate)
    w = rng.normal(size=(n_cols, m)).astype(dtype)
    e = rng.normal(size=(n_rows, m)).astype(dtype)
    got = host.spike_matmul(emu, x.indptr, x.indices, w)
    assert_close(got, spmm_twin.spike_matmul(x.indptr, x.indices, w), dtype)
    got = host.spike_tmatmul(emu, x.indptr, x.indices, e, n_cols)
    assert_close(got, spmm_twin.spike_tmatmul(x.indptr, x.indices, e, n_cols), dtype)
    want = "spmm_csr_kernel" if deterministic else "spmm_csr_t_atomic_kernel"
    assert (rate == 0 and n_rows * m == 0) or any(c.startswith(want) for c in emu.calls[-1:])


@pytest.mark.parametrize("need_dx", [False, True])
@pytest.mark.parametrize(("T", "B", "N_in", "N"), [(1, 1, 1, 1), (7, 3, 11, 97)])
def test_lif_backward_dense(emu, T, B, N_in, N, need_dx, dtype):
    rng = np.random.default_rng(6)
    g = rng.normal(size=(T, B, N)).astype(dtype)
    sp = (rng.random((T, B, N)) * (rng.random((T, B, N)) < 0.3)).astype(dtype)
    x = (rng.random((T * B, N_in)) < 0.3).astype(dtype)
    w = rng.normal(size=(N_in, N)).astype(dtype)
    dw, dx = host.lif_backward_dense(emu, g, sp, x, w, 0.9, need_dx)
    dw_ref, dx_ref = lif_twin.lif_backward_dense(g, sp, x, w, 0.9, need_dx)
    assert_close(dw, dw_ref, dtype)
    if need_dx:
        assert_close(dx, dx_ref, dtype)
    else:
        assert dx is None


def _layer(emu, rng, T, B, N_in, N, b_th, dtype):
    """Input spikes, weights and the active set of a layer, made by the kernels themselves."""
    xkeys = np.flatnonzero(rng.random(T * B * N_in) < 0.2)
    x = spike_matrix_from_keys(np, xkeys, T, B, N_in)
    w = rng.normal(0.2, 0.5, (N_in, N)).astype(dtype)
    h = host.spike_matmul(emu, x.indptr, x.indices, w).reshape(T, B, N)
    _, act = host.lif_forward_sparse(emu, h, 0.9, 1.0, 100.0, b_th)
    return x, w, act


@pytest.mark.parametrize("deterministic", [False, True], indirect=True)
@pytest.mark.parametrize("case", ["band", "all", "empty", "first_layer", "tiny"])
def test_lif_backward_sparse(emu, deterministic, case, dtype):
    rng = np.random.default_rng(7)
    T, B, N_in, N = (1, 1, 1, 1) if case == "tiny" else (8, 3, 13, 97)
    b_th = {"all": np.inf, "empty": 1e-30}.get(case, 0.2)
    x, w, act = _layer(emu, rng, T, B, N_in, N, b_th, dtype)
    g = rng.normal(size=act.idx.size).astype(dtype)
    prev = None
    if case != "first_layer":
        pidx = np.flatnonzero(rng.random(T * B * N_in) < 0.3).astype(np.int32)
        prev = ActiveSet(rng.permutation(pidx), np.ones(pidx.size, dtype))
    got = host.lif_backward_sparse(emu, g, act, x, w, 0.9, prev, (T, B, N))
    ref = lif_twin.lif_backward_sparse(g, act, x, w, 0.9, prev, (T, B, N))
    assert_close(got[0], ref[0], dtype)
    if prev is None:
        assert got[1] is None
    else:
        assert_close(got[1], ref[1], dtype)
    if case == "empty":
        assert act.idx.size == 0 and not got[0].any()


@pytest.mark.parametrize("sizes", [[(1,)], [(3, 5), (300,), (1, 1)]])
def test_adam(emu, sizes, dtype):
    rng = np.random.default_rng(8)
    ps = [rng.normal(size=s).astype(dtype) for s in sizes]
    ref = [p.copy() for p in ps]
    ms = [np.zeros_like(p) for p in ps]
    vs = [np.zeros_like(p) for p in ps]
    ms_ref, vs_ref = [m.copy() for m in ms], [v.copy() for v in vs]
    for step in range(1, 4):
        gs = [rng.normal(size=p.shape).astype(dtype) for p in ps]
        host.adam_update_multi(emu, ps, gs, ms, vs, step, 1e-2, 0.9, 0.999, 1e-8)
        adam_twin.adam_update_multi(ref, gs, ms_ref, vs_ref, step, 1e-2, 0.9, 0.999, 1e-8)
    for got, want in zip(ps + ms + vs, ref + ms_ref + vs_ref, strict=True):
        assert np.array_equal(got, want)


def test_checks(emu):
    h = np.zeros((3, 2, 2), np.float16)
    with pytest.raises(sg.DTypeError):
        host.lif_forward(emu, h, 0.9, 1.0)
    with pytest.raises(sg.ShapeError, match="C-contiguous"):
        host.lif_forward(emu, np.zeros((3, 2, 4))[:, :, ::2], 0.9, 1.0)
    p = np.zeros(3)
    with pytest.raises(sg.DTypeError):
        host.adam_update_multi(
            emu, [p], [p.astype(np.float32)], [p], [p], 1, 1e-3, 0.9, 0.999, 1e-8
        )
    w = np.asfortranarray(np.arange(12.0).reshape(3, 4))  # read-only inputs may be strided
    ptr, ind = np.array([0, 2, 3], np.int32), np.array([0, 2, 1], np.int32)
    assert np.array_equal(host.spike_matmul(emu, ptr, ind, w), [w[0] + w[2], w[1]])
    with pytest.raises(TypeError, match="wants"):  # the emulator checks the C signature
        emu("readout", "leaky_scan_reverse_kernel", ("double",), 1, (p, 3, np.int64(1), 0.5))


# ------------------------------------------------------- the whole step through the kernels
_OPS = {
    "lif_forward": host.lif_forward,
    "lif_forward_sparse": host.lif_forward_sparse,
    "gather_rowdot": host.gather_rowdot,
    "lif_backward_dense": host.lif_backward_dense,
    "lif_backward_sparse": host.lif_backward_sparse,
    "spike_matmul": host.spike_matmul,
    "spike_tmatmul": host.spike_tmatmul,
    "leaky_scan": host.leaky_scan,
    "leaky_scan_reverse": host.leaky_scan_reverse,
    "adam_update_multi": host.adam_update_multi,
}


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_loss_and_grad_through_kernels(emu, monkeypatch, mode, dtype):
    """Network.loss_and_grad and one Adam step with every kernel op swapped in for its twin."""
    rng = np.random.default_rng(9)
    x = (rng.random((3, 12, 10)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 4, 3)
    kw = dict(sizes=[10, 30, 20, 4], b_th=0.4, reg={}, dtype=dtype.name, seed=3)
    net = sg.Network(**kw)
    loss_ref, g_ref, st_ref = net.loss_and_grad(x, y, mode=mode)
    sg.Adam(net.params, lr=1e-2).step(g_ref)
    for op, fn in _OPS.items():
        monkeypatch.setitem(backend._REGISTRY, (op, "numpy"), functools.partial(fn, emu))
    net2 = sg.Network(**kw)
    emu.calls.clear()
    with native.mode("0"):  # the registry's "numpy" entries, not the native C kernels
        loss, g, st = net2.loss_and_grad(x, y, mode=mode)
        sg.Adam(net2.params, lr=1e-2).step(g)
    assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
    assert abs(loss - loss_ref) <= 1e-6 * abs(loss_ref)
    for k in g_ref:
        assert_close(g[k], g_ref[k], dtype)
        assert_close(net2.params[k], net.params[k], dtype)
    used = {c.split("<")[0] for c in emu.calls}
    assert "adam_update_multi_kernel" in used
    assert ("lif_emit_kernel" in used) == (mode == "sparse")
