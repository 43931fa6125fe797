"""16-bit weight copies (weight_dtype float16 / bfloat16; spikegrad/ops/half): the
conversions, the network on the copy against a float32 network on the copy's values, the
native kernels against the twins on the same copy, the precision of the kernels against
float32 on one tape, the refresh after every update, what checkpoints keep, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import layer_input, native_ops

import spikegrad as sg
from spikegrad import native
from spikegrad.errors import BadValueError, ConfigError
from spikegrad.ops import kind_twin, spmm
from spikegrad.ops.half import compute_dtype, to_half, widen
from spikegrad.ops.lif import twin as lif_twin
from spikegrad.ops.readout import cross_entropy
from spikegrad.ops.surrogate import ActiveSet

HALVES = ["float16", "bfloat16"]
SIZES = [60, 40, 36, 5]


# ------------------------------------------------------------------------ conversions
def test_bfloat16_rounds_to_nearest_even():
    bits = np.array(
        [0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7F7FFFFF, 0xFF800000, 0x80000001],
        dtype=np.uint32,
    )
    got = to_half(bits.view(np.float32), "bfloat16")
    # ties to even (down, up), above and below the tie, overflow to inf, -inf, -tiny to -0
    want = [0x3F80, 0x3F82, 0x3F81, 0x3F80, 0x7F80, 0xFF80, 0x8000]
    assert got.dtype == np.uint16 and got.tolist() == want
    nan = to_half(np.array([np.nan, -np.nan], dtype=np.float32), "bfloat16")
    assert np.isnan(widen(nan)).all()


@pytest.mark.parametrize("wd", HALVES)
def test_widen_is_exact(wd):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=5000) * 10.0 ** rng.integers(-6, 5, 5000)).astype(np.float32)
    h = to_half(a, wd)
    w = widen(h)
    assert w.dtype == np.float32 and compute_dtype(h) == np.float32
    assert np.array_equal(to_half(w, wd), h)  # each 16-bit value is a float32
    err = np.abs(w - a) / np.abs(a)
    assert err[np.abs(a) > 1e-4].max() <= {"float16": 2.0**-11, "bfloat16": 2.0**-8}[wd]
    if wd == "float16":
        assert np.array_equal(h, a.astype(np.float16))


# --------------------------------------------------------------- network on the copy
def _inputs(B=6, T=40, n=SIZES[0], seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((B, T, n)) < 0.08), rng.integers(0, SIZES[-1], B)


def _pair(wd: str, **kw):
    """A network reading a 16-bit copy and a float32 one whose params are the copy's values."""
    net = sg.Network(SIZES, seed=4, weight_dtype=wd, **kw)
    net.params = {k: v * 2.5 for k, v in net.params.items()}  # active and spiking layers
    ref = sg.Network(SIZES, seed=4, **kw)
    ref.params = {k: widen(w) for k, w in net.weights.items()}
    return net, ref


