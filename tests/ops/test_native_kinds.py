"""Native C kernels of the CuBa and ALIF kinds (the drivers of spikegrad/ops/lif/cpu_kind.h with
spikegrad/neurons/cuba.h, alif.h) against the kind twin drivers (spikegrad/ops/kind_twin.py):
the scan and the fused forward bit for bit, the fused backward to rounding; feed-forward and
recurrent, one constant per layer or per neuron."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import layer_input, native_ops

from spikegrad import native, neurons
from spikegrad.backend import lookup
from spikegrad.ops import kind_twin
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import spike_matrix_from_keys

nat = native_ops()  # the native wrappers, by op name
KINDS = [neurons.cuba, neurons.alif]
TWINS = {k.NAME: kind_twin.twin_ops(k) for k in KINDS}
DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-4, np.float64: 1e-12}  # of the largest |value|: summation order only
# (T, B, N_in, N): one neuron; B not a multiple of the chunk counts, N over a vector block
SHAPES = [(1, 1, 1, 1), (25, 13, 30, 33), (12, 9, 20, 70)]
SCALARS = {"alpha": 0.9, "alpha_syn": 0.8, "alpha_adapt": 0.95, "beta_adapt": 1.8, "theta": 1.0}


@pytest.fixture(autouse=True)
def _need_native():
    if not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")


def _consts(rng, kind, per_neuron: bool, n: int, **over) -> tuple:
    """The kind's FORWARD_ARGS: the scalars above, or (per_neuron) n values each (alpha and the
    decays in [0.5, 1) with the ends 1 and 0 at the first two neurons; beta_adapt in [0, 3)
    with a 0), theta one number."""
    out = []
    for name in kind.FORWARD_ARGS:
        v = over.get(name, SCALARS[name])
        if per_neuron and name != "theta" and name not in over:
            v = rng.uniform(0.5, 1.0, n) if name != "beta_adapt" else rng.uniform(0, 3, n)
            v[: min(n, 2)] = ([0.0, 2.0] if name == "beta_adapt" else [1.0, 0.0])[: min(n, 2)]
        out.append(v)
    return tuple(out)


def _ops(kind, recurrent: bool):
    return kind.OPS[recurrent], TWINS[kind.NAME]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_registered_for_the_numpy_backend(kind):
    for names in kind.OPS.values():
        for op in (names.forward_sparse_spikes, names.backward_sparse):
            assert lookup(op, "numpy") is getattr(nat, op)
    assert lookup(kind.OPS[False].forward, "numpy") is getattr(nat, kind.OPS[False].forward)


@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_scan_matches_twin_bit_for_bit(rng, kind, dtype, per_neuron):
    h = rng.normal(0.35, 0.45, (30, 4, 37)).astype(dtype)
    args = _consts(rng, kind, per_neuron, 37)
    name = kind.OPS[False].forward
    rec_nat, rec_twin = h.copy(), h.copy()
    s_nat = getattr(nat, name)(rec_nat, *args)
    s_twin = TWINS[kind.NAME][name](rec_twin, *args)
    assert 0 < s_nat.sum() < s_nat.size
    np.testing.assert_array_equal(s_nat, s_twin)
    np.testing.assert_array_equal(rec_nat, rec_twin)  # the record (ALIF: V - A) too


def _forward_both(kind, recurrent, x, w, r, args, b_th, tb):
    names, twins = _ops(kind, recurrent)
    op = names.forward_sparse_spikes
    arrays = (x.indptr, x.indices, w) + ((r,) if recurrent else ())
    rest = (*args, 100.0, b_th, tb)
    return getattr(nat, op)(*arrays, *rest), twins[op](*arrays, *rest)


def _weights(rng, dtype, n_in, n):
    w = rng.normal(0.3, 0.6, (n_in, n)).astype(dtype)
    return w, rng.normal(0.0, 0.5, (n, n)).astype(dtype)


@pytest.mark.parametrize("b_th", [0.0, 0.3, np.inf])
@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_fused_forward_matches_twin_bit_for_bit(rng, kind, recurrent, dtype, per_neuron, b_th):
    for T, B, n_in, n in SHAPES:
        x = layer_input(rng, T, B, n_in, p=0.2)
        w, r = _weights(rng, dtype, n_in, n)
        args = _consts(rng, kind, per_neuron, n)
        (keys, act), (keys_t, act_t) = _forward_both(kind, recurrent, x, w, r, args, b_th, (T, B))
        np.testing.assert_array_equal(keys, keys_t)
        np.testing.assert_array_equal(act.idx, act_t.idx)
        np.testing.assert_array_equal(act.sp, act_t.sp)
        assert act.idx.dtype == act_t.idx.dtype and act.sp.dtype == dtype
        if b_th == 0.0:
            assert act.idx.size == 0  # the empty active set
        if b_th == np.inf:
            assert act.idx.size == T * B * n
        if T * B * n > 100:
            assert 0 < keys.size < T * B * n  # the layer spikes: the test compares something


def _backward_case(rng, kind, recurrent, dtype, shape, per_neuron, b_th=0.4):
    T, B, n_in, n = shape
    x = layer_input(rng, T, B, n_in, p=0.2)
    w, r = _weights(rng, dtype, n_in, n)
    args = _consts(rng, kind, per_neuron, n)
    (keys, act), _ = _forward_both(kind, recurrent, x, w, r, args, b_th, (T, B))
    s = spike_matrix_from_keys(np, keys, T, B, n)
    g = rng.normal(0, 1, act.idx.size).astype(dtype)
    prev_idx = np.flatnonzero(rng.random(T * B * n_in) < 0.1).astype(np.int32)
    prev = ActiveSet(prev_idx, np.ones(prev_idx.size, dtype))
    adj = args[: len(kind.ADJOINT_ARGS)]
    arrays = (g, act, x, s, w, r) if recurrent else (g, act, x, w)
    return arrays, (*adj, prev, (T, B, n))


def _backward(kind, recurrent, arrays, rest, twin=False):
    names, twins = _ops(kind, recurrent)
    fn = twins[names.backward_sparse] if twin else getattr(nat, names.backward_sparse)
    return fn(*arrays, *rest)


def _assert_close(got, want, dtype):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == dtype and a.shape == b.shape
        scale = float(np.abs(b).max()) if b.size else 0.0
        assert np.all(np.abs(a - b) <= RTOL[dtype] * scale)


@pytest.mark.parametrize("b_th", [0.4, np.inf])
@pytest.mark.parametrize("per_neuron", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_fused_backward_matches_twin(rng, kind, recurrent, dtype, per_neuron, b_th):
    for shape in SHAPES:
        arrays, rest = _backward_case(rng, kind, recurrent, dtype, shape, per_neuron, b_th)
        got = _backward(kind, recurrent, arrays, rest)
        _assert_close(got, _backward(kind, recurrent, arrays, rest, twin=True), dtype)
        if np.prod(shape) > 100:
            assert all(np.any(v != 0) for v in got)  # dW (dR) and dx: something compared
        no_dx = _backward(kind, recurrent, arrays, (*rest[:-2], None, rest[-1]))
        assert no_dx[-1] is None
        np.testing.assert_array_equal(no_dx[0], got[0])


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_backward_with_an_empty_active_set_is_zero(rng, kind, recurrent):
    arrays, rest = _backward_case(rng, kind, recurrent, np.float64, (10, 3, 8, 6), False)
    g, act = arrays[:2]
    empty = (g[:0], ActiveSet(act.idx[:0], act.sp[:0]), *arrays[2:])
    out = _backward(kind, recurrent, empty, rest)
    assert all(v.shape and not v.any() for v in out)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_results_do_not_depend_on_the_thread_count(rng, kind):
    """The forward and the recurrent backward (dW, dR summed one partial per chunk, fixed by
    B) give the same bits on 1 and 3 threads."""
    arrays, rest = _backward_case(rng, kind, True, np.float32, (30, 37, 40, 50), True)
    x, w, r = arrays[2], arrays[4], arrays[5]
    args = _consts(np.random.default_rng(1), kind, True, 50)
    outs = []
    try:
        for n in (1, 3):
            native.set_threads(n)
            keys, act = _forward_both(kind, True, x, w, r, args, 0.4, (30, 37))[0]
            outs.append([keys, act.idx, act.sp, *_backward(kind, True, arrays, rest)])
    finally:
        native.set_threads(None)
    assert outs[0][0].size > 0 and np.any(outs[0][3] != 0)
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_alif_without_adaptation_is_lif_bit_for_bit(rng):
    """beta_adapt = 0 is LIF exactly (ALGORITHM.md §8): the same spikes, active set and
    gradients as the LIF kernels, while beta_adapt > 0 changes them (the comparison bites)."""
    T, B, n_in, n = 30, 5, 20, 24
    x = layer_input(rng, T, B, n_in, p=0.2)
    w, r = _weights(rng, np.float64, n_in, n)
    lif_out = nat.rlif_forward_sparse_spikes(
        x.indptr, x.indices, w, r, 0.9, 1.0, 100.0, 0.4, (T, B)
    )
    outs = {}
    for beta in (0.0, 1.8):
        outs[beta] = nat.ralif_forward_sparse_spikes(
            x.indptr, x.indices, w, r, 0.9, 0.95, beta, 1.0, 100.0, 0.4, (T, B)
        )
    np.testing.assert_array_equal(outs[0.0][0], lif_out[0])
    np.testing.assert_array_equal(outs[0.0][1].sp, lif_out[1].sp)
    assert not np.array_equal(outs[1.8][0], lif_out[0])
    keys, act = lif_out
    s = spike_matrix_from_keys(np, keys, T, B, n)
    g = rng.normal(0, 1, act.idx.size)
    prev = ActiveSet(np.arange(0, T * B * n_in, 7), np.ones(T * B * n_in // 7 + 1))
    want = nat.rlif_backward_sparse(g, act, x, s, w, r, 0.9, prev, (T, B, n))
    got = nat.ralif_backward_sparse(g, act, x, s, w, r, 0.9, 0.95, 0.0, prev, (T, B, n))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    moved = nat.ralif_backward_sparse(g, act, x, s, w, r, 0.9, 0.95, 1.8, prev, (T, B, n))
    assert not np.array_equal(moved[0], want[0])


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_a_constant_of_a_wrong_shape_is_one_clear_error(rng, kind):
    x = layer_input(rng, 4, 2, 5)
    w, _ = _weights(rng, np.float64, 5, 6)
    args = list(_consts(rng, kind, False, 6))
    args[1] = np.full(4, 0.5)
    op = getattr(nat, kind.OPS[False].forward_sparse_spikes)
    with pytest.raises(Exception, match=rf"{kind.FORWARD_ARGS[1]} must be a float or have shape"):
        op(x.indptr, x.indices, w, *args, 100.0, 0.3, (4, 2))
