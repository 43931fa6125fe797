"""Small builders shared by the tests."""

from __future__ import annotations

import types

import numpy as np

import spikegrad as sg

# rel. tolerances, chosen as follows:
# - "f64": sparse vs dense and engine vs reference in float64. The issue fixes 1e-9; observed
#   differences are ~1e-14 (only summation order differs).
# - "f32": float32 engine vs float64 reference: ~1e2 x float32 epsilon of accumulated rounding.
# - "fd": central finite differences (h = 1e-6) of the smooth stand-in: O(h^2) truncation and
#   O(eps/h) rounding give ~1e-8; 1e-5 leaves margin for kinks near but not at a max/ReLU corner.
TOL = {"f64": 1e-9, "f32": 1e-4, "fd": 1e-5}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


REG = {"lambda_up": 0.06, "f_up": 0.5, "p_up": 1.0, "lambda_low": 100.0, "f_low": 1e-3}


def spikes(rng, B, T, N, p=0.2):
    return (rng.random((B, T, N)) < p).astype(np.uint8)


def active_net(sizes, seed=0, gain=1.2, **kw) -> sg.Network:
    """A float64 network whose weights drive every layer near threshold (so it is active)."""
    net = sg.Network(sizes, dtype="float64", seed=seed, **kw)
    rng = np.random.default_rng(seed + 7)
    net.params = {
        k: rng.normal(0.3 / np.sqrt(shape[0]), gain / np.sqrt(shape[0]), shape)
        for k, shape in net.param_shapes().items()
    }
    return net


def ref_params(net):
    """The reference's settings, hidden and readout weights of ``net`` (see ref_rs for R)."""
    p = {
        "alpha": list(net.alphas),
        "alpha_out": net.alpha_out,
        "theta": net.threshold,
        "readout": net.readout,
    }
    Ws = [np.asarray(net.params[f"W{l}"]) for l in range(1, net.n_hidden + 1)]
    return p, Ws, np.asarray(net.params["W_out"])


def ref_rs(net):
    """The recurrent weights of ``net`` per hidden layer (None for a feed-forward layer)."""
    return [
        np.asarray(net.params[f"R{l}"]) if rec else None
        for l, rec in enumerate(net.recurrent, start=1)
    ]


def subnormal_cases(dtype) -> tuple[np.ndarray, float]:
    """Inputs of a reverse scan (T', 6) whose steps produce subnormals three ways: by decay
    (columns 0, 1), by cancellation of two normal numbers (2), from subnormal inputs (3);
    column 4 stays normal, column 5 is all zero. Returns e and alpha = 0.1."""
    f = np.dtype(dtype).type
    tiny = np.finfo(dtype).tiny
    n_t = 420  # 0.1**k underflows after ~38 (float32) and ~308 (float64) steps
    e = np.zeros((n_t, 6), dtype=dtype)
    e[-1, :2] = [1.0, -3.0]
    e[:, 4] = 0.5
    e[n_t // 2 :: 7, 2] = f(12 * tiny)  # the next step: -1.1 tiny + 0.1 * 12 tiny ~ 0.1 tiny
    e[n_t // 2 - 1 :: 7, 2] = f(-1.1 * tiny)
    e[::5, 3] = f(tiny / 8)
    return e, 0.1


def spiking_net(
    readout: str = "sum",
    reg: dict | None = None,
    dtype: str = "float64",
    sizes=(12, 9, 7, 3),
    recurrent: bool | list[bool] = False,
    alpha: float | list = 0.9,
) -> sg.Network:
    """A small network whose weights (x4) make every layer spike (the benchmarks' tests)."""
    net = sg.Network(
        list(sizes), readout=readout, reg=reg, dtype=dtype, seed=3, alpha=alpha, recurrent=recurrent
    )
    net.params = {k: v * 4.0 for k, v in net.params.items()}
    return net


def dense_events(B: int, T: int, N: int, seed: int = 0) -> tuple[sg.SpikeEvents, np.ndarray]:
    """Events at 30 % density and labels in 0..2. Shapes: -> events (B, T, N), labels (B,)."""
    rng = np.random.default_rng(seed)
    b, t, i = np.nonzero(rng.random((B, T, N)) < 0.3)
    return sg.SpikeEvents(b, t, i, (B, T, N)), rng.integers(0, 3, B)


def alpha_values(rng, kind: str, scalar: float, n: int):
    """``scalar``, or for kind "per-neuron" n values in [0.5, 1) with the first two set to
    1 and 0 (the ends of the allowed range)."""
    if kind == "scalar":
        return scalar
    a = rng.uniform(0.5, 1.0, n)
    a[: min(n, 2)] = [1.0, 0.0][: min(n, 2)]
    return a


def spike_csr(rng, rows: int, cols: int, p: float):
    """Random 0/1 spikes with one empty row: CSR (indptr int32, indices int32) and dense."""
    dense = rng.random((rows, cols)) < p
    dense[rows // 2] = False  # an empty row
    r, c = np.nonzero(dense)
    indptr = np.searchsorted(r, np.arange(rows + 1)).astype(np.int32)
    return indptr, c.astype(np.int32), dense


def layer_input(rng, T, B, n_in, p=0.12) -> sg.SpikeMatrix:
    """Random input spikes of one layer. Shapes: -> SpikeMatrix (T * B, n_in)."""
    indptr, indices, _ = spike_csr(rng, T * B, n_in, p)
    return sg.SpikeMatrix(indptr, indices, T, B, n_in)


def native_ops() -> types.SimpleNamespace:
    """Every op's native C wrapper (registered for "native"), by op name."""
    reg = sg.backend._REGISTRY
    return types.SimpleNamespace(**{op: fn for (op, be), fn in reg.items() if be == "native"})
