"""Checkpoints: one ``.npz`` file holding everything needed to continue a run bitwise.

Contents: the parameters (``param.<name>``), Adam's moments (``adam_m.<name>``,
``adam_v.<name>``), the decay factor of every hidden layer l (``alpha.<l>``: 0-d for one alpha,
(N_l,) for per-neuron alphas, e.g. drawn with ``tau_mem_spread``; from format version 2 on)
and a JSON ``meta`` record: format version, Adam step, the position in
training (``epoch`` in progress, 0-based, and ``batch``, the batches of it already done), the
running sums of the unfinished epoch and the best score so far, and the run's config as TOML.

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

from ..backend import to_numpy
from ..errors import ConfigError, DataError, SpikegradError
from ..network import Network
from ..npzfile import read_npz, write_npz
from ..optim import Adam
from .config import TrainConfig
from .config import from_dict as config_from_dict
from .toml import loads_toml

FORMAT_VERSION = 2  # 2: the hidden layers' alphas (version 1 files load; alphas None)
SUFFIX = ".npz"


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
    alphas: list[float | np.ndarray] | None = None  # per hidden layer; None: not saved (v1)


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
        alphas=[a if isinstance(a, float) else np.array(to_numpy(a)) for a in net.alphas],
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
    for l, a in enumerate(ckpt.alphas or [], start=1):
        arrays[f"alpha.{l}"] = np.asarray(a, dtype=np.float64)
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
    alphas = part("alpha")
    if sorted(alphas) != [str(l) for l in range(1, len(alphas) + 1)] or any(
        a.ndim > 1 for a in alphas.values()
    ):
        raise DataError(f"{bad} (alpha arrays {sorted(alphas)}: not one per hidden layer)")
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
        [
            float(a) if a.ndim == 0 else a
            for a in (alphas[str(l)] for l in range(1, len(alphas) + 1))
        ]
        or None,
    )


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


def _same_alphas(a: list[float | np.ndarray], b: list[float | np.ndarray]) -> bool:
    """Equal alphas, layer by layer (a float equals an array of that one value)."""

    def same(x: Any, y: Any) -> bool:
        x, y = np.asarray(x), np.asarray(y)
        return (x.shape == y.shape or 0 in (x.ndim, y.ndim)) and bool(np.all(x == y))

    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))


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
    if ckpt.alphas is not None and not _same_alphas(ckpt.alphas, net.alphas):
        raise ConfigError(
            f"{ckpt.path or 'checkpoint'}: holds other neuron alphas than this network (build "
            "it with the checkpoint's: train.build.network_from_checkpoint)"
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
