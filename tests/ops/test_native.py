"""Native C kernels (spikegrad/ops/<family>/cpu.h) against their NumPy twins, and the switch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import alpha_values, layer_input, native_ops, spike_csr, subnormal_cases

import spikegrad as sg
from spikegrad import native
from spikegrad.backend import lookup
from spikegrad.native import build
from spikegrad.ops import adam, lif, readout, spmm
from spikegrad.ops.surrogate import ActiveSet

nat = native_ops()  # the native wrappers, by op name

DTYPES = [np.float32, np.float64]
# exact in float64 up to summation order; float32 sums of ~100 terms
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ALPHAS = ["scalar", "per-neuron"]


def test_kernels_build_where_a_c_compiler_exists():
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler here: the NumPy twins run instead")
    st = native.status()
    assert st["active"], st.get("reason")
    assert st["threads"] >= 1
    assert lookup("spike_tmatmul", "numpy") is nat.spike_tmatmul


@pytest.fixture(autouse=True)
def _need_native(request):
    if request.node.get_closest_marker("no_library") is None and not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (30, 4, 7), (12, 3, 171), (5, 2, 1030)])
def test_lif_forward_matches_twin_bit_for_bit(rng, dtype, shape, alpha):
    h = rng.normal(0.35, 0.45, shape).astype(dtype)
    a = alpha_values(rng, alpha, 0.9, shape[-1])
    v_twin, v_nat = h.copy(), h.copy()
    s_twin = lif.lif_forward(v_twin, a, 1.0)
    s_nat = nat.lif_forward(v_nat, a, 1.0)
    assert s_nat.dtype == bool and s_nat.any() == s_twin.any()
    np.testing.assert_array_equal(s_nat, s_twin)
    np.testing.assert_array_equal(v_nat, v_twin)  # no FMA contraction: same rounding


def test_lif_forward_non_contiguous_input_is_overwritten_too(rng):
    base = rng.normal(0.4, 0.5, (20, 3, 16))
    view_twin, view_nat = base.copy()[:, :, ::2], base.copy()[:, :, ::2]
    s = nat.lif_forward(view_nat, 0.8, 1.0)
    np.testing.assert_array_equal(s, lif.lif_forward(view_twin, 0.8, 1.0))
    np.testing.assert_array_equal(view_nat, view_twin)


# (T, B, N_in, N): one sample; B not a multiple of the chunk counts; wide rows (several
# register blocks plus a tail); more samples than chunks
FUSED_SHAPES = [(1, 1, 1, 1), (30, 1, 9, 5), (25, 13, 40, 33), (12, 9, 20, 200), (8, 70, 15, 7)]


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FUSED_SHAPES)
@pytest.mark.parametrize("b_th", [0.0, 0.2, np.inf])
def test_fused_spike_forward_matches_twin_bit_for_bit(rng, dtype, shape, b_th, alpha):
    T, B, n_in, n = shape
    x = layer_input(rng, T, B, n_in)
    w = rng.normal(0.35, 0.6, (n_in, n)).astype(dtype)
    args = (x.indptr, x.indices, w, alpha_values(rng, alpha, 0.9, n), 1.0, 100.0, b_th, (T, B))
    keys, act = nat.lif_forward_sparse_spikes(*args)
    with native.mode("0"):
        keys_twin, act_twin = lif.lif_forward_sparse_spikes(*args)
    np.testing.assert_array_equal(keys, keys_twin)  # same sums in the same order
    np.testing.assert_array_equal(act.idx, act_twin.idx)
    np.testing.assert_array_equal(act.sp, act_twin.sp)
    assert keys.dtype == np.int64 and act.sp.dtype == dtype
    assert act.idx.dtype == act_twin.idx.dtype
    if b_th == np.inf:
        assert act.idx.size == T * B * n
    if T * B * n > 100:
        assert keys.size > 0  # the weights make the layer spike: the test compares something


def _backward_case(rng, dtype, shape, with_prev=True):
    T, B, n_in, n = shape
    x = layer_input(rng, T, B, n_in)
    w = rng.normal(0.35, 0.6, (n_in, n)).astype(dtype)
    _, act = nat.lif_forward_sparse_spikes(x.indptr, x.indices, w, 0.9, 1.0, 100.0, 0.3, (T, B))
    g = rng.normal(0, 1, act.idx.size).astype(dtype)
    prev_idx = np.flatnonzero(rng.random(T * B * n_in) < 0.1).astype(np.int32)
    prev = ActiveSet(prev_idx, np.ones(prev_idx.size, dtype)) if with_prev else None
    return g, act, x, w, prev, (T, B, n)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FUSED_SHAPES)
def test_fused_spike_backward_matches_twin(rng, dtype, shape, alpha):
    g, act, x, w, prev, tbn = _backward_case(rng, dtype, shape)
    a = alpha_values(rng, alpha, 0.8, shape[-1])
    dw, dx = nat.lif_backward_sparse(g, act, x, w, a, prev, tbn)
    with native.mode("0"):
        dw_twin, dx_twin = lif.lif_backward_sparse(g, act, x, w, a, prev, tbn)
        # the same sums over |terms| bound the rounding of a different summation order
        bound_w, bound_x = lif.lif_backward_sparse(
            np.abs(g), act._replace(sp=np.abs(act.sp)), x, np.abs(w), a, prev, tbn
        )
    assert dw.dtype == dx.dtype == dtype and dw.shape == w.shape and dx.shape == prev.idx.shape
    assert np.all(np.abs(dw - dw_twin) <= RTOL[dtype] * bound_w)
    assert np.all(np.abs(dx - dx_twin) <= RTOL[dtype] * bound_x)
    if act.idx.size and x.nnz:
        assert np.any(dw != 0)
    _, no_dx = nat.lif_backward_sparse(g, act, x, w, a, None, tbn)
    assert no_dx is None


def test_fused_spike_backward_applies_the_denormal_policy(rng):
    """A long silent stretch decays eps into subnormals: the kernel flushes them like the
    twin's reverse scan, so dW is bit for bit the twin's where a single input spike reads eps."""
    T, B, n_in, n = 400, 1, 1, 1
    act = ActiveSet(np.array([T - 1], dtype=np.int32), np.ones(1, np.float32))
    for t_in in (0, T - 300, T - 2):
        x = sg.SpikeMatrix(
            np.r_[np.zeros(t_in + 1), np.ones(T - t_in)].astype(np.int32),
            np.zeros(1, np.int32), T, B, n_in,
        )  # fmt: skip
        w = np.ones((1, 1), np.float32)
        g = np.ones(1, np.float32)
        dw, _ = nat.lif_backward_sparse(g, act, x, w, 0.7, None, (T, B, n))
        with native.mode("0"):
            dw_twin, _ = lif.lif_backward_sparse(g, act, x, w, 0.7, None, (T, B, n))
        np.testing.assert_array_equal(dw, dw_twin)
    assert dw_twin[0, 0] == np.float32(1.0) and dw[0, 0] == np.float32(1.0)


def test_fused_spike_backward_is_independent_of_the_thread_count(tmp_path):
    """The weight gradient's partial sums are fixed by B: 1 and 3 threads give the same bits."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, numpy as np\n"
        "sys.path[:0] = %r\n"
        "from test_native import _backward_case, nat\n"
        "g, act, x, w, prev, tbn = _backward_case(np.random.default_rng(5), np.float32, "
        "(40, 37, 50, 60))\n"
        "dw, dx = nat.lif_backward_sparse(g, act, x, w, 0.8, prev, tbn)\n"
        "np.save(sys.argv[1], np.concatenate([dw.ravel(), dx]))\n"
        % [
            str(Path(__file__).parent),
            str(Path(__file__).parents[1]),
            str(Path(__file__).parents[2]),
        ]
    )
    outs = []
    for threads in ("1", "3"):
        env = {**os.environ, "OMP_NUM_THREADS": threads}
        out = tmp_path / f"t{threads}.npy"
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True)
        outs.append(np.load(out))
    assert outs[0].size > 0 and np.any(outs[0] != 0)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_fused_kernels_refuse_unsorted_or_out_of_range_keys(rng):
    g, act, x, w, prev, tbn = _backward_case(rng, np.float64, (6, 3, 5, 4))
    assert act.idx.size > 2
    shuffled = act._replace(idx=act.idx[::-1].copy())
    with pytest.raises(sg.ShapeError, match=r"act\.idx must be strictly increasing"):
        nat.lif_backward_sparse(g, shuffled, x, w, 0.8, prev, tbn)
    far = prev._replace(idx=prev.idx + 6 * 3 * 5)
    with pytest.raises(sg.ShapeError, match=r"prev.idx must lie in 0\.\.89"):
        nat.lif_backward_sparse(g, act, x, w, 0.8, far, tbn)
    with pytest.raises(sg.ShapeError, match="indptr must have shape"):
        nat.lif_forward_sparse_spikes(x.indptr[:-1], x.indices, w, 0.9, 1.0, 100.0, 0.2, (6, 3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 3), (7,), (50, 4, 7), (30, 600)])
