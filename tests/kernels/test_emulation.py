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
import tracemalloc

import numpy as np
import pytest
from helpers import subnormal_cases

import spikegrad as sg
from spikegrad import backend, native
from spikegrad import kernels as K
from spikegrad.ops import adam as adam_twin
from spikegrad.ops import lif as lif_twin
from spikegrad.ops import readout as readout_twin
from spikegrad.ops import spmm as spmm_twin
from spikegrad.ops.surrogate import ActiveSet, index_dtype
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import assert_close, host, kernel_host, readout_glue, spmm_glue

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


@pytest.mark.parametrize("shape", [(1, 2, 3), (8, 3, 97)])
def test_leaky_scans(emu, shape, dtype):
    x = np.random.default_rng(3).normal(size=shape).astype(dtype)
    assert np.array_equal(host.leaky_scan(emu, x, 0.8, 0.2), readout_twin.leaky_scan(x, 0.8, 0.2))
    e_ref, e = x.copy(), x.copy()
    readout_twin.leaky_scan_reverse(e_ref, 0.7)
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
    narrow = n_cols * m <= host.DW_NARROW
    want = "spmm_csr_t_atomic_kernel"
    if deterministic:
        want = "sum_leading_kernel" if narrow else "spmm_t_seg_fix_kernel"
    assert rate == 0 or emu.calls[-1].startswith(want)


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
    _, act = host.lif_forward_sparse_spikes(
        emu, x.indptr, x.indices, w, 0.9, 1.0, 100.0, b_th, (T, B)
    )
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
        prev = ActiveSet(pidx, np.ones(pidx.size, dtype))  # sorted: the ActiveSet contract
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


@pytest.mark.parametrize("wd", [0.25, 1e-4])
def test_adam_weight_decay(emu, wd, dtype):
    """Decoupled weight decay: the kernel equals the twin bit for bit, and the twin equals
    the AdamW formula (decay first, with the same lr) written out here."""
    rng = np.random.default_rng(18)
    sizes = [(3, 5), (300,)]
    ps = [rng.normal(size=s).astype(dtype) for s in sizes]
    ref = [p.copy() for p in ps]
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    ms_ref, vs_ref = [m.copy() for m in ms], [v.copy() for v in vs]
    plain = [p.astype(np.float64) for p in ps]
    m64, v64 = [np.zeros_like(p) for p in plain], [np.zeros_like(p) for p in plain]
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    for step in range(1, 4):
        gs = [rng.normal(size=p.shape).astype(dtype) for p in ps]
        host.adam_update_multi(emu, ps, gs, ms, vs, step, lr, b1, b2, eps, wd)
        adam_twin.adam_update_multi(ref, gs, ms_ref, vs_ref, step, lr, b1, b2, eps, wd)
        for p, g, m, v in zip(plain, gs, m64, v64, strict=True):
            m[:] = b1 * m + (1 - b1) * g
            v[:] = b2 * v + (1 - b2) * g.astype(np.float64) ** 2
            p[:] = p * (1 - lr * wd) - lr * (m / (1 - b1**step)) / (
                np.sqrt(v / (1 - b2**step)) + eps
            )
    for got, want in zip(ps + ms + vs, ref + ms_ref + vs_ref, strict=True):
        assert np.array_equal(got, want)
    for got, want in zip(ps, plain, strict=True):
        assert_close(got, want, dtype)
    for got, want in zip(ps, plain, strict=True):
        # the decay moved the weights: a plain Adam step alone would be lr-sized
        assert not np.allclose(got, want / (1 - lr * wd) ** 3, rtol=1e-6, atol=0)


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
        emu("readout", "leaky_scan_reverse_kernel", ("double",), 1, (p, 3, np.int64(1), p, 1))


# ------------------------------------------------------- the whole step through the kernels


