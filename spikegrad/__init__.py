"""spikegrad: train spiking neural networks with sparse spiking gradient descent.

Public API::

    import spikegrad as sg
    net = sg.Network([N0, N1, ..., NL, K], b_th=0.2, readout="max")
    loss, grads, stats = net.loss_and_grad(x, y, mode="sparse")
    opt = sg.Adam(net.params, lr=1e-3); opt.step(grads)

This module never imports CuPy; ``backend="cupy"`` or ``"auto"`` loads it on demand.
"""

from __future__ import annotations

from . import datasets, kernels, ops  # noqa: F401  (registers the NumPy twins and CUDA ops)
from .errors import (
    BackendUnavailableError,
    ConfigError,
    DataError,
    DTypeError,
    InputError,
    KernelError,
    ShapeError,
    SpikegradError,
    TrainingError,
)
from .loss import RegParams
from .network import Network
from .optim import Adam
from .spikes import SpikeEvents, SpikeMatrix

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "BackendUnavailableError",
    "ConfigError",
    "DTypeError",
    "DataError",
    "InputError",
    "KernelError",
    "Network",
    "RegParams",
    "ShapeError",
    "SpikeEvents",
    "SpikeMatrix",
    "SpikegradError",
    "TrainingError",
    "__version__",
    "datasets",
]
