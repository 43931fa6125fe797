"""Neuron constants: decay factors from time constants, and heterogeneous time constants.

A LIF neuron with membrane time constant tau decays by alpha = exp(-dt / tau) per step of
dt seconds (ALGORITHM.md §2). "Heterogeneous" layers give every neuron its own tau, drawn
once: tau_j ~ Gamma with mean tau_mem and coefficient of variation ``spread`` (shape
k = 1 / spread**2, scale tau_mem * spread**2), as in Perez-Nieves et al. 2021, "Neural
heterogeneity promotes robust learning" (their SHD default: shape k = 3, spread 1/sqrt(3)).
"""

from __future__ import annotations

import numpy as np

from .checks import check_float, check_int
from .errors import BadValueError


def heterogeneous_alpha(
    tau_mem: float, spread: float, dt: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-neuron decay factors alpha_j = exp(-dt / tau_j), tau_j ~ Gamma(mean tau_mem, CV spread).

    ``spread`` 0 gives every neuron exp(-dt / tau_mem) exactly and draws nothing from ``rng``.
    A tau_j that underflows to 0 (possible only for a very large spread) gives alpha_j = 0.

    Shapes: -> (n,) float64, values in [0, 1).
    """
    tau_mem = check_float("tau_mem", tau_mem, 0, lo_open=True)
    spread = check_float("tau_mem_spread", spread, 0)
    dt = check_float("dt", dt, 0, lo_open=True)
    n = check_int("n", n, 1)
    if not isinstance(rng, np.random.Generator):
        raise BadValueError("rng", rng, "a numpy.random.Generator")
    if spread == 0:
        return np.full(n, np.exp(-dt / tau_mem))
    k = 1.0 / spread**2
    tau = rng.gamma(k, tau_mem / k, size=n)
    with np.errstate(divide="ignore"):
        return np.exp(-dt / tau)
