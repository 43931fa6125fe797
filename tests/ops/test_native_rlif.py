"""Native C kernels of the recurrent LIF layer (spikegrad/ops/lif/cpu.h) against the NumPy
twins of spikegrad/ops/rlif/twin.py: the fused forward bit for bit, the fused backward to
rounding."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import alpha_values, layer_input, native_ops

import spikegrad as sg
from spikegrad import native
from spikegrad.backend import lookup
from spikegrad.ops import rlif, surrogate
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import spike_matrix_from_keys

nat = native_ops()  # the native wrappers, by op name

# (T, B, N_in, N): one of each; B not a multiple of the chunk counts; N over several register
# blocks plus a tail; more samples than chunks
DTYPES = [np.float32, np.float64]
# float64: exact up to summation order (dot products, dW/dR sums); float32: sums of ~100 terms,
# relative to the sums of |terms| (the bound of each comparison)
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
SHAPES = [(1, 1, 1, 1), (30, 1, 9, 5), (25, 13, 40, 33), (12, 9, 20, 200), (8, 70, 15, 7)]


@pytest.fixture(autouse=True)
def _need_native():
    if not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")


def _weights(rng, dtype, n_in: int, n: int):
    w = rng.normal(0.25, 0.5, (n_in, n)).astype(dtype)
    r = rng.normal(0.0, 0.5, (n, n)).astype(dtype)
    return w, r


def _forward_both(x, w, r, a, b_th, tb):
    args = (x.indptr, x.indices, w, r, a, 1.0, 100.0, b_th, tb)
    got = nat.rlif_forward_sparse_spikes(*args)
    with native.mode("0"):
        return got, rlif.rlif_forward_sparse_spikes(*args)


def _assert_same_forward(got, want) -> None:
    (keys, act), (keys_twin, act_twin) = got, want
    np.testing.assert_array_equal(keys, keys_twin)
    np.testing.assert_array_equal(act.idx, act_twin.idx)
    np.testing.assert_array_equal(act.sp, act_twin.sp)
    assert keys.dtype == np.int64 and act.idx.dtype == act_twin.idx.dtype
    assert act.sp.dtype == act_twin.sp.dtype


def test_registered_for_the_numpy_backend():
    assert lookup("rlif_forward_sparse_spikes", "numpy") is nat.rlif_forward_sparse_spikes
    assert lookup("rlif_backward_sparse", "numpy") is nat.rlif_backward_sparse


@pytest.mark.parametrize("alpha", ["scalar", "per-neuron"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("b_th", [0.0, 0.3, np.inf])
def test_forward_matches_twin_bit_for_bit(rng, dtype, shape, b_th, alpha):
    T, B, n_in, n = shape
    x = layer_input(rng, T, B, n_in)
    w, r = _weights(rng, dtype, n_in, n)
    got, want = _forward_both(x, w, r, alpha_values(rng, alpha, 0.9, n), b_th, (T, B))
    _assert_same_forward(got, want)
    if b_th == 0.0:
        assert got[1].idx.size == 0  # the empty active set
    if b_th == np.inf:
        assert got[1].idx.size == T * B * n
    if T * B * n > 100:
        assert 0 < got[0].size < T * B * n  # the layer spikes: the test compares something


def test_forward_int64_index_path(rng, monkeypatch):
    monkeypatch.setattr(surrogate, "INT64_FROM", 0)
    x = layer_input(rng, 20, 5, 12)
    w, r = _weights(rng, np.float64, 12, 9)
    got, want = _forward_both(x, w, r, 0.9, 0.3, (20, 5))
    assert got[1].idx.dtype == np.int64 and got[1].idx.size > 0
    _assert_same_forward(got, want)


def test_forward_reads_r_by_rows_and_alpha_per_neuron(rng):
    """A mutation check: R transposed, or the alphas of two neurons swapped, change the spikes,
    and the kernel follows the twin in each case (so the comparison can fail)."""
    x = layer_input(rng, 30, 4, 20)
    w, r = _weights(rng, np.float64, 20, 16)
    a = rng.uniform(0.3, 1.0, 16)
    base, _ = _forward_both(x, w, r, a, 0.3, (30, 4))
    swapped = a.copy()
    swapped[[0, 9]] = a[[9, 0]]
    for r_m, a_m in ((np.ascontiguousarray(r.T), a), (r, swapped)):
        got, want = _forward_both(x, w, r_m, a_m, 0.3, (30, 4))
        _assert_same_forward(got, want)
        assert not np.array_equal(got[0], base[0])


def _backward_case(rng, dtype, shape, alpha, b_th=0.3):
    T, B, n_in, n = shape
    x = layer_input(rng, T, B, n_in)
    w, r = _weights(rng, dtype, n_in, n)
    a = alpha_values(rng, alpha, 0.8, n)
    keys, act = nat.rlif_forward_sparse_spikes(
        x.indptr, x.indices, w, r, a, 1.0, 100.0, b_th, (T, B)
    )
    s = spike_matrix_from_keys(np, keys, T, B, n)
    g = rng.normal(0, 1, act.idx.size).astype(dtype)
    prev_idx = np.flatnonzero(rng.random(T * B * n_in) < 0.1).astype(np.int32)
    prev = ActiveSet(prev_idx, np.ones(prev_idx.size, dtype))
    return g, act, x, s, w, r, a, prev, (T, B, n)


def _backward_both(g, act, x, s, w, r, a, prev, tbn):
    """Kernel, twin, and the twin on |inputs|: its sums of |terms| bound the rounding of a
    different summation order (also through the recurrence, whose |R| it propagates)."""
    got = nat.rlif_backward_sparse(g, act, x, s, w, r, a, prev, tbn)
    with native.mode("0"):
        want = rlif.rlif_backward_sparse(g, act, x, s, w, r, a, prev, tbn)
        bound = rlif.rlif_backward_sparse(
            np.abs(g), act._replace(sp=np.abs(act.sp)), x, s, np.abs(w), np.abs(r), a, prev, tbn
        )
    return got, want, bound


@pytest.mark.parametrize("alpha", ["scalar", "per-neuron"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("b_th", [0.3, np.inf])
def test_backward_matches_twin(rng, dtype, shape, b_th, alpha):
    case = _backward_case(rng, dtype, shape, alpha, b_th)
    got, want, bound = _backward_both(*case)
    w, r, prev = case[4], case[5], case[7]
    for name, a, b, m, like in zip(
        ("dw", "dr", "dx"), got, want, bound, (w, r, prev.idx), strict=True
    ):
        assert a.dtype == dtype and a.shape == like.shape, name
        assert np.all(np.abs(a - b) <= RTOL[dtype] * m), name
    if np.prod(shape) > 100:
        assert np.any(got[0] != 0) and np.any(got[1] != 0) and np.any(got[2] != 0)
    dw, dr, no_dx = nat.rlif_backward_sparse(*case[:7], None, case[8])
    assert no_dx is None
    np.testing.assert_array_equal(dw, got[0])
    np.testing.assert_array_equal(dr, got[1])


def test_backward_with_an_empty_active_set_is_zero(rng):
    g, act, x, s, w, r, a, prev, tbn = _backward_case(rng, np.float64, (10, 3, 8, 6), "scalar")
    empty = ActiveSet(act.idx[:0], act.sp[:0])
    dw, dr, dx = nat.rlif_backward_sparse(g[:0], empty, x, s, w, r, a, prev, tbn)
    assert not dw.any() and not dr.any() and not dx.any()
    assert dw.shape == w.shape and dr.shape == r.shape and dx.shape == prev.idx.shape


def test_backward_takes_the_recurrent_term_by_rows(rng):
    """A mutation check: R transposed changes eps (R[j] . eps[t+1] is a row of R), and the
    kernel follows the twin there too; R = 0 gives the feed-forward kernel's dW and dx."""
    g, act, x, s, w, r, a, prev, tbn = _backward_case(
        rng, np.float64, (25, 4, 20, 16), "per-neuron"
    )
    base = nat.rlif_backward_sparse(g, act, x, s, w, r, a, prev, tbn)
    got, want, bound = _backward_both(g, act, x, s, w, np.ascontiguousarray(r.T), a, prev, tbn)
    for p, q, m in zip(got, want, bound, strict=True):
        assert np.all(np.abs(p - q) <= RTOL[np.float64] * m)
    assert np.abs(got[0] - base[0]).max() > 1e-6 * np.abs(base[0]).max()
    dw, dr, dx = nat.rlif_backward_sparse(g, act, x, s, w, np.zeros_like(r), a, prev, tbn)
    ff_w, ff_x = nat.lif_backward_sparse(g, act, x, w, a, prev, tbn)
    np.testing.assert_array_equal(dw, ff_w)
    np.testing.assert_array_equal(dx, ff_x)
    assert np.any(dr != 0)  # dR does not depend on R


