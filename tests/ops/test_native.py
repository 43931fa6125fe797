"""Native C kernels (spikegrad/native/cpu_ops.c) against their NumPy twins, and the switch."""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pytest
from helpers import subnormal_cases

import spikegrad as sg
from spikegrad import native
from spikegrad.backend import lookup
from spikegrad.ops import lif, spmm
from spikegrad.ops import native as nat

DTYPES = [np.float32, np.float64]
# exact in float64 up to summation order; float32 sums of ~100 terms
RTOL = {np.float32: 2e-5, np.float64: 1e-12}


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


def _spikes(rng, rows: int, cols: int, p: float):
    dense = rng.random((rows, cols)) < p
    dense[rows // 2] = False  # an empty row
    r, c = np.nonzero(dense)
    indptr = np.searchsorted(r, np.arange(rows + 1)).astype(np.int32)
    return indptr, c.astype(np.int32), dense


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (30, 4, 7), (12, 3, 171), (5, 2, 1030)])
def test_lif_forward_matches_twin_bit_for_bit(rng, dtype, shape):
    h = rng.normal(0.35, 0.45, shape).astype(dtype)
    v_twin, v_nat = h.copy(), h.copy()
    s_twin = lif.lif_forward(v_twin, 0.9, 1.0)
    s_nat = nat.lif_forward(v_nat, 0.9, 1.0)
    assert s_nat.dtype == bool and s_nat.any() == s_twin.any()
    np.testing.assert_array_equal(s_nat, s_twin)
    np.testing.assert_array_equal(v_nat, v_twin)  # no FMA contraction: same rounding


def test_lif_forward_non_contiguous_input_is_overwritten_too(rng):
    base = rng.normal(0.4, 0.5, (20, 3, 16))
    view_twin, view_nat = base.copy()[:, :, ::2], base.copy()[:, :, ::2]
    s = nat.lif_forward(view_nat, 0.8, 1.0)
    np.testing.assert_array_equal(s, lif.lif_forward(view_twin, 0.8, 1.0))
    np.testing.assert_array_equal(view_nat, view_twin)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b_th", [0.05, 0.2, np.inf])
def test_fused_sparse_forward_matches_twin_bit_for_bit(rng, dtype, b_th):
    h = rng.normal(0.3, 0.5, (40, 3, 530)).astype(dtype)
    keys, act = nat.lif_forward_sparse(h.copy(), 0.9, 1.0, 100.0, b_th)
    with native.mode("0"):
        keys_twin, act_twin = lif.lif_forward_sparse(h.copy(), 0.9, 1.0, 100.0, b_th)
    assert 0 < act.idx.size <= h.size and (act.idx.size == h.size) == (b_th == np.inf)
    np.testing.assert_array_equal(keys, keys_twin)
    np.testing.assert_array_equal(act.idx, act_twin.idx)
    np.testing.assert_array_equal(act.sp, act_twin.sp)
    assert act.sp.dtype == dtype and act.idx.dtype == act_twin.idx.dtype


@pytest.mark.parametrize("n", [0, 1, 4095, 4097, 100_003])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_flatnonzero_matches_numpy(rng, n, dtype):
    for mask in (rng.random(n) < 0.03, np.ones(n, dtype=bool), np.zeros(n, dtype=bool)):
        got = nat.flatnonzero(mask, dtype)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.flatnonzero(mask))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 5), (40, 3, 9), (17, 1030)])
def test_leaky_scan_reverse_matches_twin(rng, dtype, shape):
    e = rng.normal(0, 1, shape).astype(dtype)
    e_twin, e_nat = e.copy(), e.copy()
    lif.leaky_scan_reverse(e_twin, 0.85)
    out = nat.leaky_scan_reverse(e_nat, 0.85)
    assert out is e_nat  # in place, like the twin
    np.testing.assert_array_equal(e_nat, e_twin)


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
    lif.leaky_scan_reverse(e_twin, alpha)
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
    indptr, indices, dense = _spikes(rng, 120, 70, 0.08)
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
    with pytest.raises(sg.ShapeError, match="indptr must be 6"):
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
    missing = native.Built(None, "no C compiler found (looked for 'cc')")
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
    err = native._compile(cc, native.BASE_FLAGS, src, tmp_path / "out" / "bad.so")
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
