"""The CUDA drivers templated on the neuron kind (kinds.cuh; lif.cu, lif_backward.cu, rlif.cu)
for CuBa and ALIF on the CPU emulation (see test_emulation.py), against the kind twin drivers
(spikegrad/ops/kind_twin.py): scans, spikes, active sets and sigma' bit for bit, gradients to
rounding (float64: 1e-12 relative), feed-forward and recurrent, constants per layer and per
neuron. LIF's instances run in test_emulation*.py. Every test runs in each launch mode of
conftest.EMU_MODES; the file name sorts before test_emulator.py, whose coverage test wants
every kernel instance run in every mode.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikegrad import neurons
from spikegrad.ops import kind_twin
from spikegrad.ops.surrogate import ActiveSet
from spikegrad.spikes import spike_matrix_from_keys

from .conftest import host, rel_err, rlif_glue

KINDS = [neurons.cuba, neurons.alif]
TWINS = {k.NAME: kind_twin.twin_ops(k) for k in KINDS}
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
SCALARS = {"alpha": 0.9, "alpha_syn": 0.8, "alpha_adapt": 0.95, "beta_adapt": 1.8, "theta": 1.0}
# (T, B, N_in, N): one neuron; N > the block (256 threads) and not a multiple of 32
SHAPES = [(1, 1, 1, 1), (9, 3, 13, 97), (4, 2, 7, 300)]


def _consts(rng, kind, per_neuron: bool, n: int) -> tuple:
    """The kind's FORWARD_ARGS: the scalars above, or (per_neuron) n values per constant but
    theta (decays in [0.5, 1), beta_adapt in [0, 3))."""
    out = []
    for name in kind.FORWARD_ARGS:
        v = SCALARS[name]
        if per_neuron and name != "theta":
            v = rng.uniform(0, 3, n) if name == "beta_adapt" else rng.uniform(0.5, 1.0, n)
        out.append(v)
    return tuple(out)


def _inputs(rng, T, B, N_in, N, dtype):
    keep = rng.random((T * B, N_in)) < 0.4
    keep[1::3] = False
    x = spike_matrix_from_keys(np, np.flatnonzero(keep), T, B, N_in)
    w = rng.normal(0.3, 0.6, (N_in, N)).astype(dtype)
    r = rng.normal(0.0, 1.5 / np.sqrt(N), (N, N)).astype(dtype)
    return x, w, r


def _forward_args(x, w, r, recurrent, args, b_th, tb):
    arrays = (x.indptr, x.indices, w) + ((r,) if recurrent else ())
    return (*arrays, *args, 100.0, b_th, tb)


ids = {"ids": lambda k: k.NAME}


@pytest.mark.parametrize("per_neuron", [False, True], ids=["layer", "neuron"])
@pytest.mark.parametrize("kind", KINDS, **ids)
def test_kind_scan(emu, kind, per_neuron, dtype):
    rng = np.random.default_rng(41)
    h = rng.normal(0.35, 0.6, (9, 3, 97)).astype(dtype)
    args = _consts(rng, kind, per_neuron, 97)
    op = kind.OPS[False].forward
    rec, rec_ref = h.copy(), h.copy()
    s = getattr(host, op)(emu, rec, *args)
    s_ref = TWINS[kind.NAME][op](rec_ref, *args)
    assert 0 < s.sum() < s.size
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_array_equal(rec, rec_ref)


# feed-forward; recurrent with the per-sample rows in shared memory or (host switch) global
LAYERS = {"ff": (False, "shared"), "rec": (True, "shared"), "rec-global": (True, "global")}


# (kind, layer) as one parameter: the stress and shuffle modes keep a float32 case per value
# (conftest), so each kind's recurrent float32 instances run in every mode
KIND_LAYERS = [(k, layer) for k in KINDS for layer in LAYERS]
kl_ids = {"ids": [f"{k.NAME}-{layer}" for k, layer in KIND_LAYERS]}


@pytest.mark.parametrize("b_th", [0.2, np.inf, 1e-30], ids=["band", "all", "empty"])
@pytest.mark.parametrize("kind_layer", KIND_LAYERS, **kl_ids)
def test_kind_forward_sparse_spikes(emu, monkeypatch, kind_layer, b_th, dtype):
    kind, layer = kind_layer
    recurrent, where = LAYERS[layer]
    if where == "global":
        monkeypatch.setattr(rlif_glue, "RLIF_SHARED", 0)
    rng = np.random.default_rng(43)
    op = kind.OPS[recurrent].forward_sparse_spikes
    for T, B, N_in, N in SHAPES if recurrent else SHAPES[:2]:  # N > the block: rlif's tiles
        x, w, r = _inputs(rng, T, B, N_in, N, dtype)
        args = _forward_args(x, w, r, recurrent, _consts(rng, kind, N > 1, N), b_th, (T, B))
        keys, act = getattr(host, op)(emu, *args)
        keys_ref, act_ref = TWINS[kind.NAME][op](*args)
        np.testing.assert_array_equal(keys, keys_ref)
        assert act.idx.dtype == act_ref.idx.dtype and act.sp.dtype == dtype
        np.testing.assert_array_equal(act.idx, act_ref.idx)
        np.testing.assert_array_equal(act.sp, act_ref.sp)
        if b_th == np.inf:
            assert act.idx.size == T * B * N
        if b_th == 1e-30:
            assert act.idx.size == 0
        if T * B * N > 100:
            assert 0 < keys.size < T * B * N


# every entry active ("all") only feed-forward: a warp per entry is slow on the emulation (the
# recurrent kernel runs it in test_emulation_rlif.py)
BACKWARD_CASES = [
    (kl, case)
    for kl in KIND_LAYERS
    for case in ("band", "all", "empty", "first_layer")
    if case != "all" or kl[1] == "ff"
]


@pytest.mark.parametrize(
    "kind_layer_case", BACKWARD_CASES, ids=[f"{k.NAME}-{l}-{c}" for (k, l), c in BACKWARD_CASES]
)
def test_kind_backward_sparse(emu, monkeypatch, kind_layer_case, dtype):
    (kind, layer), case = kind_layer_case
    recurrent, where = LAYERS[layer]
    if where == "global":
        monkeypatch.setattr(rlif_glue, "RLIF_SHARED", 0)
    rng = np.random.default_rng(47)
    b_th = {"all": np.inf, "empty": 1e-30}.get(case, 0.3)
    names, twins = kind.OPS[recurrent], TWINS[kind.NAME]
    na = len(kind.ADJOINT_ARGS)
    for T, B, N_in, N in SHAPES if case == "band" and recurrent else SHAPES[:2]:
        x, w, r = _inputs(rng, T, B, N_in, N, dtype)
        consts = _consts(rng, kind, N > 1, N)
        fargs = _forward_args(x, w, r, recurrent, consts, b_th, (T, B))
        keys, act = twins[names.forward_sparse_spikes](*fargs)
        s = spike_matrix_from_keys(np, keys, T, B, N)
        g = rng.normal(size=act.idx.size).astype(dtype)
        prev = None
        if case != "first_layer":
            pidx = np.flatnonzero(rng.random(T * B * N_in) < 0.3).astype(np.int32)
            prev = ActiveSet(pidx, np.ones(pidx.size, dtype))
        arrays = (g, act, x, s, w, r) if recurrent else (g, act, x, w)
        args = (*arrays, *consts[:na], prev, (T, B, N))
        got = getattr(host, names.backward_sparse)(emu, *args)
        ref = twins[names.backward_sparse](*args)
        assert len(got) == len(ref)
        for a, b in zip(got, ref, strict=True):
            if b is None:
                assert a is None
                continue
            assert a.dtype == dtype and rel_err(a, b) <= RTOL[np.dtype(dtype)]
        if case == "empty":
            assert not got[0].any()
        if case in ("band", "all") and T >= 9:
            assert np.any(got[0] != 0) and (not recurrent or np.any(got[1] != 0))


@pytest.mark.parametrize("need_dx", [False, True])
@pytest.mark.parametrize("kind", KINDS, **ids)
def test_kind_backward_dense(emu, kind, need_dx, dtype):
    rng = np.random.default_rng(53)
    T, B, N_in, N = 7, 3, 11, 97
    g = rng.normal(size=(T, B, N)).astype(dtype)
    sp = (rng.random((T, B, N)) * (rng.random((T, B, N)) < 0.3)).astype(dtype)
    x = (rng.random((T * B, N_in)) < 0.3).astype(dtype)
    w = rng.normal(size=(N_in, N)).astype(dtype)
    adj = _consts(rng, kind, True, N)[: len(kind.ADJOINT_ARGS)]
    op = kind.OPS[False].backward_dense
    got = getattr(host, op)(emu, g, sp, x, w, *adj, need_dx)
    ref = TWINS[kind.NAME][op](g, sp, x, w, *adj, need_dx)
    assert rel_err(got[0], ref[0]) <= RTOL[np.dtype(dtype)] * 10
    assert (got[1] is None) == (not need_dx)
    if need_dx:
        assert rel_err(got[1], ref[1]) <= RTOL[np.dtype(dtype)] * 10
