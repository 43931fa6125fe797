"""The spiking network: parameters, forward, and loss with dense or sparse gradients.

The math is ALGORITHM.md §1-4; each step calls a registered op, so the same code runs on the
NumPy and CuPy backends. Internally everything is time-major (T, B, N). The network is a
chain of layer records (:mod:`spikegrad.layers`: hidden layers of a neuron kind
(:mod:`spikegrad.neurons`), each feed-forward or recurrent, then the readout); each layer
holds its own forward and backward per mode, so this module never branches on the mode, the
neuron kind or the recurrence.

Modes of :meth:`Network.loss_and_grad`:

* ``"dense"``: plain BPTT over full (T, B, N) tensors with BLAS products (reference and
  baseline; a recurrent layer adds one S[t] @ R product per step). It keeps the input of
  every layer as a dense float matrix and the masked surrogate of every layer.
* ``"sparse"``: S3GD. The forward keeps only each layer's active set (flat indices and
  sigma' there) and spikes as CSR events; delta exists only on the active set and the
  gradient to the previous layer is evaluated only at that layer's active entries. A
  recurrent layer's term eps[t+1] @ R^T is evaluated only at its active entries too, and
  its own spikes are the next layer's input events (kept anyway).

Both compute the same gradients (band-truncated surrogate, detached reset) to float rounding.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from . import neurons
from .backend import Array, Backend, Timer, get_backend, to_numpy
from .checks import (
    DTYPES,
    MODES,
    WEIGHT_DTYPES,
    _is_list,
    check_alphas,
    check_choice,
    check_int,
    check_per_layer_bools,
    check_reg_values,
    check_seed,
    check_setting,
    check_sizes,
    check_weight_dtype,
)
from .errors import BadValueError, ConfigError, InputError, ShapeError
from .layers import INITS, Hidden, HiddenLayer, Readout, Signal, Tape
from .layers.base import array_leaves, input_signal
from .loss import RegParams, spike_count_reg
from .neurons.lif import ALPHA
from .ops.half import to_half
from .ops.readout import READOUTS, cross_entropy
from .spikes import SpikeEvents, SpikeMatrix, as_spike_matrix


@dataclass
class _Tape:
    """What the forward keeps for the backward: one tape per hidden layer, the readout's
    input and its arg-max times."""

    layers: list[Tape] = field(default_factory=list)
    last: Signal | None = None  # the readout input
    arg: Array | None = None  # readout arg-max time (B, K) for readout="max"

    def nbytes(self) -> int:
        seen: dict[int, int] = {}
        for a in self._arrays():
            seen[id(a)] = int(a.nbytes)
        return sum(seen.values())

    def _arrays(self) -> Iterator[Array]:
        for lt in self.layers:
            yield from lt.arrays()
        yield from array_leaves(self.last.operand)
        if self.arg is not None:
            yield self.arg


class Params(dict):
    """A network's parameter dict: setting an entry (``[k] = ...``, ``update``) or an
    optimiser's update (:meth:`updated`, which :class:`spikegrad.Adam` calls after each step)
    refreshes the network's 16-bit weight copies (:attr:`Network.weights`)."""

    def __init__(self, refresh: Any) -> None:
        super().__init__()
        self._refresh = refresh

    def __setitem__(self, key: str, value: Array) -> None:
        super().__setitem__(key, value)
        self._refresh((key,))

    def update(self, *args: Any, **kwargs: Any) -> None:
        new = dict(*args, **kwargs)
        super().update(new)
        self._refresh(tuple(new))

    def updated(self) -> None:
        """The values changed in place (an optimiser step): refresh every copy."""
        self._refresh(tuple(self))


