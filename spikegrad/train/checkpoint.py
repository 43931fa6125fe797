"""Checkpoints: one ``.npz`` file holding everything needed to continue a run bitwise.

Contents: the parameters (``param.<name>``), Adam's moments (``adam_m.<name>``,
``adam_v.<name>``), and a JSON ``meta`` record: format version, Adam step, the position in
training (``epoch`` in progress, 0-based, and ``batch``, the batches of it already done), the
running sums of the unfinished epoch and the best score so far, the run's config as TOML and
(from format version 3 on) the hidden layers as in a model file (``layers``: each layer's
kind, recurrence and constants; a per-neuron constant, e.g. drawn with ``tau_mem_spread``, as
the array ``<constant>.<l>``). Version 2 files held every layer's ``alpha.<l>`` (0-d or
(N_l,)) and version 1 files no layer values; both still load, their other constants from
the config.

The only randomness in training is the per-epoch shuffle, drawn from
``epoch_seed(config.seed, epoch)``, so (seed, epoch, batch) is the complete RNG state.
Files are written to a temporary name and renamed, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import modelfile
from ..backend import to_numpy
from ..errors import ConfigError, DataError, SpikegradError
from ..layers import Hidden
from ..network import Network
from ..npzfile import read_npz, write_npz
from ..optim import Adam
from .config import TrainConfig
from .config import from_dict as config_from_dict
from .neuron import hidden_layers, layer_kinds, same_layers
from .toml import loads_toml

FORMAT_VERSION = 3  # 3: the hidden layers; 2: their alphas; 1: neither (all still load)
SUFFIX = ".npz"
_PARTS = ("param", "adam_m", "adam_v")  # the array prefixes that are not layer constants


@dataclass
class Checkpoint:
    """A training state on the host. Shapes: every array as in ``Network.param_shapes()``."""

    config: TrainConfig
    params: dict[str, np.ndarray]
    adam_m: dict[str, np.ndarray]
    adam_v: dict[str, np.ndarray]
    adam_step: int
    epoch: int
    batch: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    layers: list[Hidden] | None = None  # the hidden layers; None: not saved (version 1)


def capture(
    config: TrainConfig, net: Network, opt: Adam, epoch: int, batch: int, state: dict
) -> Checkpoint:
    """Copy the state of ``net`` and ``opt`` to the host."""
    host = lambda d: {k: np.array(to_numpy(a)) for k, a in d.items()}  # noqa: E731
    return Checkpoint(
        config,
        host(net.params),
        host(opt.m),
        host(opt.v),
        opt.step_count,
        epoch,
        batch,
        json.loads(json.dumps(state)),
        layers=net.hidden,
    )


def save(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write ``ckpt`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    meta = {
        "format": "spikegrad-checkpoint",
        "version": FORMAT_VERSION,
        "adam_step": ckpt.adam_step,
        "epoch": ckpt.epoch,
        "batch": ckpt.batch,
        "state": ckpt.state,
        "config": ckpt.config.to_toml(),
    }
    arrays = {}
    for prefix, d in (("param", ckpt.params), ("adam_m", ckpt.adam_m), ("adam_v", ckpt.adam_v)):
        arrays.update({f"{prefix}.{k}": a for k, a in d.items()})
    if ckpt.layers is not None:
        meta["layers"], layer_arrays = modelfile.layer_fields(ckpt.layers)
        arrays.update(layer_arrays)
    return write_npz(path, meta, arrays)


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint; a missing, corrupt or too new file raises DataError naming it."""
    path = Path(path)
    meta, arrays = read_npz(path, "checkpoint", "spikegrad-checkpoint", FORMAT_VERSION)
    bad = f"{path}: corrupt or not a spikegrad checkpoint"
    try:
        step, epoch, batch = (int(meta[k]) for k in ("adam_step", "epoch", "batch"))
        toml = str(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{bad} (meta record: bad or missing {exc})") from None
    try:
        config = config_from_dict(loads_toml(toml))
    except SpikegradError as exc:
        raise DataError(f"{path}: bad config inside the checkpoint ({exc})") from None
    part = lambda p: {k.split(".", 1)[1]: a for k, a in arrays.items() if k.startswith(p + ".")}  # noqa: E731
    return Checkpoint(
        config,
        part("param"),
        part("adam_m"),
        part("adam_v"),
        step,
        epoch,
        batch,
        meta.get("state", {}),
        path,
        _layers(meta, arrays, config, bad),
    )


def _layers(meta: dict, arrays: dict, config: TrainConfig, bad: str) -> list[Hidden] | None:
    """The hidden layers saved in a checkpoint (version 3: its ``layers``; version 2: the
    config's layers with the saved ``<constant>.<l>`` values), None if none are saved."""
    own = {k: a for k, a in arrays.items() if k.split(".", 1)[0] not in _PARTS}
    try:
        if "layers" in meta:
            sizes = [0, *config.hidden, 0]
            layers = modelfile.read_layers(list(meta["layers"]), sizes, own)
        elif own:
            layers = hidden_layers(config, _saved_values(own, len(config.hidden), bad))
        else:
            return None
    except (KeyError, TypeError, ValueError, SpikegradError) as exc:
        if isinstance(exc, DataError) and str(exc).startswith(bad):
            raise
        raise DataError(f"{bad} (layers: bad or missing {exc})") from None
    kinds, rec = [s.kind for s in layers], [s.recurrent for s in layers]
    if kinds != layer_kinds(config) or rec != list(config.recurrent_layers):
        raise DataError(f"{bad} (its layers are not those of its config)")
    return layers


def _saved_values(arrays: dict, n_layers: int, bad: str) -> list[dict]:
    """A version-2 checkpoint's layer values: ``<constant>.<l>`` arrays, 0-d or (N_l,),
    one per hidden layer l of each constant saved."""
    values: list[dict] = [{} for _ in range(n_layers)]
    names: dict[str, list[str]] = {}
    for k in arrays:
        name, _, l = k.rpartition(".")
        names.setdefault(name, []).append(l)
    for name, ls in names.items():
        if sorted(ls) != sorted(str(l) for l in range(1, n_layers + 1)) or any(
            arrays[f"{name}.{l}"].ndim > 1 for l in ls
        ):
            got = sorted(f"{name}.{l}" for l in ls)
            raise DataError(f"{bad} ({name} arrays {got}: not one per hidden layer)")
        for l in ls:
            a = arrays[f"{name}.{l}"]
            values[int(l) - 1][name] = float(a) if a.ndim == 0 else a
    return values


def resolve(path: str | Path, prefer: tuple[str, ...] = ("last",)) -> Path:
    """A checkpoint file: ``path`` itself, or the first of ``<prefer>.npz`` in folder ``path``."""
    path = Path(path)
    if path.is_dir():
        for name in prefer:
            if (path / f"{name}{SUFFIX}").is_file():
                return path / f"{name}{SUFFIX}"
        raise DataError(
            f"{path}: no checkpoint here (looked for {', '.join(n + SUFFIX for n in prefer)})"
        )
    return path


def restore(ckpt: Checkpoint, net: Network, opt: Adam | None = None) -> None:
    """Load ``ckpt`` into ``net`` (and ``opt``); a different architecture raises ConfigError."""
    want = net.param_shapes()
    have = {k: tuple(a.shape) for k, a in ckpt.params.items()}
    if have != want:
        fmt = lambda s: ", ".join(f"{k} {v}" for k, v in sorted(s.items()))  # noqa: E731
        raise ConfigError(
            f"{ckpt.path or 'checkpoint'}: holds a different architecture ({fmt(have)}) "
            f"than this network ({fmt(want)})"
        )
    if ckpt.layers is not None and not same_layers(ckpt.layers, net.hidden):
        raise ConfigError(
            f"{ckpt.path or 'checkpoint'}: holds other neuron layers (kinds or constants) "
            "than this network (build it with the checkpoint's layers: "
            "train.build.network_from_checkpoint)"
        )
    net.params = ckpt.params
    if opt is not None:
        be = net.backend
        opt.load_state_dict(
            {
                "step": ckpt.adam_step,
                "m": {k: be.asarray(a) for k, a in ckpt.adam_m.items()},
                "v": {k: be.asarray(a) for k, a in ckpt.adam_v.items()},
            }
        )