def test_bad_arguments_are_one_clear_error(rng):
    g, act, x, s, w, r, a, prev, tbn = _backward_case(rng, np.float64, (6, 3, 5, 4), "scalar")
    with pytest.raises(sg.ShapeError, match=r"r must have shape \(4, 4\)"):
        nat.rlif_backward_sparse(g, act, x, s, w, r[:3], a, prev, tbn)
    with pytest.raises(sg.ShapeError, match=r"r must have shape \(4, 4\)"):
        nat.rlif_forward_sparse_spikes(x.indptr, x.indices, w, r[:, :3], a, 1.0, 1.0, 0.3, (6, 3))
    with pytest.raises(sg.ShapeError, match=r"alpha must be a float or have shape \(4,\)"):
        nat.rlif_backward_sparse(g, act, x, s, w, r, np.full(5, 0.9), prev, tbn)
    bad_s = sg.SpikeMatrix(s.indptr, s.indices + 4, *tbn)
    if s.nnz:
        with pytest.raises(sg.ShapeError, match=r"indices must lie in 0\.\.3"):
            nat.rlif_backward_sparse(g, act, x, bad_s, w, r, a, prev, tbn)


def test_backward_is_independent_of_the_thread_count(tmp_path):
    """dW and dR sum one partial per chunk (fixed by B): 1 and 3 threads give the same bits."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, numpy as np\n"
        "sys.path[:0] = %r\n"
        "from test_native_rlif import _backward_case, nat\n"
        "rng = np.random.default_rng(5)\n"
        "case = _backward_case(rng, np.float32, (40, 37, 50, 60), 'per-neuron')\n"
        "dw, dr, dx = nat.rlif_backward_sparse(*case)\n"
        "np.save(sys.argv[1], np.concatenate([dw.ravel(), dr.ravel(), dx]))\n"
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
