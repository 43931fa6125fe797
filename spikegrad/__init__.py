"""spikegrad: train spiking neural networks with sparse spiking gradient descent.

Public API::

    import spikegrad as sg
    net = sg.Network([N0, N1, ..., NL, K], b_th=0.2, readout="max")
    net = sg.Network.from_layers(N0, [sg.Hidden(N1, sg.neurons.LIF(alpha=0.9), recurrent=True)], K)
    loss, grads, stats = net.loss_and_grad(x, y, mode="sparse")
    opt = sg.Adam(net.params, lr=1e-3); opt.step(grads)

This module never imports CuPy; ``backend="cupy"`` or ``"auto"`` loads it on demand.
"""

from __future__ import annotations

from . import datasets, kernels, neurons, ops  # noqa: F401  (registers the twins and CUDA ops)
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
from .layers import Hidden
from .loss import RegParams
from .network import Network
from .optim import Adam
from .spikes import SpikeEvents, SpikeMatrix

__version__ = "0.1.0"


def _checkout_cli() -> None:
    """Let ``import spikegrad.cli`` find the checkout's top-level ``cli/`` folder (installed as
    ``spikegrad.cli``, pyproject's package-dir) when this package is imported from a checkout
    whose project is installed non-editable (``python -m pytest`` or ``python -m spikegrad``
    run in the checkout put it first on sys.path). Installed copies and editable installs
    find ``spikegrad.cli`` before this finder is asked."""
    import importlib.abc
    import importlib.util
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    cli = here.parent / "cli"
    if (here / "cli").is_dir() or not (cli / "__init__.py").is_file():
        return

    class CheckoutCli(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object = None, target: object = None):
            if name != "spikegrad.cli":
                return None
            return importlib.util.spec_from_file_location(
                name, cli / "__init__.py", submodule_search_locations=[str(cli)]
            )

    sys.meta_path.append(CheckoutCli())


_checkout_cli()

__all__ = [
    "Adam",
    "BackendUnavailableError",
    "ConfigError",
    "DTypeError",
    "DataError",
    "Hidden",
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
    "neurons",
]