def test_leaky_scan_matches_twin_bit_for_bit(rng, dtype, shape):
    x = rng.normal(0, 1, shape).astype(dtype)
    np.testing.assert_array_equal(nat.leaky_scan(x, 0.9, 0.1), readout.leaky_scan(x, 0.9, 0.1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 3), (9,), (60, 4, 7), (3, 700)])
def test_time_max_matches_twin_and_argmax_bit_for_bit(rng, dtype, shape):
    """The first maximum over time (ties: the first), a NaN wins from its step on, and a
    column of zeros (the readout's u[0] = 0) gives step 0; np.argmax agrees where no NaN."""
    u = rng.normal(0, 1, shape).astype(dtype)
    flat = u.reshape(shape[0], -1)
    planted = shape[0] > 5 and flat.shape[1] >= 3
    if planted:
        flat[4, 0] = flat[7, 0] = np.nan  # the first NaN stays
        flat[:, 1] = 0
        flat[5, 2] = flat[2, 2] = flat[:, 2].max() + 1  # a tie: step 2 wins
    mx, arg = nat.time_max(u)
    mx_t, arg_t = readout.twin.time_max(u)
    assert arg.dtype == np.int64 and arg.shape == mx.shape == shape[1:]
    np.testing.assert_array_equal(arg, arg_t)
    np.testing.assert_array_equal(mx, mx_t)
    clean = ~np.isnan(u).any(axis=0)
    np.testing.assert_array_equal(arg[clean], np.argmax(u, axis=0)[clean])
    np.testing.assert_array_equal(mx[clean], u.max(axis=0)[clean])
    if planted:
        assert arg.reshape(-1)[:3].tolist() == [4, 0, 2] and np.isnan(mx.reshape(-1)[0])


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 5), (40, 3, 9), (17, 1030)])
def test_leaky_scan_reverse_matches_twin(rng, dtype, shape, alpha):
    e = rng.normal(0, 1, shape).astype(dtype)
    a = alpha_values(rng, alpha, 0.85, shape[-1])
    e_twin, e_nat = e.copy(), e.copy()
    readout.leaky_scan_reverse(e_twin, a)
    out = nat.leaky_scan_reverse(e_nat, a)
    assert out is e_nat  # in place, like the twin
    np.testing.assert_array_equal(e_nat, e_twin)