class Network:
    """Hidden layers of spiking neurons and a leaky readout (ALGORITHM.md §1-2).

    A composition of layer records (:mod:`spikegrad.layers`): ``net.layers`` (one
    :class:`~spikegrad.layers.HiddenLayer` per hidden layer: a neuron kind, feed-forward or
    recurrent) and ``net.readout_layer``. This constructor is the short form (one threshold
    for all layers); :meth:`from_layers` builds a network from
    :class:`~spikegrad.layers.Hidden` records (the same network, the same initial parameters,
    for the same layers).

    Parameters
    ----------
    sizes: [N0, N1, ..., NL, K]: inputs, L >= 1 hidden layers, classes.
    neuron: the neuron kind of every hidden layer, or a list with one per hidden layer:
    "lif", "cuba" (a synaptic current) or "alif" (an adaptive threshold), ALGORITHM.md §8
    (:mod:`spikegrad.neurons`).
    alpha: membrane decay per step (exp(-dt/tau)): one number for every hidden layer, or a
    list with one entry per hidden layer, each a number or an array of N_l numbers (one per
    neuron, e.g. from :func:`spikegrad.neurons.lif.heterogeneous_alpha`); all in [0, 1].
    alpha_syn: the synaptic current's decay of the "cuba" layers (default exp(-1/5): tau_syn
    5 ms at dt 1 ms, the SHD paper's model). alpha_adapt: the adaptation's decay rho of the
    "alif" layers (default exp(-1/200): tau_adapt 200 ms, LSNN's); beta_adapt: its strength
    (default 1.8, LSNN's; 0 is LIF). Each None (the default), one number for every layer of
    the kinds that have it, or a list with one entry per hidden layer (a number or an (N_l,)
    array; None for the layers of kinds without it).
    alpha_out: readout decay per step.
    recurrent: False, True or a list of bools per hidden layer; a recurrent layer l adds the
    parameter "R{l}" (N_l, N_l).
    threshold: theta. b_th: half-width of the active band |V - theta| < b_th (ALIF: |V - A|;
    inf: dense surrogate). surrogate_scale: beta_s. readout: "max" | "sum" | "last".
    reg: None or dict of RegParams keys (lambda_up, f_up, p_up, lambda_low, f_low).
    init: "uniform" (U(+-1/sqrt(fan_in))) or "normal" (N(0, (20 (1 - alpha_j)/sqrt(fan_in))^2)
    for column j, alpha_j the receiving neuron's decay). R{l} uses the same scheme with
    fan_in = N_l; W_out uses the last hidden layer's alpha (its mean when per neuron).
    Parameter order (init draws, checkpoints): W1, R1 (if recurrent), W2, ..., W_out.
    dtype: "float32" or "float64". backend: "numpy", "cupy" or "auto". seed: init seed.
    weight_dtype: "float32" (the kernels read ``params``), or "float16" / "bfloat16" (dtype
    float32 only): the kernels read a 16-bit copy of every weight matrix (:attr:`weights`) and
    accumulate in float32; the float32 ``params``, the gradients and Adam stay float32, and the
    copy is remade when ``params`` change (mixed precision, docs/cpu-kernels.md).

    Attributes: ``neurons`` (the kind's name per hidden layer), ``alphas`` (per hidden layer:
    a float or a host (N_l,) float64 array), ``alpha`` (the float when every layer shares one
    float, else None), ``recurrent`` (list of bools), ``threshold`` (theta when every layer
    shares one, else None).
    """

    def __init__(
        self,
        sizes: list[int],
        alpha: float | list[float | np.ndarray] = ALPHA,
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
        recurrent: bool | list[bool] = False,
        neuron: str | list[str] = "lif",
        alpha_syn: float | list | None = None,
        alpha_adapt: float | list | None = None,
        beta_adapt: float | list | None = None,
        weight_dtype: str = "float32",
    ) -> None:
        sizes = list(check_sizes("sizes", sizes, 3, "[784, 200, 10]"))
        hidden = sizes[1:-1]
        alphas = check_alphas("alpha", alpha, hidden)
        rec = check_per_layer_bools("recurrent", recurrent, len(hidden))
        theta = check_setting("threshold", threshold)
        kinds = _kinds(neuron, len(hidden))
        values = [{"alpha": a, "theta": theta} for a in alphas]
        extra = {"alpha_syn": alpha_syn, "alpha_adapt": alpha_adapt, "beta_adapt": beta_adapt}
        for key, value in extra.items():
            for v, entry in zip(_per_layer(key, value, kinds), values, strict=True):
                if v is not None:
                    entry[key] = v
        layers = [
            Hidden(n, kind.RECORD(**v), recurrent=r)
            for n, kind, v, r in zip(hidden, kinds, values, rec, strict=True)
        ]
        self._build(
            sizes[0], layers, sizes[-1], alpha_out, b_th, surrogate_scale, readout, reg, init,
            dtype, backend, seed, weight_dtype,
        )  # fmt: skip

    @classmethod
    def from_layers(
        cls,
        n_in: int,
        layers: list[Hidden],
        n_out: int,
        *,
        alpha_out: float = ALPHA,
        b_th: float = 0.2,
        surrogate_scale: float = 100.0,
        readout: str = "max",
        reg: dict[str, float] | RegParams | None = None,
        init: str = "uniform",
        dtype: str = "float32",
        backend: str = "numpy",
        seed: int = 0,
        weight_dtype: str = "float32",
    ) -> Network:
        """A network of ``n_in`` inputs, the hidden ``layers`` (:class:`~spikegrad.layers.Hidden`
        records, at least one) and ``n_out`` classes; the other settings as for the short form.

        ``Network.from_layers(784, [Hidden(200, LIF(alpha=0.9), recurrent=True)], 10)`` is
        ``Network([784, 200, 10], alpha=0.9, recurrent=True)``, parameters bit for bit.
        """
        net = cls.__new__(cls)
        net._build(
            n_in, layers, n_out, alpha_out, b_th, surrogate_scale, readout, reg, init, dtype,
            backend, seed, weight_dtype,
        )  # fmt: skip
        return net

    def _build(
        self,
        n_in: int,
        layers: list[Hidden],
        n_out: int,
        alpha_out: float,
        b_th: float,
        surrogate_scale: float,
        readout: str,
        reg: dict[str, float] | RegParams | None,
        init: str,
        dtype: str,
        backend: str,
        seed: int,
        weight_dtype: str,
    ) -> None:
        n_in, n_out = check_int("n_in", n_in, 1), check_int("n_out", n_out, 1)
        if not isinstance(layers, (list, tuple)) or not layers:
            raise BadValueError("layers", layers, "a list of >= 1 Hidden records")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Hidden):
                raise BadValueError(f"layers[{i}]", layer, "a spikegrad.layers.Hidden record")
        alpha_out = check_setting("alpha_out", alpha_out)
        b_th = check_setting("b_th", b_th)
        surrogate_scale = check_setting("surrogate_scale", surrogate_scale)
        check_choice("readout", readout, READOUTS)
        check_choice("init", init, INITS)
        check_choice("dtype", dtype, DTYPES)
        check_choice("weight_dtype", weight_dtype, WEIGHT_DTYPES)
        check_weight_dtype(weight_dtype, dtype)
        seed = check_seed("seed", seed)
        self.sizes = [n_in, *(layer.n for layer in layers), n_out]
        self.neurons = [layer.kind.NAME for layer in layers]
        self.alphas = [layer.neuron.alpha for layer in layers]
        self.recurrent = [layer.recurrent for layer in layers]
        one = all(isinstance(a, float) for a in self.alphas) and len(set(self.alphas)) == 1
        self.alpha: float | None = self.alphas[0] if one else None
        thetas = {layer.neuron.theta for layer in layers}
        self.threshold: float | None = thetas.pop() if len(thetas) == 1 else None
        self.alpha_out = float(alpha_out)
        self.b_th, self.beta_s = float(b_th), float(surrogate_scale)
        self.readout, self.init, self.seed = readout, init, int(seed)
        self.reg = RegParams.from_dict(
            reg if not isinstance(reg, dict) else check_reg_values("reg", reg)
        )
        self.dtype = np.dtype(dtype)
        self.weight_dtype = weight_dtype
        self.backend: Backend = get_backend(backend)

        def asarray(a: np.ndarray) -> Array:
            return self.backend.asarray(a, dtype=self.dtype)

        self.layers: list[HiddenLayer] = [
            HiddenLayer.place(spec, l, self.sizes[l - 1], asarray, self.beta_s, self.b_th)
            for l, spec in enumerate(layers, start=1)
        ]
        last = layers[-1]
        init_alpha = float(np.mean(last.kind.init_decay(last.neuron)))
        self.readout_layer = Readout(self.sizes[-2], n_out, self.alpha_out, readout, init_alpha)
        self._params = Params(self._refresh)
        self._weights: dict[str, Array] = self._params if weight_dtype == "float32" else {}
        self.params = self._init_params(np.random.default_rng(seed))

    _FIXED = frozenset(
        "sizes alpha alphas alpha_out threshold b_th beta_s readout recurrent neurons dtype "
        "backend init seed weight_dtype".split()
    )

    def __setattr__(self, name: str, value: Any) -> None:
        """The model's settings are fixed once built (its layers hold copies of them)."""
        if name in self._FIXED and "_params" in self.__dict__:
            raise ConfigError(
                f"Network.{name} is fixed at construction (its layers hold it): "
                f"build a new Network with {name}=..."
            )
        super().__setattr__(name, value)

    # ----------------------------------------------------------------- parameters
    @property
    def n_hidden(self) -> int:
        return len(self.sizes) - 2

    @property
    def hidden(self) -> list[Hidden]:
        """The hidden layers' records (what :meth:`from_layers` takes)."""
        return [layer.spec for layer in self.layers]

    def _parts(self) -> list[HiddenLayer | Readout]:
        return [*self.layers, self.readout_layer]

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        """Names and shapes: W{l} (N_{l-1}, N_l), R{l} (N_l, N_l) for each recurrent layer,
        W_out (N_L, K), in that order (W1, R1, W2, ..., W_out)."""
        return {k: v for part in self._parts() for k, v in part.param_shapes().items()}

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {k: v for part in self._parts() for k, v in part.init(rng, self.init).items()}

    @property
    def params(self) -> dict[str, Array]:
        """The parameter dict (arrays on the backend); entries may be replaced."""
        return self._params

    @property
    def weights(self) -> dict[str, Array]:
        """The weights the kernels read: ``params`` itself, or with ``weight_dtype`` float16 or
        bfloat16 their 16-bit copies (:mod:`spikegrad.ops.half`), refreshed whenever an entry
        of ``params`` is set and after each update of an optimiser over ``params``."""
        return self._weights

    def refresh_weights(self) -> None:
        """Remake the 16-bit weight copies from ``params`` (needed only after writing into a
        parameter array in place; a no-op for weight_dtype float32)."""
        self._refresh(tuple(self._params))

    def _refresh(self, keys: tuple[str, ...]) -> None:
        if self._weights is not self._params:
            for k in keys:
                self._weights[k] = to_half(self._params[k], self.weight_dtype)

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
    def _run(
        self, x: Any, mode: str | None, spikes_out: list | None = None
    ) -> tuple[Array, _Tape, tuple[int, int]]:
        """Forward pass; ``mode`` None records nothing, else what ``mode``'s backward needs.
        Each hidden layer's SpikeMatrix is appended to ``spikes_out`` when given."""
        xs = as_spike_matrix(self.backend.xp, x, self.sizes[0])
        sig = input_signal(xs, mode, self.dtype)
        tape = _Tape()
        for layer in self.layers:
            sig, lt = layer.forward(self._weights, sig, mode, self.reg is not None)
            if spikes_out is not None:
                spikes_out.append(sig.spikes)
            if lt is not None:  # None: inference records nothing
                tape.layers.append(lt)
        m, tape.arg = self.readout_layer.forward(self._weights, sig)
        tape.last = sig
        return m, tape, (xs.T, xs.B)

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
        grads = self._backward(tape, dm, gregs, T)
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

    def _backward(self, tape: _Tape, dm: Array, gregs: list, T: int) -> dict[str, Array]:
        grads, dy = self.readout_layer.backward(dm, tape.arg, tape.last, T)
        g = tape.layers[-1].grad_from(dy, self._weights["W_out"])
        for l in range(self.n_hidden - 1, -1, -1):
            lt = tape.layers[l]
            if gregs[l] is not None:
                g = lt.add_rate_grad(g, gregs[l])
            prev = tape.layers[l - 1] if l > 0 else None
            gl, g = self.layers[l].backward(self._weights, lt, g, prev)
            grads.update(gl)
        return {k: grads[k] for k in self.param_shapes()}


