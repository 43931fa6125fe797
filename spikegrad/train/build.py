"""What a config makes: the data (train, validation), the network and the optimiser."""

from __future__ import annotations

import numpy as np

from ..datasets import load
from ..datasets.base import EventDataset
from ..datasets.fsdd import speaker_split
from ..layers import Hidden
from ..network import Network
from ..optim import Adam, LRSchedule
from . import checkpoint as ckpt_io
from .config import TrainConfig
from .neuron import hidden_layers


def load_data(
    config: TrainConfig, split: str = "train"
) -> tuple[EventDataset, EventDataset | None]:
    """(train, validation) for split "train"; (test, None) for "test".

    Training data: the data set's training split, a seeded random ``limit`` of it, then a
    seeded validation slice (with ``val_speaker``: every recording of that FSDD speaker).
    Every split is encoded with the same ``config.encoding``.
    """
    root = config.data_dir or None
    if split == "test":
        return load(config.dataset, root=root, split="test", **config.encoding), None
    data = load(config.dataset, root=root, split="train", **config.encoding)
    if config.limit and config.limit < len(data):
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
        data = data.subset(np.sort(rng.permutation(len(data))[: config.limit]))
    if config.val_fraction == 0:
        return data, None
    if config.val_speaker:
        return speaker_split(data, config.val_speaker)
    train, val = data.split(config.val_fraction, seed=config.seed)
    return train, val


def build_network(
    config: TrainConfig, n_inputs: int, n_classes: int, layers: list[Hidden] | None = None
) -> Network:
    """The network of ``config`` for data with ``n_inputs`` units and ``n_classes`` classes:
    its hidden layers (:func:`spikegrad.train.neuron.hidden_layers`, per-neuron values drawn
    from the seed where asked), or ``layers`` (e.g. a checkpoint's) instead."""
    return Network.from_layers(
        n_inputs,
        hidden_layers(config) if layers is None else layers,
        n_classes,
        alpha_out=config.alpha_out,
        b_th=config.b_th,
        surrogate_scale=config.surrogate_scale,
        readout=config.readout,
        reg=config.reg,
        init=config.init,
        dtype=config.dtype,
        backend=config.backend,
        seed=config.seed,
        weight_dtype=config.weight_dtype,
    )


def network_from_checkpoint(ck: ckpt_io.Checkpoint, n_inputs: int, n_classes: int) -> Network:
    """The network of checkpoint ``ck`` (its config and saved layers) holding its parameters."""
    net = build_network(ck.config, n_inputs, n_classes, ck.layers)
    ckpt_io.restore(ck, net)
    return net


def make_optimizer(config: TrainConfig, net: Network, steps_per_epoch: int) -> Adam:
    """Adam over ``net.params`` with the config's schedule, weight decay and clipping; the
    schedule is a function of Adam's step count, so it resumes with the checkpoint."""
    schedule = LRSchedule(
        config.lr,
        config.lr_schedule,
        steps_per_epoch,
        config.epochs * steps_per_epoch,
        config.lr_step_epochs,
        config.lr_gamma,
        config.lr_min,
        config.warmup_epochs * steps_per_epoch,
    )
    return Adam(
        net.params,
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
        schedule=schedule,
        max_grad_norm=config.clip_grad_norm,
    )