def test_per_neuron_alpha_is_read_per_neuron(rng):
    """Per-neuron alpha reaches each neuron (several tiles of columns): the kernels give the
    twin's bits, and swapping two neurons' alphas changes those neurons' results."""
    h = rng.normal(0.35, 0.45, (20, 3, 700))
    a = rng.uniform(0.3, 1.0, 700)
    swapped = a.copy()
    swapped[[5, 600]] = a[[600, 5]]
    v, v_twin, v_swap = h.copy(), h.copy(), h.copy()
    np.testing.assert_array_equal(nat.lif_forward(v, a, 1.0), lif.lif_forward(v_twin, a, 1.0))
    np.testing.assert_array_equal(v, v_twin)
    nat.lif_forward(v_swap, swapped, 1.0)
    changed = np.any(v_swap != v, axis=(0, 1))
    assert changed[[5, 600]].all() and changed.sum() == 2
    e, e_twin = h.copy(), h.copy()
    nat.leaky_scan_reverse(e, a)
    np.testing.assert_array_equal(e, readout.leaky_scan_reverse(e_twin, a))


def test_alpha_of_the_wrong_length_is_one_clear_error(rng):
    with pytest.raises(sg.ShapeError, match=r"alpha must be a float or have shape \(7,\)"):
        nat.lif_forward(rng.normal(0, 1, (4, 2, 7)), np.full(6, 0.9), 1.0)
    with pytest.raises(sg.ShapeError, match=r"alpha must be a float or have shape \(5,\)"):
        nat.leaky_scan_reverse(rng.normal(0, 1, (4, 5)), np.full((5, 1), 0.9))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["plain", "wide", "tiled"])
