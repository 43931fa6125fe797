"""GPU parity: each CuPy kernel op against its NumPy twin, and Network.loss_and_grad on CuPy
against NumPy, dense and sparse (float64 <= 1e-9, float32 <= 1e-4; tolerance table in
conftest.py). Inputs are made on the host and copied, so both sides see identical data.
Skipped without CuPy or a CUDA device; tools/gpu_check.sh runs them on a GPU machine.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import backend
from spikegrad import kernels as K
from spikegrad.ops import adam as adam_twin
from spikegrad.ops import lif as lif_twin
from spikegrad.ops import readout as readout_twin
from spikegrad.ops import spmm as spmm_twin
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import TOL, assert_close

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA device"),
]


@pytest.fixture(scope="module")
def cp():
    import cupy

    backend.get_backend("cupy")
    return cupy


@pytest.fixture(scope="module")
def L(cp):
    """The registered "cupy" kernel ops by name (the table of spikegrad.kernels.host)."""
    from .conftest import host

    return types.SimpleNamespace(**{op: backend.lookup(op, "cupy") for op in host.OPS})


SHAPES = [(1, 1, 1), (9, 3, 97), (50, 16, 300)]


@pytest.mark.parametrize("shape", SHAPES)
def test_lif_forward(cp, L, shape, dtype):
    h = np.random.default_rng(1).normal(0.35, 0.6, shape).astype(dtype)
    v_ref = h.copy()
    s_ref = lif_twin.lif_forward(v_ref, 0.9, 1.0)
    v = cp.asarray(h)
    s = L.lif_forward(v, 0.9, 1.0)
    _assert_same(s.get(), s_ref, dtype)
    assert_close(v, v_ref, dtype)


def _input_spikes(rng, T, B, N_in, rate, idx_dtype):
    """Input spikes (CSR over rows t * B + b) on the host, every third row without events."""
    keep = rng.random((T * B, N_in)) < rate
    keep[1::3] = False
    x = spike_matrix_from_keys(np, np.flatnonzero(keep), T, B, N_in)
    return x.indptr.astype(idx_dtype), x.indices.astype(idx_dtype)


@pytest.mark.parametrize("idx_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("b_th", [0.2, np.inf, 1e-30])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (9, 3, 13, 97), (50, 16, 120, 300)], ids=str)
def test_lif_forward_sparse_spikes(cp, L, shape, b_th, idx_dtype, dtype):
    """The fused forward (h computed inside the scan) against spike_matmul + the twin scan."""
    T, B, N_in, N = shape
    rng = np.random.default_rng(21)
    ip, ind = _input_spikes(rng, T, B, N_in, 0.2, idx_dtype)
    w = rng.normal(0.05, 0.4, (N_in, N)).astype(dtype)
    h = spmm_twin.spike_matmul(ip, ind, w).reshape(T, B, N)
    keys_ref, act_ref = lif_twin.lif_forward_sparse(h, 0.9, 1.0, 100.0, b_th)
    args = (cp.asarray(ip), cp.asarray(ind), cp.asarray(w), 0.9, 1.0, 100.0, b_th, (T, B))
    keys, act = L.lif_forward_sparse_spikes(*args)
    idx, sp = act.idx.get(), act.sp.get()
    assert act.idx.dtype == act_ref.idx.dtype
    assert np.all(np.diff(idx) > 0), "the active set comes out sorted"
    _assert_same(keys.get(), keys_ref, dtype)
    _assert_same(idx, act_ref.idx, dtype)
    _, i, j = np.intersect1d(idx, act_ref.idx, return_indices=True)
    assert_close(sp[i], act_ref.sp[j], dtype)


def test_fused_forward_allocates_no_dense_current(cp, L, dtype):
    """No device allocation of the fused forward reaches one (T, B, N) float array."""
    T, B, N_in, N = 100, 32, 200, 500
    rng = np.random.default_rng(23)
    ip, ind = _input_spikes(rng, T, B, N_in, 0.1, np.int32)
    w = rng.normal(0.0, 0.2, (N_in, N)).astype(dtype)
    args = (cp.asarray(ip), cp.asarray(ind), cp.asarray(w), 0.9, 1.0, 100.0, 0.1, (T, B))

    class Sizes(cp.cuda.MemoryHook):
        name = "spikegrad_test_sizes"

        def __init__(self) -> None:
            self.sizes: list[int] = []

        def malloc_preprocess(self, **kw) -> None:
            self.sizes.append(int(kw["size"]))

    hook = Sizes()
    with hook:
        keys, act = L.lif_forward_sparse_spikes(*args)
        cp.cuda.Device().synchronize()
    dense_bytes = T * B * N * dtype.itemsize
    assert 0 < act.idx.size < 0.1 * T * B * N and keys.size > 0
    assert hook.sizes and max(hook.sizes) < dense_bytes, (max(hook.sizes), dense_bytes)
    with hook:  # the measure sees a stored current
        L.lif_forward(L.spike_matmul(*args[:3]).reshape(T, B, N), 0.9, 1.0)
    assert max(hook.sizes) >= dense_bytes


def _assert_same(got: np.ndarray, want: np.ndarray, dtype) -> None:
    """Equal spikes / index sets; in float32 a value at a threshold may round either way
    (STYLE.md), so there a difference of at most 1 in 10**4 entries is allowed."""
    if dtype == np.float64:
        assert np.array_equal(got, want)
    elif got.dtype == bool:
        assert np.count_nonzero(got != want) <= 1e-4 * got.size
    else:
        assert np.setxor1d(got, want).size <= 1e-4 * max(want.size, 1)


def test_scans_and_gather(cp, L, dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 8, 33)).astype(dtype)
    assert_close(L.leaky_scan(cp.asarray(x), 0.8, 0.2), readout_twin.leaky_scan(x, 0.8, 0.2), dtype)
    e = cp.asarray(x)
    L.leaky_scan_reverse(e, 0.7)
    assert_close(e, readout_twin.leaky_scan_reverse(x.copy(), 0.7), dtype)
    ev, w = x.reshape(320, 33), rng.normal(size=(50, 33)).astype(dtype)
    rows, cols = (
        rng.integers(0, 320, 5000).astype(np.int32),
        rng.integers(0, 50, 5000).astype(np.int64),
    )
    ref = lif_twin.gather_rowdot(ev, rows, w, cols)
    for variant in (1, 2):
        args = (cp.asarray(ev), cp.asarray(rows), cp.asarray(w), cp.asarray(cols), variant)
        assert_close(L.gather_rowdot(*args), ref, dtype)


@pytest.mark.parametrize("deterministic", [False, True], indirect=True)
def test_spike_products(cp, L, deterministic, dtype):
    rng = np.random.default_rng(5)
    keys = np.flatnonzero(rng.random(2000 * 70) < 0.05)
    x = spike_matrix_from_keys(np, keys, 2000, 1, 70)
    w, e = rng.normal(size=(70, 300)).astype(dtype), rng.normal(size=(2000, 300)).astype(dtype)
    ip, ind = cp.asarray(x.indptr), cp.asarray(x.indices)
    assert_close(
        L.spike_matmul(ip, ind, cp.asarray(w)),
        spmm_twin.spike_matmul(x.indptr, x.indices, w),
        dtype,
    )
    got = L.spike_tmatmul(ip, ind, cp.asarray(e), 70)
    assert_close(got, spmm_twin.spike_tmatmul(x.indptr, x.indices, e, 70), dtype)
    if deterministic:
        assert cp.array_equal(got, L.spike_tmatmul(ip, ind, cp.asarray(e), 70))


@pytest.mark.parametrize("deterministic", [False, True], indirect=True)
def test_lif_backward(cp, L, deterministic, dtype):
    rng = np.random.default_rng(7)
    T, B, N_in, N = 30, 8, 70, 130
    x = spike_matrix_from_keys(np, np.flatnonzero(rng.random(T * B * N_in) < 0.1), T, B, N_in)
    w = rng.normal(0.1, 0.3, (N_in, N)).astype(dtype)
    h = np.asarray(x.matmul(w)).reshape(T, B, N).astype(dtype)
    _, act = lif_twin.lif_forward_sparse(h.copy(), 0.9, 1.0, 100.0, 0.2)
    g = rng.normal(size=act.idx.size).astype(dtype)
    pidx = np.flatnonzero(rng.random(T * B * N_in) < 0.05).astype(np.int32)
    prev = ActiveSet(pidx, np.ones(pidx.size, dtype))
    dw_ref, dx_ref = lif_twin.lif_backward_sparse(g, act, x, w, 0.9, prev, (T, B, N))
    xc = spike_matrix_from_keys(cp, cp.asarray(_keys(x)), T, B, N_in)
    actc = ActiveSet(cp.asarray(act.idx), cp.asarray(act.sp))
    prevc = ActiveSet(cp.asarray(prev.idx), cp.asarray(prev.sp))
    dw, dx = L.lif_backward_sparse(cp.asarray(g), actc, xc, cp.asarray(w), 0.9, prevc, (T, B, N))
    assert_close(dw, dw_ref, dtype)
    assert_close(dx, dx_ref, dtype)
    gd = rng.normal(size=(T, B, N)).astype(dtype)
    spd = (rng.random((T, B, N)) < 0.2).astype(dtype)
    xd = x.dense_rows(dtype)
    ref = lif_twin.lif_backward_dense(gd, spd, xd, w, 0.9, True)
    got = L.lif_backward_dense(
        cp.asarray(gd), cp.asarray(spd), cp.asarray(xd), cp.asarray(w), 0.9, True
    )
    assert_close(got[0], ref[0], dtype)
    assert_close(got[1], ref[1], dtype)


def _keys(x) -> np.ndarray:
    return x.rows() * x.N + x.indices


@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_adam(cp, L, dtype, wd):
    rng = np.random.default_rng(8)
    shapes = [(70, 130), (130,), (1,)]
    ps = [rng.normal(size=s).astype(dtype) for s in shapes]
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    pc, mc, vc = ([cp.asarray(a) for a in arrs] for arrs in (ps, ms, vs))
    for step in (1, 2, 3):
        gs = [rng.normal(size=s).astype(dtype) for s in shapes]
        adam_twin.adam_update_multi(ps, gs, ms, vs, step, 1e-2, 0.9, 0.999, 1e-8, wd)
        gc = [cp.asarray(g) for g in gs]
        L.adam_update_multi(pc, gc, mc, vc, step, 1e-2, 0.9, 0.999, 1e-8, wd)
    for want, a in zip(ps + ms + vs, pc + mc + vc, strict=True):
        assert_close(a, want, dtype)


@pytest.mark.parametrize("readout", ["max", "sum"])
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_loss_and_grad_parity(cp, mode, readout, dtype):
    """Weights (the initial ones x 3, for activity in both layers) sit on a 2**-10 grid, so
    every input current is an exact sum in any order and both backends see the same spikes and
    active sets (about 6% per layer); the gradients differ only by the backward's rounding."""
    rng = np.random.default_rng(11)
    x = (rng.random((16, 60, 50)) < 0.1).astype(np.uint8)
    y = rng.integers(0, 5, 16)
    kw = dict(sizes=[50, 120, 80, 5], readout=readout, reg={}, dtype=dtype.name, seed=4, b_th=0.2)
    ref = sg.Network(**kw, backend="numpy")
    ref.params = {k: np.round(v * 3 * 1024) / 1024 for k, v in ref.params.items()}
    net = sg.Network(**kw, backend="cupy")
    net.params = {k: v.copy() for k, v in ref.params.items()}
    loss_ref, g_ref, st_ref = ref.loss_and_grad(x, y, mode=mode)
    loss, g, st = net.loss_and_grad(x, y, mode=mode)
    assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
    assert abs(loss - loss_ref) <= TOL[dtype] * abs(loss_ref)
    for k in g_ref:
        assert isinstance(g[k], cp.ndarray)
        assert_close(g[k], g_ref[k], dtype)
    opt, opt_ref = sg.Adam(net.params), sg.Adam(ref.params)
    opt.step(g)
    opt_ref.step(g_ref)
    for k in ref.params:
        assert_close(net.params[k], ref.params[k], dtype)


