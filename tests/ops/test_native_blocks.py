"""The neuron blocks of the fused sparse layer kernels (spikegrad/native/blocks.py, the work
items of spikegrad/ops/lif/cpu_kind_weights.h): for every kind, float type and weight storage,
the forward's spikes and active set and the backward's dW and dx are the same bits for every
block width and thread count as the unblocked kernel's (and the forward the twin's)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import layer_input, native_ops

from spikegrad import native, neurons
from spikegrad.errors import ConfigError
from spikegrad.native import blocks
from spikegrad.ops import kind_twin
from spikegrad.ops.half import to_half
from spikegrad.ops.lif.glue import block_width
from spikegrad.ops.surrogate import ActiveSet

nat = native_ops()  # the native wrappers, by op name
KINDS = [neurons.lif, neurons.cuba, neurons.alif]
# (compute dtype, weight storage): float32 and float64 weights, and the 16-bit copies
STORAGES = [
    (np.float32, None),
    (np.float64, None),
    (np.float32, "float16"),
    (np.float32, "bfloat16"),
]
T, B, N_IN, N = 20, 13, 40, 70
# one neuron; not a vector (5); a vector (16); not dividing N (24: 3 blocks, the last 22
# wide; 33); two vectors and a 6-wide tail (64); the whole row (70)
WIDTHS = [1, 5, 16, 24, 33, 64, N]


@pytest.fixture(autouse=True)
def _restore():
    if not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")
    yield
    native.set_block()
    native.set_threads(None)


def _case(kind, dtype, storage):
    """Input spikes, weights (the 16-bit copy where storage says so), per-neuron constants
    (the blocks read their own columns of them), previous-layer active keys."""
    rng = np.random.default_rng(3)
    x = layer_input(rng, T, B, N_IN, p=0.2)
    w = rng.normal(0.3, 0.6, (N_IN, N)).astype(dtype)
    w = w if storage is None else to_half(w, storage)
    args = tuple(
        1.0 if name == "theta" else rng.uniform(0.5, 1.0, N).astype(dtype)
        for name in kind.FORWARD_ARGS
    )
    prev_idx = np.flatnonzero(rng.random(T * B * N_IN) < 0.1).astype(np.int32)
    prev = ActiveSet(prev_idx, np.ones(prev_idx.size, dtype))
    return x, w, args, prev


def _run(kind, x, w, args, prev, g=None, twin=False):
    """Forward (b_th 0.4) then backward with g (random when None): keys, active keys and
    values, dW, dx, and dW without dx."""
    ops = kind.OPS[False]
    fns = kind_twin.twin_ops(kind) if twin else vars(nat)
    keys, act = fns[ops.forward_sparse_spikes](x.indptr, x.indices, w, *args, 100.0, 0.4, (T, B))
    if g is None:
        g = np.random.default_rng(4).normal(0, 1, act.idx.size).astype(act.sp.dtype)
    adj = args[: len(kind.ADJOINT_ARGS)]
    dw, dx = fns[ops.backward_sparse](g, act, x, w, *adj, prev, (T, B, N))
    dw_only, _ = fns[ops.backward_sparse](g, act, x, w, *adj, None, (T, B, N))
    return [keys, act.idx, act.sp, dw, dx, dw_only], g


@pytest.mark.parametrize("storage", STORAGES, ids=lambda s: s[1] or np.dtype(s[0]).name)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAME)
def test_blocks_and_threads_do_not_change_the_bits(kind, storage):
    x, w, args, prev = _case(kind, *storage)
    native.set_block(kib=0)  # unblocked: the kernel of before
    want, g = _run(kind, x, w, args, prev)
    assert 0 < want[0].size < T * B * N and want[1].size > 0  # spikes, active entries
    assert np.any(want[3] != 0) and np.any(want[4] != 0)
    twin, _ = _run(kind, x, w, args, prev, g, twin=True)
    for a, b in zip(want[:3], twin[:3], strict=True):
        np.testing.assert_array_equal(a, b)  # the forward: the twin's bits
    for threads in (1, 2):
        native.set_threads(threads)
        for width in WIDTHS:
            native.set_block(width=width)
            got, _ = _run(kind, x, w, args, prev, g)
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"width {width}, {threads} threads")


def test_a_recurrent_layer_is_one_block():
    """A recurrent step needs all of its spikes: a width does not change its results."""
    x, w, args, _ = _case(neurons.lif, np.float64, None)
    r = np.random.default_rng(5).normal(0, 0.5, (N, N))
    outs = []
    for width in (None, 16):
        native.set_block(width=width)
        keys, act = nat.rlif_forward_sparse_spikes(
            x.indptr, x.indices, w, r, *args, 100.0, 0.4, (T, B)
        )
        outs.append([keys, act.idx, act.sp])
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_width_fits_the_budget():
    native.set_block(kib=256)  # F-MNIST's W1 (784 x 200 float32) and 32 samples of state
    col = 784 * 4 + 2 * 32 * 4
    wd = blocks.width(200, col, 16)
    assert wd % 16 == 0 and wd * col <= 256 * 1024 and wd < 200
    assert blocks.width(200, 200 * 4, 16) == 200  # W2 fits: one block
    assert block_width(200, 784, 4, 256, "sg_forward_chunks", np.float32) < 200
    assert blocks.width(200, 10**9, 8) == 8  # at least one vector
    native.set_block(kib=0)
    assert blocks.width(200, col, 16) == 200
    native.set_block(width=24)
    assert blocks.width(200, col, 16) == 24 and blocks.width(10, col, 16) == 10


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: native.set_block(kib=-1), "set_block kib must be a non-negative integer"),
        (lambda: native.set_block(width=0), "set_block width must be a positive integer"),
        (lambda: native.set_block(kib=4, width=4), "kib or width, not both"),
    ],
)
def test_bad_settings_are_one_clear_error(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_the_environment_sets_the_budget(monkeypatch):
    blocks._default_kib.cache_clear()
    try:
        monkeypatch.delenv(blocks.ENV, raising=False)
        assert blocks.width(200, 784 * 4, 16) == 200  # unset: never block
        blocks._default_kib.cache_clear()
        monkeypatch.setenv(blocks.ENV, "64")
        assert blocks.width(200, 784 * 4, 16) == 16
        monkeypatch.setenv(blocks.ENV, "lots")
        blocks._default_kib.cache_clear()
        with pytest.raises(ConfigError, match="SPIKEGRAD_BLOCK_KIB"):
            blocks.width(200, 784 * 4, 16)
    finally:
        monkeypatch.undo()
        blocks._default_kib.cache_clear()
