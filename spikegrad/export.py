"""Models out of training runs: a checkpoint's network as a model file or a NIR graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import modelfile
from .errors import ConfigError, DataError
from .network import Network
from .train import checkpoint as ckpt_io
from .train.build import build_network
from .train.config import TrainConfig


def trained_network(path: str | Path) -> tuple[Network, TrainConfig, Path]:
    """The network of a checkpoint (a run folder means its ``best.npz``, else ``last.npz``),
    on the host, with the run's config and the checkpoint's path."""
    ck = ckpt_io.load(ckpt_io.resolve(path, prefer=("best", "last")))
    if "W1" not in ck.params or "W_out" not in ck.params:
        raise DataError(f"{ck.path}: the checkpoint holds no W1 or W_out parameter")
    cfg = ck.config.replace(backend="numpy")
    net = build_network(cfg, ck.params["W1"].shape[0], ck.params["W_out"].shape[1], ck.layers)
    ckpt_io.restore(ck, net)
    return net, ck.config, Path(ck.path)


def export_run(
    path: str | Path,
    model: str | Path | None = None,
    nir: str | Path | None = None,
    dt: float | None = None,
    approximate: bool = False,
) -> dict[str, Any]:
    """Write the network of checkpoint or run folder ``path`` as a model file (``model``,
    keeping the run's config) and/or a NIR file (``nir``; one step = ``dt`` seconds, default
    the run's dt; ``approximate``: write kinds NIR has no node for, e.g. ALIF, as the nearest
    node, with a warning). Returns what was written: source, model, nir, dt, sizes."""
    if model is None and nir is None:
        raise ConfigError("export: name a --model file, a --nir file, or both")
    net, cfg, src = trained_network(path)
    out: dict[str, Any] = {"source": str(src), "sizes": net.sizes, "model": None, "nir": None}
    if model is not None:
        out["model"] = str(modelfile.save(net, model, cfg))
    if nir is not None:
        from .nir import write_nir

        out["dt"] = cfg.dt if dt is None else dt
        out["nir"] = str(write_nir(net, nir, out["dt"], approximate))
    return out
