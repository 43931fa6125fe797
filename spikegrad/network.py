"""The spiking network: parameters, forward, and loss with dense or sparse gradients.

The math is ALGORITHM.md §1-4; each step calls a registered op, so the same code runs on the
NumPy and CuPy backends. Internally everything is time-major (T, B, N).

Modes of :meth:`Network.loss_and_grad`:

* ``"dense"``: plain BPTT over full (T, B, N) tensors with BLAS products (reference and
  baseline). It keeps the input of every layer as a dense float matrix and the masked
  surrogate of every layer for the backward.
* ``"sparse"``: S3GD. The forward keeps only each layer's active set (flat indices and
  sigma' there) and spikes as CSR events; delta exists only on the active set and the
  gradient to the previous layer is evaluated only at that layer's active entries.

Both compute the same gradients (band-truncated surrogate, detached reset) to float rounding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .backend import Array, Backend, Timer, call, get_backend, to_numpy
from .checks import check_choice, check_float, check_reg_values, check_seed, check_sizes
from .errors import ConfigError, InputError, ShapeError
from .loss import RegParams, spike_count_reg
from .ops.readout import (
    READOUTS,
    cross_entropy,
    readout_filter_backward,
    readout_scores,
    readout_scores_backward,
)
from .ops.surrogate import ActiveSet, sigma_prime_masked
from .spikes import SpikeEvents, SpikeMatrix, as_spike_matrix, spike_matrix_from_keys

ALPHA = math.exp(-0.1)  # dt = 1 ms, tau = 10 ms: the paper's F-MNIST / N-MNIST setting
MODES = ("dense", "sparse")
INITS = ("uniform", "normal")


@dataclass
class _LayerTape:
    """What the forward keeps of one hidden layer for the backward."""

    x: Any  # sparse: SpikeMatrix of the layer input; dense: (T*B, N_in) float
    act: ActiveSet | None = None  # sparse mode
    sp: Array | None = None  # dense mode: masked sigma' (T, B, N)
    counts: Array | None = None  # (B, N) spike counts, only with the regulariser
    n_active: int | Array = 0  # dense mode on CuPy: a 0-d device array (read when asked)
    n_spikes: int = 0


@dataclass
class _Tape:
    layers: list[_LayerTape] = field(default_factory=list)
    s_last: Any = None  # readout input: SpikeMatrix (sparse) or (T*B, N_L) float (dense)
    arg: Array | None = None  # readout arg-max time (B, K) for readout="max"

    def nbytes(self) -> int:
        seen: dict[int, int] = {}
        for a in self._arrays():
            seen[id(a)] = int(a.nbytes)
        return sum(seen.values())

    def _arrays(self):
        for lt in self.layers:
            yield from _leaves(lt.x)
            if lt.act is not None:
                yield from (lt.act.idx, lt.act.sp)
            yield from (a for a in (lt.sp, lt.counts) if a is not None)
        yield from _leaves(self.s_last)
        if self.arg is not None:
            yield self.arg


def _leaves(x: Any):
    if isinstance(x, SpikeMatrix):
        yield from (x.indices, x.indptr)
    elif x is not None:
        yield x


class Network:
    """Feed-forward LIF layers and a leaky readout (ALGORITHM.md §1-2).

    Parameters
    ----------
    sizes: [N0, N1, ..., NL, K]: inputs, L >= 1 hidden layers, classes.
    alpha, alpha_out: membrane and readout decay per step (exp(-dt/tau)).
    threshold: theta. b_th: half-width of the active band |V - theta| < b_th (inf: dense
    surrogate). surrogate_scale: beta_s. readout: "max" | "sum" | "last".
    reg: None or dict of RegParams keys (lambda_up, f_up, p_up, lambda_low, f_low).
    init: "uniform" (U(+-1/sqrt(fan_in))) or "normal" (N(0, (20 (1 - alpha)/sqrt(fan_in))^2)).
    dtype: "float32" or "float64". backend: "numpy", "cupy" or "auto". seed: init seed.
    """

    def __init__(
        self,
        sizes: list[int],
        alpha: float = ALPHA,
        alpha_out: float = ALPHA,
        threshold: float = 1.0,
        b_th: float = 0.2,
        surrogate_scale: float = 100.0,
        readout: str = "max",
        reg: dict[str, float] | RegParams | None = None,
        init: str = "uniform",
        dtype: str = "float32",
        backend: str = "numpy",
        seed: int = 0,
    ) -> None:
        sizes = list(check_sizes("sizes", sizes, 3, "[784, 200, 10]"))
        alpha = check_float("alpha", alpha, 0, 1)
        alpha_out = check_float("alpha_out", alpha_out, 0, 1, hi_open=True)
        b_th = check_float("b_th", b_th, 0, lo_open=True, inf_ok=True)
        threshold = check_float("threshold", threshold, 0, lo_open=True)
        surrogate_scale = check_float("surrogate_scale", surrogate_scale, 0)
        check_choice("readout", readout, READOUTS)
        check_choice("init", init, INITS)
        check_choice("dtype", dtype, ("float32", "float64"))
        seed = check_seed("seed", seed)
        self.sizes = sizes
        self.alpha, self.alpha_out = float(alpha), float(alpha_out)
        self.threshold, self.b_th, self.beta_s = (
            float(threshold),
            float(b_th),
            float(surrogate_scale),
        )
        self.readout, self.init, self.seed = readout, init, int(seed)
        self.reg = RegParams.from_dict(
            reg if not isinstance(reg, dict) else check_reg_values("reg", reg)
        )
        self.dtype = np.dtype(dtype)
        self.backend: Backend = get_backend(backend)
        self._params: dict[str, Array] = {}
        self.params = self._init_params(np.random.default_rng(seed))

    # ----------------------------------------------------------------- parameters
    @property
    def n_hidden(self) -> int:
        return len(self.sizes) - 2

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        """Names and shapes: W1..WL (N_{l-1}, N_l) and W_out (N_L, K)."""
        s = self.sizes
        shapes = {f"W{l}": (s[l - 1], s[l]) for l in range(1, len(s) - 1)}
        shapes["W_out"] = (s[-2], s[-1])
        return shapes

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out = {}
        for k, (fan_in, n) in self.param_shapes().items():
            if self.init == "uniform":
                bound = 1 / math.sqrt(fan_in)
                out[k] = rng.uniform(-bound, bound, size=(fan_in, n))
            else:
                out[k] = rng.normal(0.0, 20 * (1 - self.alpha) / math.sqrt(fan_in), (fan_in, n))
        return out

    @property
    def params(self) -> dict[str, Array]:
        """The parameter dict (arrays on the backend); entries may be replaced."""
        return self._params

    @params.setter
    def params(self, new: dict[str, Any]) -> None:
        shapes = self.param_shapes()
        if set(new) != set(shapes):
            raise ShapeError(f"params must have keys {sorted(shapes)}; got {sorted(new)}")
        self._params.clear()
        for k, shape in shapes.items():
            a = self.backend.asarray(new[k], dtype=self.dtype)
            if a.shape != shape:
                raise ShapeError(f"params[{k!r}] must have shape {shape}; got {a.shape}")
            self._params[k] = a

    # ----------------------------------------------------------------- model files
    def save(self, path: str | Path) -> Path:
        """Write the model (no optimiser state) to one versioned file (spikegrad.modelfile)."""
        from . import modelfile

        return modelfile.save(self, path)

    @classmethod
    def load(cls, path: str | Path, backend: str = "numpy") -> Network:
        """A network from a file written by :meth:`save`, on ``backend``."""
        from . import modelfile

        return modelfile.load(path, backend)

    # -------------------------------------------------------------------- forward
    def _weights(self) -> list[Array]:
        return [self._params[f"W{l}"] for l in range(1, self.n_hidden + 1)]

    def _run(
        self, x: Any, mode: str | None, spikes_out: list | None = None
    ) -> tuple[Array, _Tape, tuple[int, int]]:
        """Forward pass; ``mode`` None records nothing, else what ``mode``'s backward needs.
        Each hidden layer's SpikeMatrix is appended to ``spikes_out`` when given."""
        xp, dt = self.backend.xp, self.dtype
        xs = as_spike_matrix(xp, x, self.sizes[0])
        T, B = xs.T, xs.B
        tape = _Tape()
        inp: SpikeMatrix = xs
        inp_dense = xs.dense_rows(dt) if mode == "dense" else None
        for w in self._weights():
            N = w.shape[1]
            if mode != "dense":  # h = x W inside the scan, never stored (lif.cu)
                b_th = self.b_th if mode == "sparse" else 0.0  # forward only: no active set
                p = (self.alpha, self.threshold, self.beta_s, b_th)
                keys, act = call(
                    "lif_forward_sparse_spikes", inp.indptr, inp.indices, w, *p, (T, B)
                )
            else:
                h = xp.ascontiguousarray((inp_dense @ w).reshape(T, B, N), dtype=dt)
                s = call("lif_forward", h, self.alpha, self.threshold)  # h now holds V
                keys = xp.flatnonzero(s)
            out = spike_matrix_from_keys(xp, keys, T, B, N)
            if spikes_out is not None:
                spikes_out.append(out)
            if mode is not None:
                lt = _LayerTape(x=inp_dense if mode == "dense" else inp, n_spikes=out.nnz)
                if mode == "sparse":
                    lt.act = act
                    lt.n_active = int(act.idx.size)
                else:
                    lt.sp = sigma_prime_masked(h, self.threshold, self.beta_s, self.b_th)
                    lt.n_active = xp.count_nonzero(lt.sp)
                if self.reg is not None:
                    lt.counts = out.counts()
                tape.layers.append(lt)
            inp = out
            inp_dense = s.reshape(T * B, N).astype(dt) if mode == "dense" else None
        w_out = self._params["W_out"]
        hr = (inp_dense @ w_out if mode == "dense" else inp.matmul(w_out)).reshape(T, B, -1)
        u = call(
            "leaky_scan", xp.ascontiguousarray(hr, dtype=dt), self.alpha_out, 1 - self.alpha_out
        )
        m, tape.arg = readout_scores(u, self.readout)
        tape.s_last = inp_dense if mode == "dense" else inp
        return m, tape, (T, B)

    def forward(self, x: Any) -> Array:
        """Class scores on the backend.

        Shapes: x (B, T, N0) 0/1, SpikeEvents or SpikeMatrix -> (B, K)."""
        return self._run(x, None)[0]

    def hidden_spikes(self, x: Any) -> list[SpikeEvents]:
        """Spikes of every hidden layer, as events on the host. Shapes: -> [(B, T, N_l)]."""
        layers: list[SpikeMatrix] = []
        self._run(x, None, layers)
        out = []
        for s in layers:
            tb = to_numpy(s.rows())
            out.append(SpikeEvents(tb % s.B, tb // s.B, to_numpy(s.indices), (s.B, s.T, s.N)))
        return out

    def predict(self, x: Any) -> np.ndarray:
        """Predicted class per sample, on the host. Shapes: -> (B,) int."""
        return to_numpy(self.forward(x).argmax(axis=1))

    # ------------------------------------------------------------------- gradient
    def _labels(self, y: Any, B: int) -> Array:
        K = self.sizes[-1]
        yh = np.asarray(to_numpy(y))
        if yh.shape != (B,):
            raise ShapeError(f"y must have shape ({B},); got {yh.shape}")
        if yh.size and not np.issubdtype(yh.dtype, np.integer):
            raise InputError(
                f"y must hold integer labels in 0..{K - 1}; got dtype {yh.dtype} "
                f"(y[0] = {yh[0].item()!r})"
            )
        if yh.size:
            bad = np.flatnonzero((yh < 0) | (yh >= K))
            if bad.size:
                raise InputError(
                    f"y must hold integer labels in 0..{K - 1}; got y[{bad[0]}] = {yh[bad[0]]}"
                )
        return self.backend.asarray(yh.astype(np.int64))

    def loss_and_grad(
        self, x: Any, y: Any, mode: str = "sparse", timing: bool = False
    ) -> tuple[Array, dict[str, Array], StepStats]:
        """Loss, gradients of every parameter, and statistics of the step.

        Nothing here waits for the device beyond what sizes the sparse data (one read per
        hidden layer): the loss stays on the backend (a NumPy scalar or a 0-d CuPy array;
        ``float(loss)`` reads it) and the stats read device values only when asked.
        ``timing=True`` measures forward_s and backward_s (CUDA events on CuPy).

        Shapes: x (B, T, N0) 0/1, SpikeEvents or SpikeMatrix; y (B,) int. loss ().
        grads: same keys and shapes as params. stats: see :class:`StepStats`.
        """
        if mode not in MODES:
            raise ConfigError(f"mode must be 'dense' or 'sparse'; got {mode!r}")
        xp = self.backend.xp
        timer = Timer(xp) if timing else None
        if timer is not None:
            timer.mark()
        m, tape, (T, B) = self._run(x, mode)
        yd = self._labels(y, B)
        ce, dm = cross_entropy(m, yd)
        loss = ce
        gregs = []
        for lt in tape.layers:
            if self.reg is not None:
                lr, g = spike_count_reg(lt.counts, self.reg, self.dtype)
                loss = loss + lr
                gregs.append(g)
            else:
                gregs.append(None)
        if timer is not None:
            timer.mark()
        grads = self._backward(tape, dm, gregs, mode, T, B)
        if timer is not None:
            timer.mark()
        stats = StepStats(
            xp,
            n_active=[lt.n_active for lt in tape.layers],
            n_spikes=[lt.n_spikes for lt in tape.layers],
            sizes=[T * B * n for n in self.sizes[1:-1]],
            ce=ce,
            loss=loss,
            timer=timer,
            retained_bytes=tape.nbytes(),
            scores=m,
            b_th=self.b_th,
        )
        return loss, grads, stats

    def _backward(
        self, tape: _Tape, dm: Array, gregs: list, mode: str, T: int, B: int
    ) -> dict[str, Array]:
        ar = self.alpha_out
        w_out = self._params["W_out"]
        du = readout_scores_backward(dm, tape.arg, self.readout, T)
        readout_filter_backward(du, ar)
        dhr = du[1:].reshape(T * B, -1) * dm.dtype.type(1 - ar)  # dL/d(S^L W_out)
        grads: dict[str, Array] = {}
        weights = self._weights()
        L = len(weights)
        n_last = self.sizes[-2]
        if mode == "dense":
            grads["W_out"] = tape.s_last.T @ dhr
            g = (dhr @ w_out.T).reshape(T, B, n_last)
        else:
            grads["W_out"] = tape.s_last.tmatmul(dhr)
            idx = tape.layers[-1].act.idx
            g = call("gather_rowdot", dhr, idx // n_last, w_out, idx % n_last)
        for l in range(L, 0, -1):
            lt, w = tape.layers[l - 1], weights[l - 1]
            N = w.shape[1]
            if mode == "dense":
                if gregs[l - 1] is not None:
                    g = g + gregs[l - 1][None]
                dw, g = call("lif_backward_dense", g, lt.sp, lt.x, w, self.alpha, l > 1)
            else:
                if gregs[l - 1] is not None:
                    idx = lt.act.idx
                    g = g + gregs[l - 1].reshape(-1)[(idx // N) % B * N + idx % N]
                prev = tape.layers[l - 2].act if l > 1 else None
                dw, g = call("lif_backward_sparse", g, lt.act, lt.x, w, self.alpha, prev, (T, B, N))
            grads[f"W{l}"] = dw
        return {k: grads[k] for k in self.param_shapes()}


class StepStats(Mapping):
    """Statistics of one :meth:`Network.loss_and_grad` call, read from the device when asked.

    Keys: active_fraction, spike_rate, n_active (lists over hidden layers), loss_ce,
    loss_reg (floats), forward_s, backward_s (seconds; None without ``timing=True``),
    retained_bytes, scores (B, K) on the backend. Values known on the host cost nothing; the
    dense mode's active counts on CuPy (all layers at once), the two loss terms and the
    timings are each one read of the device, on first access. A layer without active
    entries warns once its count is known (at once in sparse mode and on NumPy).
    """

    KEYS = (
        "active_fraction",
        "spike_rate",
        "n_active",
        "loss_ce",
        "loss_reg",
        "forward_s",
        "backward_s",
        "retained_bytes",
        "scores",
    )

    def __init__(
        self,
        xp: ModuleType,
        n_active: list[int | Array],
        n_spikes: list[int],
        sizes: list[int],
        ce: Array,
        loss: Array,
        timer: Timer | None,
        retained_bytes: int,
        scores: Array,
        b_th: float,
    ) -> None:
        self._xp, self._n_active, self._sizes = xp, n_active, sizes
        self._ce, self._loss, self._timer, self._b_th = ce, loss, timer, b_th
        self._values: dict[str, Any] = {
            "spike_rate": [n / d for n, d in zip(n_spikes, sizes, strict=True)],
            "retained_bytes": retained_bytes,
            "scores": scores,
        }
        if timer is None:
            self._values.update(forward_s=None, backward_s=None)
        if all(isinstance(n, (int, np.integer)) for n in n_active):  # known on the host
            self._set_active([int(n) for n in n_active], stacklevel=4)

    def active_counts(self) -> Array:
        """Active entries per hidden layer, on the backend, without reading the device.

        Shapes: -> (L,) int64.
        """
        xp = self._xp
        return xp.stack([xp.asarray(n, dtype=xp.int64) for n in self._n_active])

    def active_fraction_on_device(self) -> Array:
        """``active_fraction`` on the backend, without reading the device. Shapes: -> (L,)."""
        xp = self._xp
        sizes = xp.asarray(self._sizes, dtype=xp.float64)
        return self.active_counts().astype(xp.float64) / sizes

    def _set_active(self, counts: list[int], stacklevel: int) -> None:
        for l, n in enumerate(counts, start=1):
            if n == 0:
                warnings.warn(
                    f"layer {l} has no active neuron (|V - theta| < {self._b_th} nowhere): "
                    "its weights get zero gradient",
                    RuntimeWarning,
                    stacklevel=stacklevel,
                )
        self._values["n_active"] = counts
        self._values["active_fraction"] = [n / d for n, d in zip(counts, self._sizes, strict=True)]

    def _read(self, key: str) -> None:
        xp = self._xp
        if key in ("n_active", "active_fraction"):
            self._set_active([int(n) for n in self.active_counts().tolist()], stacklevel=4)
        elif key in ("loss_ce", "loss_reg"):
            both = xp.stack([xp.asarray(v, dtype=xp.float64) for v in (self._ce, self._loss)])
            ce, loss = (float(v) for v in both.tolist())
            self._values.update(loss_ce=ce, loss_reg=loss - ce)
        elif key in ("forward_s", "backward_s") and self._timer is not None:
            fwd, bwd = self._timer.intervals()
            self._values.update(forward_s=fwd, backward_s=bwd)

    def __getitem__(self, key: str) -> Any:
        if key not in self.KEYS:
            raise KeyError(key)
        if key not in self._values:
            self._read(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(self.KEYS)

    def __len__(self) -> int:
        return len(self.KEYS)

    def __repr__(self) -> str:
        known = ", ".join(f"{k}={v!r}" for k, v in self._values.items() if k != "scores")
        return f"StepStats({known}; the rest is read from the device when asked)"