def _kinds(neuron: Any, n_layers: int) -> list[ModuleType]:
    """The kind modules of ``neuron`` (one name for all hidden layers, or a list of one per
    layer); ConfigError naming an unknown kind, BadValueError for a list of the wrong length."""
    names = [neuron] * n_layers if isinstance(neuron, str) else neuron
    if not isinstance(names, (list, tuple)) or len(names) != n_layers:
        need = f"a kind name ({', '.join(sorted(neurons.KINDS))}) or a list of {n_layers}"
        raise BadValueError("neuron", neuron, need)
    for name in names:
        if not isinstance(name, str):
            raise BadValueError("neuron", neuron, "kind names (strings)")
    return [neurons.get(name) for name in names]


def _per_layer(key: str, value: Any, kinds: list[ModuleType]) -> list[Any]:
    """The value of constant ``key`` per hidden layer (None: the kind's default, or a kind
    without it). One value goes to every layer whose kind has the constant; a list has one
    entry per layer, None where the kind lacks it. ConfigError if it fits no layer."""
    has = [key in {c.name for c in kind.CONSTANTS} for kind in kinds]
    if value is None:
        return [None] * len(kinds)
    owners = sorted(
        {k.NAME for k in neurons.KINDS.values() if key in {c.name for c in k.CONSTANTS}}
    )
    if not _is_list(value):
        if not any(has):
            raise ConfigError(
                f"{key} is a constant of {' and '.join(owners)} layers; there is none"
            )
        return [value if h else None for h in has]
    if len(value) != len(kinds):
        raise BadValueError(
            key, value, f"a number or a list of {len(kinds)} (one per hidden layer)"
        )
    for l, (v, h) in enumerate(zip(value, has, strict=True), start=1):
        if v is not None and not h:
            raise ConfigError(
                f"{key}[{l}] is set, but hidden layer {l} is {kinds[l - 1].NAME} "
                f"({key} is a constant of {' and '.join(owners)} layers); use None there"
            )
    return list(value)


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