def test_leaky_scan_reverse_denormal_policy_bit_for_bit(dtype, layout):
    """Twin and C kernel apply the one denormal policy identically: inputs whose steps make
    subnormals by decay, by cancellation and from subnormal inputs give the same bits, and
    none is left (the top row, not a step, keeps its input)."""
    e, alpha = subnormal_cases(dtype)
    tiny = np.finfo(dtype).tiny
    if layout != "plain":  # many columns, over several C tiles; "tiled": a strided view
        e = np.tile(e, (1, 200 if layout == "wide" else 2))
    e_twin, e_nat = e.copy(), e.copy()
    if layout == "tiled":
        e_nat = np.ascontiguousarray(e_nat[:, ::2])
        e_twin = e_twin[:, ::2]  # the twin works on the view
    readout.leaky_scan_reverse(e_twin, alpha)
    assert nat.leaky_scan_reverse(e_nat, alpha) is e_nat
    np.testing.assert_array_equal(e_nat, e_twin)
    a = np.abs(e_nat[:-1])
    assert not np.any((a > 0) & (a < tiny))
    assert e_nat[-2, 0] == dtype(0.1) and e_nat[0, 0] == 0  # decayed, then flushed
    assert np.array_equal(np.signbit(e_nat), np.signbit(e_twin))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 20, 200, 333])
def test_gather_rowdot_matches_twin(rng, dtype, m):
    e = rng.normal(0, 1, (300, m)).astype(dtype)
    w = rng.normal(0, 1, (45, m)).astype(dtype)
    rows = np.sort(rng.integers(0, 300, 1000)).astype(np.int32)
    cols = rng.integers(0, 45, 1000)  # int64: converted
    got = nat.gather_rowdot(e, rows, w, cols)
    assert got.dtype == dtype and got.shape == (1000,)
    # summation order differs: bound the difference by the sum of |terms| of each dot
    scale = lif.gather_rowdot(np.abs(e), rows, np.abs(w), cols)
    assert np.all(np.abs(got - lif.gather_rowdot(e, rows, w, cols)) <= RTOL[dtype] * scale)
    empty = nat.gather_rowdot(e, rows[:0], w, cols[:0])
    assert empty.shape == (0,)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 17, 200])