@pytest.mark.parametrize("wd", ["float16", "bfloat16"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_half_weights_parity(cp, L, wd, recurrent):
    """weight_dtype float16/bfloat16 (the kernels' sg_f16/sg_bf16 instances; float16 by
    cvt.f32.f16 on the device): the products bit for bit, and loss_and_grad and one Adam step
    (the copy refreshed on the device) against the NumPy backend's 16-bit network."""
    from spikegrad.ops.half import to_half

    rng = np.random.default_rng(12)
    w = to_half((rng.normal(size=(120, 300)) * 3).astype(np.float32), wd)
    x = spike_matrix_from_keys(np, np.flatnonzero(rng.random(40 * 120) < 0.2), 40, 1, 120)
    got = L.spike_matmul(cp.asarray(x.indptr), cp.asarray(x.indices), cp.asarray(w))
    assert np.array_equal(got.get(), spmm_twin.spike_matmul(x.indptr, x.indices, w))
    xs = (rng.random((16, 60, 50)) < 0.1).astype(np.uint8)
    y = rng.integers(0, 5, 16)
    kw = dict(sizes=[50, 120, 80, 5], seed=4, b_th=0.2, weight_dtype=wd, recurrent=recurrent)
    ref = sg.Network(**kw, backend="numpy")
    ref.params = {k: np.round(v * 3 * 1024) / 1024 for k, v in ref.params.items()}
    net = sg.Network(**kw, backend="cupy")
    net.params = {k: v.copy() for k, v in ref.params.items()}
    for mode in ("sparse", "dense"):
        loss_ref, g_ref, st_ref = ref.loss_and_grad(xs, y, mode=mode)
        loss, g, st = net.loss_and_grad(xs, y, mode=mode)
        assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
        assert abs(loss - loss_ref) <= 1e-4 * abs(loss_ref)
        for k in g_ref:
            assert_close(g[k], g_ref[k], np.float32)
    sg.Adam(net.params).step(g)
    sg.Adam(ref.params).step(g_ref)
    for k in ref.params:  # the copies: the updated params rounded, within one 16-bit step
        got, want = net.weights[k].get(), ref.weights[k]
        assert got.dtype == want.dtype
        assert np.abs(got.view(np.int16).astype(int) - want.view(np.int16)).max() <= 1


def test_deterministic_mode_is_bitwise_reproducible(cp):
    rng = np.random.default_rng(12)
    x = (rng.random((32, 80, 60)) < 0.1).astype(np.uint8)
    y = rng.integers(0, 5, 32)
    net = sg.Network([60, 200, 100, 5], reg={}, seed=2, backend="cupy")
    net.params = {k: v * 3 for k, v in net.params.items()}  # both layers active
    old = K.is_deterministic()
    K.set_deterministic(True)
    try:
        runs = [net.loss_and_grad(x, y, mode="sparse")[1] for _ in range(3)]
    finally:
        K.set_deterministic(old)
    for k in ("W1", "W2", "W_out"):  # W_out: the readout's dW_out, also spike_tmatmul
        assert all(cp.array_equal(r[k], runs[0][k]) for r in runs[1:])


def test_launcher_looks_up_a_kernel_once(cp, L, monkeypatch):
    """The launcher fetches a kernel instance once per (stem, kernel, targs, device)."""
    from spikegrad.kernels import launch

    launch.LAUNCH.clear()
    calls = []
    real = launch.load_module
    monkeypatch.setattr(launch, "load_module", lambda *a: calls.append(a) or real(*a))
    x = cp.zeros((3, 2))
    L.leaky_scan(x, 0.5, 1.0)
    L.leaky_scan(x, 0.5, 1.0)
    assert len(calls) == 1


def test_compile_error_is_a_kernel_error(cp, L, monkeypatch):
    from spikegrad.kernels import launch

    monkeypatch.setattr(launch, "module_source", lambda stem: "__global__ void broken( {")
    launch.LAUNCH.clear()
    try:
        with pytest.raises(sg.KernelError, match=r"readout\.cu.*leaky_scan_kernel"):
            L.leaky_scan(cp.zeros((3, 2)), 0.5, 1.0)
    finally:
        launch.LAUNCH.clear()


@pytest.mark.parametrize("scheme", ["chunked", "segmented"])
def test_deterministic_dw_is_the_same_on_any_grid(cp, L, monkeypatch, scheme, dtype):
    from .conftest import kernel_host, spmm_glue

    rng = np.random.default_rng(13)
    n_rows, n_cols, m = 20000, 40, 20 if scheme == "chunked" else 300
    dense = rng.random((n_rows, n_cols)) < 0.05
    dense[:, 3] = True  # a heavy column
    r, c = np.nonzero(dense)
    ip = cp.asarray(np.searchsorted(r, np.arange(n_rows + 1)).astype(np.int32))
    ind = cp.asarray(c.astype(np.int32))
    e = rng.normal(size=(n_rows, m)).astype(dtype)
    monkeypatch.setattr(K, "_deterministic", True)
    monkeypatch.setattr(spmm_glue, "DW_NARROW", 1 << 40 if scheme == "chunked" else 0)
    got = L.spike_tmatmul(ip, ind, cp.asarray(e), n_cols)
    assert_close(got, dense.T.astype(np.float64) @ e.astype(np.float64), dtype)
    for cap in (1, 7):
        monkeypatch.setattr(kernel_host, "grid_size", lambda n, cap=cap: min(cap, -(-n // K.BLOCK)))
        assert cp.array_equal(L.spike_tmatmul(ip, ind, cp.asarray(e), n_cols), got)


def test_readout_sized_chunked_scans(cp, L, dtype):
    from .conftest import host

    x = np.random.default_rng(14).normal(size=(500, 256, 20)).astype(dtype)
    assert host.scan_chunk(500, 256 * 20) > 0
    assert_close(L.leaky_scan(cp.asarray(x), 0.9, 0.1), readout_twin.leaky_scan(x, 0.9, 0.1), dtype)
    e = cp.asarray(x)
    L.leaky_scan_reverse(e, 0.9)
    assert_close(e, readout_twin.leaky_scan_reverse(x.copy(), 0.9), dtype)


def test_reverse_scans_follow_the_denormal_policy_bit_for_bit(cp, L, monkeypatch, dtype):
    """On the device, under CuPy's -ftz=true: the column reverse scan and the eps scan give
    the twin's bits on inputs that produce subnormals (float32 included)."""
    from helpers import subnormal_cases

    from .conftest import readout_glue

    e, alpha = subnormal_cases(dtype)
    ref = readout_twin.leaky_scan_reverse(e.copy(), alpha)
    monkeypatch.setattr(readout_glue, "SCAN_FILL_COLUMNS", 1)
    got = cp.asarray(e)
    L.leaky_scan_reverse(got, alpha)
    assert np.array_equal(got.get(), ref)
    T = e.shape[0]
    eps = readout_twin.leaky_scan_reverse(np.concatenate([e, np.zeros_like(e[:1])]), alpha)
    g, sp = cp.asarray(e.reshape(T, 1, 6)), cp.ones((T, 1, 6), dtype)
    dw, _ = L.lif_backward_dense(
        g, sp, cp.eye(T, dtype=dtype), cp.ones((T, 6), dtype), alpha, False
    )
    assert np.array_equal(dw.get(), eps[1:])


# ------------------------------------------- recurrent layer (rlif.cu), per-neuron alpha


def _rlif_inputs(rng, T, B, N_in, N, dtype):
    keep = rng.random((T * B, N_in)) < 0.2
    keep[1::3] = False
    x = spike_matrix_from_keys(np, np.flatnonzero(keep), T, B, N_in)
    w = rng.normal(0.1, 0.4, (N_in, N)).astype(dtype)
    r = rng.normal(0.0, 1.5 / np.sqrt(N), (N, N)).astype(dtype)
    return x, w, r


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "global"])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["alpha", "alpha_j"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (9, 3, 13, 97), (50, 16, 120, 300)], ids=str)
def test_rlif_forward_and_backward(cp, L, monkeypatch, shape, per_neuron, shared, dtype):
    """rlif.cu against the twins: spikes and active set equal (float32: up to 1 in 10**4
    entries, a value at a threshold), the gradients within the tolerance; the backward is
    fed the twin's active set, so both sides differentiate the same forward."""
    from spikegrad.ops import rlif as rlif_twin

    from .conftest import rlif_glue

    if not shared:
        monkeypatch.setattr(rlif_glue, "RLIF_SHARED", 0)
    T, B, N_in, N = shape
    rng = np.random.default_rng(41)
    x, w, r = _rlif_inputs(rng, T, B, N_in, N, dtype)
    alpha = rng.uniform(0.6, 0.99, N) if per_neuron else 0.9
    args = (1.0, 100.0, 0.2, (T, B))
    keys_ref, act_ref = rlif_twin.rlif_forward_sparse_spikes(
        x.indptr, x.indices, w, r, alpha, *args
    )
    dev = (cp.asarray(x.indptr), cp.asarray(x.indices), cp.asarray(w), cp.asarray(r))
    keys, act = L.rlif_forward_sparse_spikes(*dev, alpha, *args)
    _assert_same(keys.get(), keys_ref, dtype)
    _assert_same(act.idx.get(), act_ref.idx, dtype)
    if dtype == np.float64:
        assert np.array_equal(act.sp.get(), act_ref.sp)
    s = spike_matrix_from_keys(np, keys_ref, T, B, N)
    g = rng.normal(size=act_ref.idx.size).astype(dtype)
    pidx = np.flatnonzero(rng.random(T * B * N_in) < 0.05).astype(np.int32)
    prev = ActiveSet(pidx, np.ones(pidx.size, dtype))
    ref = rlif_twin.rlif_backward_sparse(g, act_ref, x, s, w, r, alpha, prev, (T, B, N))
    got = L.rlif_backward_sparse(
        cp.asarray(g),
        ActiveSet(cp.asarray(act_ref.idx), cp.asarray(act_ref.sp)),
        spike_matrix_from_keys(cp, cp.asarray(_keys(x)), T, B, N_in),
        spike_matrix_from_keys(cp, cp.asarray(keys_ref), T, B, N),
        dev[2],
        dev[3],
        alpha,
        ActiveSet(cp.asarray(prev.idx), cp.asarray(prev.sp)),
        (T, B, N),
    )
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, dtype)


def test_ff_kernels_per_neuron_alpha(cp, L, dtype):
    rng = np.random.default_rng(42)
    T, B, N = 40, 8, 130
    alpha = rng.uniform(0.5, 0.99, N)
    h = rng.normal(0.35, 0.6, (T, B, N)).astype(dtype)
    v_ref = h.copy()
    s_ref = lif_twin.lif_forward(v_ref, alpha, 1.0)
    v = cp.asarray(h)
    _assert_same(L.lif_forward(v, alpha, 1.0).get(), s_ref, dtype)
    assert_close(v, v_ref, dtype)
    e = cp.asarray(h)
    L.leaky_scan_reverse(e, alpha)
    assert_close(e, readout_twin.leaky_scan_reverse(h.copy(), alpha), dtype)
    g = rng.normal(size=(T, B, N)).astype(dtype)
    sp = (rng.random((T, B, N)) < 0.2).astype(dtype)
    xd = (rng.random((T * B, 70)) < 0.1).astype(dtype)
    wd = rng.normal(size=(70, N)).astype(dtype)
    ref = lif_twin.lif_backward_dense(g, sp, xd, wd, alpha, True)
    got = L.lif_backward_dense(
        cp.asarray(g), cp.asarray(sp), cp.asarray(xd), cp.asarray(wd), alpha, True
    )
    assert_close(got[0], ref[0], dtype)
    assert_close(got[1], ref[1], dtype)


def test_rlif_dense_twins_run_on_cupy(cp, dtype):
    """The dense mode's recurrent ops are xp-generic twins (cuBLAS per step) on CuPy."""
    from spikegrad.ops import rlif as rlif_twin

    rng = np.random.default_rng(43)
    T, B, N_in, N = 30, 8, 50, 97
    alpha = rng.uniform(0.6, 0.99, N)
    h = rng.normal(0.3, 0.6, (T, B, N)).astype(dtype)
    r = rng.normal(0.0, 0.15, (N, N)).astype(dtype)
    v_ref = h.copy()
    s_ref = rlif_twin.rlif_forward(v_ref, r, alpha, 1.0)
    v = cp.asarray(h)
    s = backend.call("rlif_forward", v, cp.asarray(r), alpha, 1.0)
    _assert_same(s.get(), s_ref, dtype)
    g = rng.normal(size=(T, B, N)).astype(dtype)
    sp = (rng.random((T, B, N)) < 0.2).astype(dtype)
    x = (rng.random((T * B, N_in)) < 0.1).astype(dtype)
    sf = s_ref.reshape(T * B, N).astype(dtype)
    w = rng.normal(size=(N_in, N)).astype(dtype)
    ref = rlif_twin.rlif_backward_dense(g, sp, x, sf, w, r, alpha, True)
    got = backend.call(
        "rlif_backward_dense", *(cp.asarray(a) for a in (g, sp, x, sf, w, r)), alpha, True
    )
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, dtype)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_recurrent_loss_and_grad_parity(cp, mode, dtype):
    """As test_loss_and_grad_parity for a recurrent + feed-forward stack with per-neuron
    alpha: rlif.cu (sparse) or the xp-generic twins (dense) on CuPy against NumPy."""
    rng = np.random.default_rng(15)
    x = (rng.random((16, 60, 50)) < 0.1).astype(np.uint8)
    y = rng.integers(0, 5, 16)
    alpha = [rng.uniform(0.8, 0.97, 120), 0.9]
    kw = dict(sizes=[50, 120, 80, 5], alpha=alpha, recurrent=[True, False], reg={}, seed=4)
    kw.update(dtype=dtype.name, b_th=0.2)
    ref = sg.Network(**kw, backend="numpy")
    ref.params = {k: np.round(v * 3 * 1024) / 1024 for k, v in ref.params.items()}
    net = sg.Network(**kw, backend="cupy")
    net.params = {k: cp.asarray(v) for k, v in ref.params.items()}
    loss_ref, g_ref, st_ref = ref.loss_and_grad(x, y, mode=mode)
    loss, g, st = net.loss_and_grad(x, y, mode=mode)
    assert st["n_active"] == st_ref["n_active"] and min(st["n_active"]) > 0
    assert abs(loss - loss_ref) <= TOL[dtype] * abs(loss_ref)
    assert "R1" in g
    for k in g_ref:
        assert isinstance(g[k], cp.ndarray)
        assert_close(g[k], g_ref[k], dtype)