@pytest.mark.parametrize("deterministic", [False, True], indirect=True)
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_loss_and_grad_through_kernels(emu, monkeypatch, deterministic, mode, dtype):
    """Network.loss_and_grad and one Adam step with every kernel op swapped in for its twin."""
    rng = np.random.default_rng(9)
    x = (rng.random((3, 12, 10)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 4, 3)
    kw = dict(sizes=[10, 30, 20, 4], b_th=0.4, reg={}, dtype=dtype.name, seed=3)
    net = sg.Network(**kw)
    loss_ref, g_ref, st_ref = net.loss_and_grad(x, y, mode=mode)
    sg.Adam(net.params, lr=1e-2).step(g_ref)
    for op, fn in host.OPS.items():
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
    assert ("lif_spikes_emit_kernel" in used) == (mode == "sparse")
    assert ("spmm_csr_t_atomic_kernel" in used) == (mode == "sparse" and not deterministic)
    assert ("spmm_t_chunk_kernel" in used) == (mode == "sparse" and deterministic)


# ------------------------------------------- the fused sparse forward (h never stored)
SPIKE_SHAPES = [(1, 1, 1, 1), (6, 1, 4, 3), (1, 3, 5, 4), (9, 3, 13, 97), (4, 2, 7, 300)]


def _spikes(rng, T, B, N_in, rate, idx_dtype):
    """Input spikes (CSR over rows t * B + b), every third row without events."""
    keep = rng.random((T * B, N_in)) < rate
    keep[1::3] = False
    x = spike_matrix_from_keys(np, np.flatnonzero(keep), T, B, N_in)
    return x.indptr.astype(idx_dtype), x.indices.astype(idx_dtype)


@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("b_th", [0.2, np.inf, 1e-30], ids=["band", "all", "empty"])
@pytest.mark.parametrize("shape", SPIKE_SHAPES, ids=str)
def test_lif_forward_sparse_spikes(emu, shape, b_th, idx_dtype, dtype):
    """The fused kernels against the composition of the twins (spike_matmul, then the scan):
    h is summed in the same event order, so spikes, active set and sigma' are equal exactly."""
    T, B, N_in, N = shape
    rng = np.random.default_rng(21)
    ip, ind = _spikes(rng, T, B, N_in, 0.4, idx_dtype)
    w = rng.normal(0.3, 0.6, (N_in, N)).astype(dtype)
    h = spmm_twin.spike_matmul(ip, ind, w).reshape(T, B, N)
    keys_ref, act_ref = lif_twin.lif_forward_sparse(h, 0.9, 1.0, 100.0, b_th)
    emu.calls.clear()
    keys, act = host.lif_forward_sparse_spikes(emu, ip, ind, w, 0.9, 1.0, 100.0, b_th, (T, B))
    assert np.array_equal(keys, keys_ref)
    assert act.idx.dtype == act_ref.idx.dtype and act.sp.dtype == dtype
    assert np.all(np.diff(act.idx) > 0), "the active set comes out sorted"
    assert np.array_equal(act.idx, act_ref.idx)
    assert np.array_equal(act.sp, act_ref.sp)
    wide = np.dtype(idx_dtype) == np.int64 or index_dtype(0) == np.int64  # stress: int64
    it = K.INDEX_TYPES[np.dtype(np.int64 if wide else np.int32)]
    targs = f"<sg_lif, {K.FLOAT_TYPES[dtype]}, {K.FLOAT_TYPES[dtype]}, {it}>"
    assert emu.calls[0] == f"lif_spikes_count_kernel{targs}"
    emitted = keys.size + act.idx.size > 0
    assert emu.calls[1:] == ([f"lif_spikes_emit_kernel{targs}"] if emitted else [])
    if b_th == np.inf:
        assert act.idx.size == T * B * N
    if b_th == 1e-30:
        assert act.idx.size == 0
    if T > 1 and b_th == 0.2:
        assert keys.size and act.idx.size, "the case must exercise spikes and a band"


def test_lif_forward_sparse_spikes_no_input(emu, dtype):
    ip, ind = np.zeros(11, np.int32), np.zeros(0, np.int32)
    w = np.ones((4, 3), dtype)
    keys, act = host.lif_forward_sparse_spikes(emu, ip, ind, w, 0.9, 1.0, 100.0, 0.2, (5, 2))
    assert keys.size == 0 and act.idx.size == 0
    keys, act = host.lif_forward_sparse_spikes(emu, ip, ind, w, 0.9, 1.0, 100.0, 2.0, (5, 2))
    assert keys.size == 0 and np.array_equal(act.idx, np.arange(30))  # V = 0 stays in the band


def test_lif_forward_sparse_spikes_twin(dtype):
    """The registered twin is the composition spike_matmul + lif_forward_sparse."""
    T, B, N_in, N = 9, 3, 13, 97
    rng = np.random.default_rng(22)
    ip, ind = _spikes(rng, T, B, N_in, 0.4, np.int32)
    w = rng.normal(0.3, 0.6, (N_in, N)).astype(dtype)
    h = spmm_twin.spike_matmul(ip, ind, w).reshape(T, B, N)
    keys_ref, act_ref = lif_twin.lif_forward_sparse(h, 0.9, 1.0, 100.0, 0.2)
    for flag in ("0", "1"):
        with native.mode(flag):
            keys, act = sg.backend.call(
                "lif_forward_sparse_spikes", ip, ind, w, 0.9, 1.0, 100.0, 0.2, (T, B)
            )
        assert np.array_equal(keys, keys_ref) and np.array_equal(act.idx, act_ref.idx)
        assert np.array_equal(act.sp, act_ref.sp)
    with pytest.raises(sg.ShapeError, match="indptr"):
        lif_twin.lif_forward_sparse_spikes(ip, ind, w, 0.9, 1.0, 100.0, 0.2, (T, B + 1))


def test_lif_forward_sparse_spikes_checks(emu):
    ip, ind = np.zeros(7, np.int32), np.zeros(0, np.int32)
    with pytest.raises(sg.ShapeError, match="indptr"):
        host.lif_forward_sparse_spikes(emu, ip, ind, np.ones((4, 3)), 0.9, 1.0, 1.0, 0.2, (2, 2))
    with pytest.raises(sg.DTypeError):  # (float16: a 16-bit weight copy, test_emulation_half)
        host.lif_forward_sparse_spikes(
            emu, ip, ind, np.ones((4, 3), np.int16), 0.9, 1.0, 1.0, 0.2, (2, 3)
        )
    with pytest.raises(sg.DTypeError, match="integer"):
        host.lif_forward_sparse_spikes(
            emu, ip.astype(float), ind, np.ones((4, 3)), 0.9, 1.0, 1.0, 0.2, (2, 3)
        )


def test_fused_forward_allocates_no_dense_current(emu, dtype):
    """Peak host memory of the fused forward (the emulator allocates nothing: the kernels
    write the host code's arrays) stays below one (T, B, N) float array; the stored-h path
    (spike_matmul, then the twin's scan) reaches it, so the measure can fail."""
    T, B, N_in, N = 40, 8, 50, 300
    rng = np.random.default_rng(23)
    ip, ind = _spikes(rng, T, B, N_in, 0.2, np.int32)
    w = rng.normal(0.0, 0.3, (N_in, N)).astype(dtype)
    dense_bytes = T * B * N * dtype.itemsize

    def peak(fn):
        tracemalloc.start()
        try:
            out = fn()
            return tracemalloc.get_traced_memory()[1], out
        finally:
            tracemalloc.stop()

    emu.calls.clear()
    fused, (keys, act) = peak(
        lambda: host.lif_forward_sparse_spikes(emu, ip, ind, w, 0.9, 1.0, 100.0, 0.1, (T, B))
    )
    assert [c.split("<")[0] for c in emu.calls] == [
        "lif_spikes_count_kernel",
        "lif_spikes_emit_kernel",
    ]
    stored, (keys_ref, act_ref) = peak(
        lambda: lif_twin.lif_forward_sparse(
            host.spike_matmul(emu, ip, ind, w).reshape(T, B, N), 0.9, 1.0, 100.0, 0.1
        )
    )
    assert np.array_equal(keys, keys_ref) and np.array_equal(act.idx, act_ref.idx)
    assert 0 < keys.size < 0.3 * T * B * N and 0 < act.idx.size < 0.1 * T * B * N
    assert stored >= dense_bytes
    assert fused < dense_bytes, f"peak {fused} B >= one (T, B, N) array ({dense_bytes} B)"


# ------------------------------------------- deterministic dW, chunked scans, denormal policy
def _pattern(rng, n_rows, n_cols, rate, heavy=None):
    """A 0/1 CSR pattern with empty rows and columns; column ``heavy`` set in every row."""
    dense = rng.random((n_rows, n_cols)) < rate
    if n_rows > 2:
        dense[n_rows // 2] = False  # an empty row
    if n_cols > 3:
        dense[:, 1] = False  # an empty column
    if heavy is not None:
        dense[:, heavy] = True
    r, c = np.nonzero(dense)
    return np.searchsorted(r, np.arange(n_rows + 1)), c, dense


_DW_CASES = {  # (R, C, M, rate, heavy column)
    "one": (1, 1, 1, 1.0, None),
    "odd": (37, 23, 19, 0.3, None),
    "wide": (40, 9, 300, 0.1, None),
    "heavy": (3000, 6, 2, 0.02, 4),  # one column with 3,000 events, the others ~60
    "empty": (50, 7, 5, 0.0, None),  # all rows empty
}


@pytest.mark.parametrize("scheme", ["chunked", "segmented"])
@pytest.mark.parametrize("short", [False, True], ids=["default_len", "short_len"])
@pytest.mark.parametrize("case", sorted(_DW_CASES))
@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
def test_deterministic_tmatmul(emu, monkeypatch, scheme, short, case, idx_dtype, dtype):
    """Both deterministic dW schemes against the twin (exactly on integer-valued e, where no
    summation order can round), run to run and on any grid bitwise; short segments and
    chunks put many cuts, empty columns and empty rows at their edges."""
    n_rows, n_cols, m, rate, heavy = _DW_CASES[case]
    rng = np.random.default_rng(20)
    ptr, ind, dense = _pattern(rng, n_rows, n_cols, rate, heavy)
    ptr, ind = ptr.astype(idx_dtype), ind.astype(idx_dtype)
    monkeypatch.setattr(K, "_deterministic", True)
    monkeypatch.setattr(spmm_glue, "DW_NARROW", 1 << 40 if scheme == "chunked" else 0)
    if short:
        monkeypatch.setattr(spmm_glue, "DW_SEGMENT", 3)
        monkeypatch.setattr(spmm_glue, "DW_CHUNK_MIN", 5)
        monkeypatch.setattr(spmm_glue, "DW_CHUNK_PER_COL", 0)
    e_int = rng.integers(-8, 9, (n_rows, m)).astype(dtype)
    got = host.spike_tmatmul(emu, ptr, ind, e_int, n_cols)
    assert got.dtype == dtype and np.array_equal(got, dense.T.astype(dtype) @ e_int)
    e = rng.normal(size=(n_rows, m)).astype(dtype)
    emu.calls.clear()
    got = host.spike_tmatmul(emu, ptr, ind, e, n_cols)
    assert_close(got, spmm_twin.spike_tmatmul(ptr, ind, e, n_cols), dtype)
    used = {c.split("<")[0] for c in emu.calls}
    want = {"spmm_t_chunk_kernel", "sum_leading_kernel"}
    if scheme == "segmented":
        want = {"spmm_t_seg_kernel", "spmm_t_seg_fix_kernel"}
    assert used == (want if dense.any() else set())
    assert np.array_equal(host.spike_tmatmul(emu, ptr, ind, e, n_cols), got)
    for cap in (1, 2):
        monkeypatch.setattr(kernel_host, "grid_size", lambda n, cap=cap: min(cap, -(-n // K.BLOCK)))
        assert np.array_equal(host.spike_tmatmul(emu, ptr, ind, e, n_cols), got)


def test_deterministic_sums_do_not_depend_on_the_grid_where_atomics_would(emu, monkeypatch):
    """float32 sums of 3,000 terms of mixed magnitude: the segmented scheme's result is the same
    bits on a 1-block and a many-block grid, and differs from a plain sequential sum (the
    segments really reassociate), within the tolerance."""
    rng = np.random.default_rng(21)
    ptr, ind, dense = _pattern(rng, 3000, 6, 0.02, 4)
    e = (rng.normal(size=(3000, 40)) * 10.0 ** rng.integers(-3, 4, (3000, 1))).astype(np.float32)
    monkeypatch.setattr(K, "_deterministic", True)
    monkeypatch.setattr(spmm_glue, "DW_NARROW", 0)
    got = host.spike_tmatmul(emu, ptr, ind, e, 6)
    monkeypatch.setattr(kernel_host, "grid_size", lambda n: 1)
    assert np.array_equal(host.spike_tmatmul(emu, ptr, ind, e, 6), got)
    seq = np.zeros(40, np.float32)
    for r in np.flatnonzero(dense[:, 4]):
        seq += e[r]
    assert not np.array_equal(got[4], seq)
    assert_close(got, dense.T.astype(np.float64) @ e.astype(np.float64), np.float32)


def test_readout_dw_goes_through_the_deterministic_kernels(emu, monkeypatch):
    """The sparse step with every op on the kernels: dW_out (N_L x K = 20 x 4) takes the
    chunked scheme and the hidden layers the segmented one when the thresholds say so; the
    gradients match the NumPy run and repeat bit for bit, also on a 1-block grid."""
    rng = np.random.default_rng(22)
    x = (rng.random((3, 40, 10)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 4, 3)
    kw = dict(sizes=[10, 30, 20, 4], b_th=0.4, reg={}, dtype="float64", seed=3)
    _, g_ref, _ = sg.Network(**kw).loss_and_grad(x, y, mode="sparse")
    for op, fn in host.OPS.items():
        monkeypatch.setitem(backend._REGISTRY, (op, "numpy"), functools.partial(fn, emu))
    monkeypatch.setattr(K, "_deterministic", True)
    monkeypatch.setattr(spmm_glue, "DW_NARROW", 20 * 4)
    runs = []
    with native.mode("0"):
        for cap in (None, None, 1):
            if cap:
                monkeypatch.setattr(kernel_host, "grid_size", lambda n: 1)
            emu.calls.clear()
            runs.append(sg.Network(**kw).loss_and_grad(x, y, mode="sparse")[1])
            kernels = [c.split("<")[0] for c in emu.calls]
            assert kernels.count("spmm_t_chunk_kernel") == 1  # the readout's dW_out
            assert kernels.count("spmm_t_seg_kernel") == 2  # W2, W1
            assert "spmm_csr_t_atomic_kernel" not in kernels
    for k in g_ref:
        assert_close(runs[0][k], g_ref[k], np.float64)
        assert all(np.array_equal(r[k], runs[0][k]) for r in runs[1:])


@pytest.mark.parametrize(
    ("n_t", "n_col", "want"),
    [(500, 5120, 39), (501, 5120, 39), (500, 1 << 16, 0), (31, 10, 0), (32, 10, 16), (100, 0, 0)],
)
def test_scan_chunking(n_t, n_col, want):
    assert host.scan_chunk(n_t, n_col) == want


@pytest.mark.parametrize(
    ("shape", "min_chunk"),
    [((100, 3, 5), None), ((33, 1, 1), None), ((20, 2, 3), 2), ((7, 4, 97), 1), ((2, 1, 3), 1)],
)
def test_chunked_leaky_scans(emu, monkeypatch, shape, min_chunk, dtype):
    """The chunked readout scans against the twins: the first chunk bitwise, the rest within
    the tolerance; the fallback (columns fill the device) bitwise."""
    if min_chunk is not None:
        monkeypatch.setattr(readout_glue, "SCAN_MIN_CHUNK", min_chunk)
    x = np.random.default_rng(23).normal(size=shape).astype(dtype)
    n_col = x[0].size
    emu.calls.clear()
    y, y_ref = host.leaky_scan(emu, x, 0.8, 0.2), readout_twin.leaky_scan(x, 0.8, 0.2)
    e, e_ref = x.copy(), x.copy()
    assert host.leaky_scan_reverse(emu, e, 0.7) is e
    readout_twin.leaky_scan_reverse(e_ref, 0.7)
    used = {c.split("<")[0] for c in emu.calls}
    assert {"leaky_scan_chunk_kernel", "leaky_scan_reverse_chunk_kernel"} <= used
    assert not used & {"leaky_scan_kernel", "leaky_scan_reverse_kernel"}
    assert_close(y, y_ref, dtype)
    assert_close(e, e_ref, dtype)
    first = host.scan_chunk(shape[0], n_col)
    assert np.array_equal(y[:first], y_ref[:first])
    assert np.array_equal(e[-first:], e_ref[-first:])
    monkeypatch.setattr(readout_glue, "SCAN_FILL_COLUMNS", 1)
    e = x.copy()
    assert np.array_equal(host.leaky_scan(emu, x, 0.8, 0.2), y_ref)
    assert np.array_equal(host.leaky_scan_reverse(emu, e, 0.7), e_ref)
    assert emu.calls[-1].startswith("leaky_scan_reverse_kernel")


def test_chunked_leaky_scans_of_nothing(emu):
    for shape in [(0, 3), (1, 4), (40, 0)]:
        x = np.ones(shape)
        assert np.array_equal(
            host.leaky_scan(emu, x, 0.5, 1.0), readout_twin.leaky_scan(x, 0.5, 1.0)
        )
        e = x.copy()
        assert np.array_equal(host.leaky_scan_reverse(emu, e, 0.5), x)


def _scan_unflushed(e: np.ndarray, alpha: float) -> np.ndarray:
    e = e.copy()
    for t in range(e.shape[0] - 2, -1, -1):
        e[t] += e[t + 1] * e.dtype.type(alpha)
    return e


def test_subnormal_cases_produce_subnormals(dtype):
    e, alpha = subnormal_cases(dtype)
    raw = np.abs(_scan_unflushed(e, alpha))
    sub = (raw > 0) & (raw < np.finfo(dtype).tiny)
    assert sub[:, :4].any(axis=0).all() and not sub[:, 4:].any()


def test_reverse_scans_follow_the_denormal_policy_bit_for_bit(emu, monkeypatch, dtype):
    """readout.cu's column scan and lif_backward.cu's eps scans (dense and sparse, through
    dW = I^T e1 = e1 exactly) equal the twin bit for bit on inputs that produce subnormals;
    the chunked scan leaves none either."""
    e, alpha = subnormal_cases(dtype)
    tiny = np.finfo(dtype).tiny
    ref = readout_twin.leaky_scan_reverse(e.copy(), alpha)
    assert not np.any((np.abs(ref) > 0) & (np.abs(ref) < tiny))
    monkeypatch.setattr(readout_glue, "SCAN_FILL_COLUMNS", 1)
    assert np.array_equal(host.leaky_scan_reverse(emu, e.copy(), alpha), ref)
    monkeypatch.undo()
    got = host.leaky_scan_reverse(emu, e.copy(), alpha)
    assert emu.calls[-1].startswith("leaky_scan_reverse_chunk_kernel")
    assert not np.any((np.abs(got) > 0) & (np.abs(got) < tiny))
    assert_close(got, ref, dtype)
    # eps scans: delta = g * sp = e on (T, 1, 6) with eps[T] = 0; x = identity, so dW = e1
    T = e.shape[0]
    eps = readout_twin.leaky_scan_reverse(np.concatenate([e, np.zeros_like(e[:1])]), alpha)
    g, sp = e.reshape(T, 1, 6), np.ones((T, 1, 6), dtype)
    eye = np.eye(T, dtype=dtype)
    w = np.ones((T, 6), dtype)
    dw, _ = host.lif_backward_dense(emu, g, sp, eye, w, alpha, False)
    dw_ref, _ = lif_twin.lif_backward_dense(g, sp, eye, w, alpha, False)
    assert np.array_equal(dw, dw_ref)
    assert np.array_equal(dw, eps[1:])  # e1[t] = eps[t+1]
    idx = np.flatnonzero(g.reshape(-1) != 0)
    act = ActiveSet(idx, np.ones(idx.size, dtype))
    x = spike_matrix_from_keys(np, np.arange(T) * T + np.arange(T), T, 1, T)
    for det in (False, True):
        monkeypatch.setattr(K, "_deterministic", det)
        dws, _ = host.lif_backward_sparse(
            emu, g.reshape(-1)[idx], act, x, w, alpha, None, (T, 1, 6)
        )
        assert np.array_equal(dws, dw_ref)