def test_spike_products_match_twins(rng, dtype, m):
    indptr, indices, dense = spike_csr(rng, 120, 70, 0.08)
    w = rng.normal(0, 1, (70, m)).astype(dtype)
    e = rng.normal(0, 1, (120, m)).astype(dtype)
    tol = dict(rtol=RTOL[dtype], atol=1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(nat.spike_matmul(indptr, indices, w), dense @ w, **tol)
    np.testing.assert_allclose(
        nat.spike_matmul(indptr, indices, w), spmm.spike_matmul(indptr, indices, w), **tol
    )
    got = nat.spike_tmatmul(indptr, indices, e, 70)
    np.testing.assert_allclose(got, dense.T.astype(dtype) @ e, **tol)
    np.testing.assert_allclose(got, spmm.spike_tmatmul(indptr, indices, e, 70), **tol)


def test_spike_products_without_spikes(rng):
    indptr = np.zeros(11, dtype=np.int32)
    indices = np.zeros(0, dtype=np.int32)
    w = rng.normal(0, 1, (6, 4))
    assert not nat.spike_matmul(indptr, indices, w).any()
    out = nat.spike_tmatmul(indptr, indices, rng.normal(0, 1, (10, 4)), 6)
    assert out.shape == (6, 4) and not out.any()


def test_out_of_range_indices_are_refused_not_read(rng):
    e, w = rng.normal(0, 1, (5, 3)), rng.normal(0, 1, (4, 3))
    with pytest.raises(sg.ShapeError, match=r"rows must lie in 0\.\.4"):
        nat.gather_rowdot(e, np.array([5]), w, np.array([0]))
    with pytest.raises(sg.ShapeError, match=r"cols must lie in 0\.\.3"):
        nat.gather_rowdot(e, np.array([0]), w, np.array([-1]))
    indptr, indices = np.array([0, 1, 2]), np.array([0, 4])
    with pytest.raises(sg.ShapeError, match=r"indices must lie in 0\.\.3"):
        nat.spike_matmul(indptr, indices, w)
    with pytest.raises(sg.ShapeError, match=r"indptr must have shape \(6,\)"):
        nat.spike_tmatmul(indptr, np.array([0, 1]), e, 4)


def test_other_dtypes_go_to_the_twin():
    h = np.array([0.6, 0.6, 0.0], dtype=np.float16).reshape(3, 1)
    s = nat.lif_forward(h, 1.0, 1.0)
    np.testing.assert_array_equal(s.ravel(), [0, 0, 1])


def test_mode_zero_uses_the_twins():
    with native.mode("0"):
        assert lookup("gather_rowdot", "numpy") is lif.gather_rowdot
        assert native.status() == {
            "mode": "0",
            "active": False,
            "reason": "disabled (SPIKEGRAD_NATIVE=0)",
        }


def test_bad_mode_is_one_clear_error():
    with pytest.raises(sg.ConfigError, match="SPIKEGRAD_NATIVE must be one of"):
        native.set_mode("fast")


@pytest.mark.no_library
def test_unbuildable_kernels_fall_back_or_fail_by_mode(monkeypatch):
    missing = build.Built(None, "no C compiler found (looked for 'cc')")
    monkeypatch.setattr(native, "_build", lambda: missing)
    native._warn_once.cache_clear()
    with native.mode("auto"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lookup("spike_matmul", "numpy") is spmm.spike_matmul
        assert lookup("spike_matmul", "numpy") is spmm.spike_matmul
    assert len(caught) == 1 and "NumPy ops" in str(caught[0].message)
    with native.mode("1"), pytest.raises(sg.BackendUnavailableError, match="no C compiler"):
        lookup("spike_matmul", "numpy")
    native._warn_once.cache_clear()


@pytest.mark.no_library
def test_compiler_errors_are_reported_in_one_line(tmp_path, monkeypatch):
    src = tmp_path / "bad.c"
    src.write_text("this is not C\n")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler here")
    err = build._compile(cc, build.BASE_FLAGS, src.read_text(), tmp_path / "out" / "bad.so")
    assert err.startswith(cc) and "\n" not in err
    assert not (tmp_path / "out" / "bad.so").exists()
    assert list((tmp_path / "out").iterdir()) == []  # the temporary file is gone


@pytest.mark.no_library
def test_a_failing_compiler_gives_a_reason_not_a_crash(tmp_path, monkeypatch):
    fake = tmp_path / "fakecc"
    fake.write_text("#!/bin/sh\necho 'fakecc: error: broken' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    native._build.cache_clear()
    try:
        built = native._build()
    finally:
        native._build.cache_clear()  # the next call builds with the real compiler again
    assert built.lib is None
    assert (
        built.reason.startswith("the C compiler failed") and "fakecc: error: broken" in built.reason
    )


@pytest.mark.parametrize("wd", [0.0, 0.5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_matches_twin_bit_for_bit(rng, dtype, wd):
    shapes = [(70, 20), (20, 20), (7,)]
    state = [[rng.normal(0, s, shape).astype(dtype) for shape in shapes] for s in (1, 1, 0.1)]
    state.append([np.abs(m) for m in state[2]])  # v >= 0
    twin = [[a.copy() for a in group] for group in state]
    p0 = state[0][0].copy()
    for step in (1, 2, 9):
        nat.adam_update_multi(*state, step, 1e-3, 0.9, 0.999, 1e-8, wd)
        adam.adam_update_multi(*twin, step, 1e-3, 0.9, 0.999, 1e-8, wd)
    for group, group_twin in zip(state, twin, strict=True):
        for a, b in zip(group, group_twin, strict=True):
            np.testing.assert_array_equal(a, b)
    assert np.all(state[0][0] != p0)  # the update moved every parameter
