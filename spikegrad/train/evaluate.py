"""Evaluation: accuracy, mean cross-entropy and confusion of a network on a data set, and of
a checkpoint or model file on a split of its data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import modelfile
from ..backend import to_numpy
from ..datasets.base import EventDataset
from ..distributed import SINGLE, Comm, shard, world
from ..errors import ConfigError
from ..network import Network
from ..npzfile import file_format
from ..ops.readout import cross_entropy
from . import checkpoint as ckpt_io
from .build import load_data, network_from_checkpoint
from .config import TrainConfig, preset

SPLITS = ("test", "train", "val")


def evaluate(
    net: Network, data: EventDataset, batch_size: int = 256, comm: Comm = SINGLE
) -> dict[str, Any]:
    """Accuracy, mean cross-entropy and confusion matrix (rows: true class) on ``data``.

    Every rank of ``comm`` evaluates its contiguous share of ``data`` and the sums are
    reduced, so every rank returns the result over all of ``data``.
    """
    K, xp, n = net.sizes[-1], net.backend.xp, max(len(data), 1)
    mine = shard(len(data), comm.rank, comm.size)
    if mine != slice(0, len(data)):
        data = data.subset(np.arange(len(data))[mine])
    conf = np.zeros((K, K), dtype=np.int64)
    loss = xp.zeros((), dtype=xp.float64)  # summed on the device; predictions come to the host
    for x, y in data.batches(batch_size, shuffle=False, prepare=True):
        m = net.forward(x)
        ce, _ = cross_entropy(m, net.backend.asarray(y))
        loss = loss + xp.asarray(ce, dtype=xp.float64) * len(y)
        np.add.at(conf, (y, to_numpy(m.argmax(axis=1))), 1)
    sums = comm.allreduce_host(np.concatenate([[float(loss)], conf.ravel()]))
    loss, conf = sums[0], sums[1:].astype(np.int64).reshape(K, K)
    per_class = conf.diagonal() / np.maximum(conf.sum(axis=1), 1)
    return {
        "accuracy": float(conf.trace() / n),
        "loss": float(loss) / n,
        "per_class_accuracy": per_class.tolist(),
        "confusion": conf.tolist(),
    }


def _source(
    file: Path, dataset: str | None
) -> tuple[ckpt_io.Checkpoint | None, TrainConfig | None]:
    """(checkpoint, its config) of a checkpoint file; (None, saved config or None) of a
    model file."""
    if file_format(file) != modelfile.FORMAT:
        ck = ckpt_io.load(file)
        return ck, ck.config
    cfg = modelfile.run_config(file)
    if cfg is None and dataset is None:
        raise ConfigError(f"{file}: the model file holds no run config; name the --dataset")
    return None, cfg


def _data(
    cfg: TrainConfig | None, split: str, dataset: str | None, data_dir: str | None, limit: int
) -> tuple[TrainConfig, EventDataset]:
    """The config that encodes the data, and the data of ``split`` (its first ``limit``)."""
    if cfg is None or dataset not in (None, cfg.dataset):
        data_cfg = preset(dataset).replace(seed=cfg.seed if cfg else 0)
    else:
        data_cfg = cfg
    if data_dir is not None:
        data_cfg = data_cfg.replace(data_dir=data_dir)
    train, val = load_data(data_cfg, "test" if split == "test" else "train")
    data = val if split == "val" else train
    if data is None:
        raise ConfigError("split 'val': this run has no validation slice (val_fraction 0)")
    if limit:
        data = data.subset(np.arange(min(limit, len(data))))
    return data_cfg, data


def _model(
    file: Path,
    ck: ckpt_io.Checkpoint | None,
    cfg: TrainConfig | None,
    data: EventDataset,
    name: str,
) -> Network:
    """The network of the checkpoint ``ck`` or of the model file ``file``, checked against
    the geometry of data set ``name``'s ``data``."""
    if ck is not None:
        return network_from_checkpoint(ck, data.n_inputs, data.n_classes)
    net = modelfile.load(file, cfg.backend if cfg else "auto")
    if (net.sizes[0], net.sizes[-1]) != (data.n_inputs, data.n_classes):
        raise ConfigError(
            f"{file}: the model takes {net.sizes[0]} inputs and has {net.sizes[-1]} "
            f"classes; {name} has {data.n_inputs} and {data.n_classes}"
        )
    return net


def evaluate_run(
    path: str | Path,
    split: str = "test",
    dataset: str | None = None,
    data_dir: str | None = None,
    limit: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Evaluate a checkpoint (a run folder means its ``best.npz``, else ``last.npz``) or a
    model file (:mod:`spikegrad.modelfile`).

    ``split``: "test" (the data set's test split), "train" or "val" (the training and
    validation parts exactly as in training). Inputs are encoded with the run's saved
    ``encoding`` (a model file without its run's config needs ``dataset``: its preset);
    ``dataset`` evaluates on another data set (with its preset encoding).
    ``limit`` > 0 evaluates only the first ``limit`` samples. Launched with several MPI
    ranks, each evaluates its share and every rank returns the whole result.
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be test, train or val; got {split!r}")
    file = ckpt_io.resolve(path, prefer=("best", "last"))
    ck, cfg = _source(file, dataset)
    data_cfg, data = _data(cfg, split, dataset, data_dir, limit)
    net = _model(file, ck, cfg, data, data_cfg.dataset)
    r = evaluate(net, data, batch_size, world("numpy"))  # host reductions only
    return {
        "checkpoint": str(file),
        "dataset": data_cfg.dataset,
        "split": split,
        "n": len(data),
        "epoch": ck.epoch if ck is not None else None,
        **r,
        "class_names": list(data.class_names),
    }
