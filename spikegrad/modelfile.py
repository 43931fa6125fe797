"""Model files: a network on its own (no optimiser state), for inference, sharing and export.

One ``.npz`` file (written atomically, see :mod:`spikegrad.npzfile`) with a JSON ``meta``
record and arrays::

    meta   format "spikegrad-model", version 2, sizes, layers (per hidden layer: kind,
           recurrent and the kind's constants, spikegrad.neurons), alpha_out, b_th,
           surrogate_scale, readout, reg (dict or null), init, seed, dtype; config
           (optional: the TOML of the training run the model comes from, so that it is
           evaluated on its own data encoding)
    <constant>.<l> a per-neuron constant of hidden layer l (its meta entry null), e.g. alpha.1
    param.<name>   every parameter (W1, R1 if layer 1 is recurrent, ..., W_out) in ``dtype``

Version 1 (LIF layers only: per-layer "alpha" and "recurrent" lists and one "threshold")
still loads. Loading checks everything against the header (names, shapes, dtype) and refuses
a missing, corrupt, foreign or newer file with one :class:`DataError` naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import neurons
from .backend import to_numpy
from .errors import DataError, SpikegradError
from .layers import Hidden
from .network import Network
from .npzfile import read_npz, write_npz

if TYPE_CHECKING:
    from .train.config import TrainConfig

FORMAT = "spikegrad-model"
FORMAT_VERSION = 2
SUFFIX = ".npz"
V1_KIND = "lif"  # version-1 files hold layers of this kind only

SETTINGS = ("alpha_out", "b_th", "surrogate_scale", "readout", "reg", "init", "seed", "dtype")


def layer_fields(layers: list[Hidden]) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The meta entries and arrays of hidden ``layers`` (each kind writes its constants)."""
    entries, arrays = [], {}
    for l, spec in enumerate(layers, start=1):
        meta, arr = spec.kind.model_fields(spec.neuron, l)
        entries.append({"kind": spec.kind.NAME, "recurrent": spec.recurrent, **meta})
        arrays.update(arr)
    return entries, arrays


def read_layers(entries: list[dict], sizes: list[int], arrays: dict) -> list[Hidden]:
    """The hidden layers of ``layer_fields``' entries. Raises KeyError, TypeError,
    ValueError on a malformed entry, SpikegradError on a bad value (the caller names the
    file)."""
    if len(entries) != len(sizes) - 2:
        raise DataError("layers must have one entry per hidden layer")
    out = []
    for l, entry in enumerate(entries, start=1):
        kind = neurons.get(entry["kind"])
        neuron = kind.from_model_fields(entry, arrays, l)
        out.append(Hidden(sizes[l], neuron, recurrent=entry["recurrent"]))
    return out


def save(net: Network, path: str | Path, config: TrainConfig | None = None) -> Path:
    """Write ``net`` (architecture, neuron and readout settings, parameters) to ``path``;
    ``config``: the training run's settings, kept for evaluation (data set and encoding).

    Shapes: every parameter as in ``net.param_shapes()``, in ``net.dtype``; per-neuron
    constants (N_l,) float64."""
    entries, arrays = layer_fields(net.hidden)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sizes": list(net.sizes),
        "layers": entries,
        "alpha_out": net.alpha_out,
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
    arrays.update({f"param.{k}": np.asarray(to_numpy(a)) for k, a in net.params.items()})
    return write_npz(path, meta, arrays)


def run_config(path: str | Path) -> TrainConfig | None:
    """The training run's settings kept in model file ``path`` (None if it has none)."""
    from .train.config import from_dict  # here: the run layer sits above model files
    from .train.toml import loads_toml

    meta, _ = read_npz(path, "model file", FORMAT, FORMAT_VERSION)
    if meta.get("config") is None:
        return None
    try:
        return from_dict(loads_toml(str(meta["config"])))
    except SpikegradError as exc:
        raise DataError(f"{path}: bad config inside the model file ({exc})") from None


def _layer_entries(meta: dict) -> list[dict]:
    if int(meta["version"]) == 1:
        return neurons.get(V1_KIND).v1_layers(meta)
    return list(meta["layers"])


def load(path: str | Path, backend: str = "numpy") -> Network:
    """The network stored in model file ``path``, on ``backend`` (parameters bit for bit).

    Shapes: parameters as in ``param_shapes()``, checked against the file's header."""
    path = Path(path)
    meta, arrays = read_npz(path, "model file", FORMAT, FORMAT_VERSION)
    bad = f"{path}: corrupt spikegrad model file"
    try:
        sizes = [int(n) for n in meta["sizes"]]
        settings: dict[str, Any] = {k: meta[k] for k in SETTINGS}
        settings.update(seed=int(meta["seed"]), dtype=str(meta["dtype"]))
        entries = _layer_entries(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{bad} (meta record: bad or missing {exc})") from None
    try:
        layers = read_layers(entries, sizes, arrays)
        net = Network.from_layers(sizes[0], layers, sizes[-1], backend=backend, **settings)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SpikegradError):
            raise DataError(f"{path}: {exc}") from None
        raise DataError(f"{bad} (layers: bad or missing {exc})") from None
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
