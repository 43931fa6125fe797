"""Model files: a network on its own (no optimiser state), for inference, sharing and export.

One ``.npz`` file (written atomically, see :mod:`spikegrad.npzfile`) with a JSON ``meta``
record and arrays::

    meta   format "spikegrad-model", version, sizes, alpha (per hidden layer: a float, or
           null when the layer has per-neuron alpha, stored as the array ``alpha.<l>``),
           recurrent (per hidden layer), alpha_out, threshold, b_th, surrogate_scale,
           readout, reg (dict or null), init, seed, dtype; config (optional: the TOML of the
           training run the model comes from, so that it is evaluated on its own data encoding)
    param.<name>   every parameter (W1, R1 if layer 1 is recurrent, ..., W_out) in ``dtype``

Loading checks everything against the header (names, shapes, dtype) and refuses a missing,
corrupt, foreign or newer file with one :class:`DataError` naming it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .errors import DataError, SpikegradError
from .network import Network
from .npzfile import read_npz, write_npz
from .train.config import TrainConfig
from .train.config import from_dict as config_from_dict
from .train.toml import loads_toml

FORMAT = "spikegrad-model"
FORMAT_VERSION = 1
SUFFIX = ".npz"


def layer_alphas(net: Network) -> list[float | np.ndarray]:
    """Per hidden layer: its alpha as a float, or (N_l,) float64 per-neuron values."""
    alphas = getattr(net, "alphas", None)
    if alphas is None:  # networks without per-layer alpha share one float
        return [float(net.alpha)] * net.n_hidden
    return [a if np.isscalar(a) else np.asarray(to_numpy(a), np.float64) for a in alphas]


def layer_recurrent(net: Network) -> list[bool]:
    """Per hidden layer: whether it has recurrent weights R_l."""
    return [bool(r) for r in getattr(net, "recurrent", [False] * net.n_hidden)]


def supports_recurrence() -> bool:
    """Whether this spikegrad's :class:`Network` takes ``recurrent`` (and per-layer alpha)."""
    return "recurrent" in inspect.signature(Network).parameters


def build_network(
    sizes: list[int],
    alphas: list[float | np.ndarray],
    recurrent: list[bool],
    **settings: Any,
) -> Network:
    """A :class:`Network` with per-layer ``alphas`` and ``recurrent`` flags; the feed-forward
    one-alpha case is passed as today's ``alpha=float`` (so it builds on every version)."""
    floats = [a for a in alphas if np.isscalar(a)]
    if len(floats) == len(alphas) and len(set(floats)) == 1 and not any(recurrent):
        return Network(sizes, alpha=floats[0], **settings)
    if not supports_recurrence():
        raise DataError(
            "recurrent layers or per-layer alpha need a spikegrad whose Network takes "
            "recurrent= and a list of alpha (issue 13)"
        )
    return Network(sizes, alpha=list(alphas), recurrent=list(recurrent), **settings)


def save(net: Network, path: str | Path, config: TrainConfig | None = None) -> Path:
    """Write ``net`` (architecture, neuron and readout settings, parameters) to ``path``;
    ``config``: the training run's settings, kept for evaluation (data set and encoding).

    Shapes: every parameter as in ``net.param_shapes()``, in ``net.dtype``; per-neuron alpha
    (N_l,) float64."""
    alphas = layer_alphas(net)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sizes": list(net.sizes),
        "alpha": [float(a) if np.isscalar(a) else None for a in alphas],
        "recurrent": layer_recurrent(net),
        "alpha_out": net.alpha_out,
        "threshold": net.threshold,
        "b_th": net.b_th,
        "surrogate_scale": net.beta_s,
        "readout": net.readout,
        "reg": None if net.reg is None else net.reg.as_dict(),
        "init": net.init,
        "seed": net.seed,
        "dtype": net.dtype.name,
    }
    if config is not None:
        meta["config"] = config.to_toml()
    arrays = {f"param.{k}": np.asarray(to_numpy(a)) for k, a in net.params.items()}
    for l, a in enumerate(alphas, start=1):
        if not np.isscalar(a):
            arrays[f"alpha.{l}"] = a
    return write_npz(path, meta, arrays)


def run_config(path: str | Path) -> TrainConfig | None:
    """The training run's settings kept in model file ``path`` (None if it has none)."""
    meta, _ = read_npz(path, "model file", FORMAT, FORMAT_VERSION)
    if meta.get("config") is None:
        return None
    try:
        return config_from_dict(loads_toml(str(meta["config"])))
    except SpikegradError as exc:
        raise DataError(f"{path}: bad config inside the model file ({exc})") from None


def load(path: str | Path, backend: str = "numpy") -> Network:
    """The network stored in model file ``path``, on ``backend`` (parameters bit for bit).

    Shapes: parameters as in ``param_shapes()``, checked against the file's header."""
    path = Path(path)
    meta, arrays = read_npz(path, "model file", FORMAT, FORMAT_VERSION)
    bad = f"{path}: corrupt spikegrad model file"
    try:
        sizes = [int(n) for n in meta["sizes"]]
        recurrent = [bool(r) for r in meta["recurrent"]]
        alphas = [
            float(a) if a is not None else np.asarray(arrays[f"alpha.{l}"], np.float64)
            for l, a in enumerate(meta["alpha"], start=1)
        ]
        settings = {
            k: meta[k]
            for k in ("alpha_out", "threshold", "b_th", "surrogate_scale", "readout", "reg")
        }
        settings.update(init=meta["init"], seed=int(meta["seed"]), dtype=str(meta["dtype"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{bad} (meta record: bad or missing {exc})") from None
    if not len(alphas) == len(recurrent) == len(sizes) - 2:
        raise DataError(f"{bad} (alpha and recurrent must have one entry per hidden layer)")
    try:
        net = build_network(sizes, alphas, recurrent, backend=backend, **settings)
    except SpikegradError as exc:
        raise DataError(f"{path}: {exc}") from None
    params = {k.split(".", 1)[1]: a for k, a in arrays.items() if k.startswith("param.")}
    want = net.param_shapes()
    if set(params) != set(want):
        raise DataError(f"{bad} (parameters {sorted(params)}; expected {sorted(want)})")
    for k, a in params.items():
        if a.shape != want[k] or a.dtype != net.dtype:
            raise DataError(
                f"{bad} (param {k}: {a.dtype} {a.shape}; expected {net.dtype} {want[k]})"
            )
    net.params = params
    return net