@pytest.mark.parametrize("wd", HALVES)
@pytest.mark.parametrize("neuron", ["lif", "cuba", "alif"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_copy_equals_float32_on_its_values(cpu_kernels, wd, neuron, recurrent):
    """The copy's path computes the float32 network's arithmetic on the copy's values: the
    same bits in both modes (forward, loss, every gradient), native and NumPy."""
    net, ref = _pair(wd, neuron=neuron, recurrent=recurrent)
    assert {w.dtype for w in net.weights.values()} == {to_half(np.zeros(1), wd).dtype}
    x, y = _inputs()
    assert np.array_equal(net.forward(x), ref.forward(x))
    for mode in ("sparse", "dense"):
        loss, grads, stats = net.loss_and_grad(x, y, mode=mode)
        loss_r, grads_r, _ = ref.loss_and_grad(x, y, mode=mode)
        assert min(stats["n_active"]) > 0 and min(stats["spike_rate"]) > 0
        assert float(loss) == float(loss_r)
        for k, g in grads.items():
            assert g.dtype == np.float32 and np.array_equal(g, grads_r[k]), (mode, k)


@pytest.mark.parametrize("wd", HALVES)
def test_kernel_precision_against_float32(wd):
    """On one tape (the float32 forward's), the backward reading the copy gives every
    gradient within 1e-2 (norm-wise) of float32's; the input products within 2^-8."""
    net32 = sg.Network(SIZES, seed=4, recurrent=[True, False])
    net32.params = {k: v * 2.5 for k, v in net32.params.items()}
    half = sg.Network(SIZES, seed=4, recurrent=[True, False], weight_dtype=wd)
    half.params = net32.params
    x, y = _inputs(B=16, T=60)
    for mode in ("sparse", "dense"):
        m, tape, (T, B) = net32._run(x, mode)
        _, dm = cross_entropy(m, net32._labels(y, B))
        gregs = [None] * net32.n_hidden
        g32 = net32._backward(tape, dm, gregs, T)
        g16 = half._backward(tape, dm, gregs, T)
        for k in g32:
            err = np.linalg.norm(g16[k] - g32[k]) / np.linalg.norm(g32[k])
            assert 0 < err < 1e-2 or k == "W_out", (mode, k, err)  # W_out's reads no weight
    xs = sg.spikes.as_spike_matrix(np, x, SIZES[0])
    h32, h16 = xs.matmul(net32.params["W1"]), xs.matmul(half.weights["W1"])
    assert 0 < np.linalg.norm(h16 - h32) / np.linalg.norm(h32) < 2.0**-8


# ----------------------------------------------------------- native against the twins
nat = native_ops()


@pytest.fixture
def calls(monkeypatch):
    """The (name, dtype, weights dtype) of every native function looked up."""
    seen = []
    real = native.function

    def spy(name, dtype=None, weights=None):
        seen.append((name, dtype and np.dtype(dtype), weights and np.dtype(weights)))
        return real(name, dtype, weights)

    monkeypatch.setattr(native, "function", spy)
    if not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")
    return seen


@pytest.mark.parametrize("wd", HALVES)
@pytest.mark.parametrize("n", [1, 37, 200])
def test_native_ops_read_the_copy(calls, wd, n):
    """Every weight-reading native op runs its 16-bit instance (not the twin) and gives the
    twin's result on the same copy: the products and the fused forward bit for bit, dot
    products and the fused backward to float32 rounding."""
    rng = np.random.default_rng(n)
    T, B, n_in = 7, 5, 45
    x = layer_input(rng, T, B, n_in, p=0.2)
    w = to_half((rng.normal(size=(n_in, n)) * 1.5).astype(np.float32), wd)
    r = to_half((rng.normal(size=(n, n)) * 0.5).astype(np.float32), wd)
    assert np.array_equal(
        nat.spike_matmul(x.indptr, x.indices, w), spmm.twin.spike_matmul(x.indptr, x.indices, w)
    )
    e = rng.normal(size=(9, n)).astype(np.float32)
    rows, cols = rng.integers(0, 9, 30), rng.integers(0, n_in, 30)
    dots = nat.gather_rowdot(e, rows, w, cols)
    want = lif_twin.gather_rowdot(e, rows, w, cols)
    assert np.allclose(dots, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    args = (0.9, 1.0, 100.0, 1.0, (T, B))
    for rec in (None, r):
        fw = nat.rlif_forward_sparse_spikes if rec is not None else nat.lif_forward_sparse_spikes
        ww = [w] if rec is None else [w, rec]
        keys, act = fw(x.indptr, x.indices, *ww, *args)
        tk, tact = kind_twin.forward_sparse_spikes(
            sg.neurons.lif, x.indptr, x.indices, w, rec, args[:2], *args[2:]
        )
        assert np.array_equal(keys, tk) and np.array_equal(act.idx, tact.idx)
        assert act.sp.dtype == np.float32 and np.array_equal(act.sp, tact.sp)
        assert act.idx.size > 0
        g = rng.normal(size=act.idx.size).astype(np.float32)
        prev = ActiveSet(np.unique(rng.integers(0, T * B * n_in, 40)), None)
        s = sg.spikes.spike_matrix_from_keys(np, keys, T, B, n)
        own = () if rec is None else (s,)
        bw = nat.rlif_backward_sparse if rec is not None else nat.lif_backward_sparse
        got = bw(g, act, x, *own, *ww, 0.9, prev, (T, B, n))
        want = kind_twin.backward_sparse(
            sg.neurons.lif, g, act, x, s if rec is not None else None, w, rec, (0.9,), prev,
            (T, B, n),
        )  # fmt: skip
        want = [v for v in want if v is not None]
        for a, b in zip(got, want, strict=True):
            assert a.dtype == np.float32
            assert np.allclose(a, b, rtol=1e-5, atol=1e-5 * max(np.abs(b).max(), 1e-30))
    names = {name for name, _, weights in calls if weights == w.dtype}
    kernels = {"spike_matmul", "gather_rowdot", "lif_spike_forward", "lif_spike_backward"}
    assert kernels <= names, names


# ------------------------------------------------------------------ refresh and files
@pytest.mark.parametrize("wd", HALVES)
def test_copy_is_refreshed_after_each_update(wd):
    """After every Adam step the network reads the updated master: its loss is the float32
    network's on the rounded new params (a stale copy would give the old loss)."""
    net = sg.Network(SIZES, seed=4, weight_dtype=wd)
    net.params = {k: v * 2.5 for k, v in net.params.items()}
    opt = sg.Adam(net.params, lr=1e-2)
    x, y = _inputs()
    losses = []
    for _ in range(3):
        loss, grads, _ = net.loss_and_grad(x, y)
        losses.append(float(loss))
        opt.step(grads)
        for k, p in net.params.items():
            assert p.dtype == np.float32 and np.array_equal(net.weights[k], to_half(p, wd))
        ref = sg.Network(SIZES, seed=4)
        ref.params = {k: widen(to_half(p, wd)) for k, p in net.params.items()}
        assert float(net.loss_and_grad(x, y)[0]) == float(ref.loss_and_grad(x, y)[0])
    assert len(set(losses)) == 3
    # setting an entry, update() and refresh_weights() after an in-place write
    net.params["W1"] = net.params["W1"] * 2
    assert np.array_equal(net.weights["W1"], to_half(net.params["W1"], wd))
    net.params.update({"W2": net.params["W2"] * 0.5})
    assert np.array_equal(net.weights["W2"], to_half(net.params["W2"], wd))
    net.params["W_out"][:] = 0.25
    net.refresh_weights()
    assert np.array_equal(widen(net.weights["W_out"]), net.params["W_out"])


def test_float32_reads_the_params_themselves():
    net = sg.Network(SIZES)
    assert net.weight_dtype == "float32" and net.weights is net.params


@pytest.mark.parametrize("wd", HALVES)
def test_model_file_keeps_the_float32_master(tmp_path, wd):
    net = sg.Network(SIZES, seed=4, weight_dtype=wd)
    net.params = {k: v * 1.000123 for k, v in net.params.items()}  # not 16-bit values
    path = net.save(tmp_path / "m.npz")
    with np.load(path) as f:
        params = {k: f[k] for k in f.files if k.startswith("param.")}
    assert set(params) == {f"param.{k}" for k in net.params}
    for k, p in net.params.items():
        assert params[f"param.{k}"].dtype == np.float32
        assert np.array_equal(params[f"param.{k}"], p)


def test_bad_weight_dtype_is_one_line():
    with pytest.raises(BadValueError, match="weight_dtype") as exc:
        sg.Network(SIZES, weight_dtype="half")
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="weight_dtype 'bfloat16' needs dtype 'float32'") as exc:
        sg.Network(SIZES, dtype="float64", weight_dtype="bfloat16")
    assert "\n" not in str(exc.value)
    from spikegrad.train.config import TrainConfig

    with pytest.raises(ConfigError, match="weight_dtype 'float16' needs dtype 'float32'"):
        TrainConfig(dtype="float64", weight_dtype="float16")
    with pytest.raises(BadValueError, match="weight_dtype"):
        TrainConfig(weight_dtype="float8")
    net = sg.Network(SIZES, weight_dtype="float16")
    with pytest.raises(ConfigError, match="weight_dtype is fixed"):
        net.weight_dtype = "float32"


@pytest.mark.parametrize("march", [True, False], ids=["native", "portable"])
def test_c_conversions_of_every_16_bit_value(tmp_path, march):
    """core.h's scalar and vector conversions (F16C/AVX-512 with -march=native, the portable
    ones without) give the bits of NumPy's float16 and of the bfloat16 shift for all 65536
    values (every NaN a NaN)."""
    import ctypes
    import shutil
    import subprocess

    from spikegrad.native import build

    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "conv.c"
    src.write_text(
        f'#include "{build.HERE / "core.h"}"\n'
        "void conv(float *h, float *hv, float *b, float *bv) {\n"
        "    uint16_t x[16];\n"
        "    for (uint32_t i = 0; i < 65536; i += 16) {\n"
        "        for (int l = 0; l < 16; ++l) x[l] = (uint16_t)(i + l);\n"
        "        sg_vec_f32 a = sg_fp16_vec(x), c = sg_bf16_vec(x);\n"
        "        memcpy(hv + i, &a, sizeof a);\n"
        "        memcpy(bv + i, &c, sizeof c);\n"
        "        for (int l = 0; l < 16; ++l) h[i + l] = sg_fp16(x[l]), b[i + l] = sg_bf16(x[l]);\n"
        "    }\n"
        "}\n"
    )
    lib = tmp_path / "conv.so"
    flags = ["-O2", "-std=c99", "-fPIC", "-shared", *(["-march=native"] if march else [])]
    subprocess.run([cc, *flags, str(src), "-o", str(lib)], check=True, capture_output=True)
    out = [np.empty(65536, np.float32) for _ in range(4)]
    fn = ctypes.CDLL(str(lib)).conv
    fn.argtypes = [ctypes.c_void_p] * 4
    fn(*(o.ctypes.data for o in out))
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    want_h = bits.view(np.float16).astype(np.float32).view(np.uint32)
    want_b = widen(bits).view(np.uint32)
    for got, want in zip(out, (want_h, want_h, want_b, want_b), strict=True):
        nan = np.isnan(want.view(np.float32))  # F16C quiets a signalling NaN: NaN is enough
        assert nan.sum() >= 254 and np.isnan(got[nan]).all()
        assert np.array_equal(got.view(np.uint32)[~nan], want[~nan])


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 65520 -> inf: correct
@pytest.mark.parametrize("wd", HALVES)
def test_native_copy_is_the_twins(calls, wd):
    """The native half_copy rounds as the twin does (ties, subnormals, overflow, infinities;
    every NaN a NaN), for any length (vector loops and tails)."""
    from spikegrad.ops.half import half_copy

    rng = np.random.default_rng(5)
    a = (rng.normal(size=70001) * 10.0 ** rng.integers(-9, 6, 70001)).astype(np.float32)
    ties = np.arange(0x3F808000, 0x3F808000 + 40 * 0x10000, 0x10000, dtype=np.uint32)
    halfway = np.float32(1 + 2.0**-11) + np.arange(-3, 4, dtype=np.float32) * np.float32(2.0**-23)
    special = [np.inf, -np.inf, np.nan, 0.0, -0.0, 65504, 65520, 65519.99, 1e-8, 3e-8, 6e-8, 1e-45]
    a = np.concatenate([a, ties.view(np.float32), halfway, np.array(special, np.float32)])
    for n in (a.size, 17, 8, 7, 1, 0):
        got, want = nat.half_copy(a[:n], wd), half_copy(a[:n], wd)
        assert got.dtype == want.dtype and got.shape == want.shape
        nan = np.isnan(widen(want))
        assert np.isnan(widen(got)[nan]).all() and np.array_equal(got[~nan], want[~nan])
    assert ("sg_half_copy", None, None) in calls
    net = sg.Network(SIZES, weight_dtype=wd)  # the network's copies go through the native op
    assert ("sg_half_copy", None, None) in calls[-5:]
    assert net.weights["W1"].dtype == to_half(np.zeros(1, np.float32), wd).dtype
