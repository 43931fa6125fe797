r"""The embedded default task: random manifolds ("Randman", Zenke & Vogels 2021).

Written from the paper's description. Each class c owns a smooth random map
f_c: [0, 1]^D -> [0, 1]^N built from random Fourier series,

    f_{c,n}(x) = sum_d sum_{k=1}^{F} a_{c,n,d,k} k^{-smoothness} sin(2 pi (k x_d + phi_{c,n,d,k}))

min-max normalised per unit on a reference sample of the manifold. A sample of class c draws
x ~ U[0, 1]^D and input unit n fires one spike at step floor(f_{c,n}(x) * (T - 1)), jittered
by Gaussian noise of ``jitter`` steps. The classes overlap in every single unit's firing times,
so only the joint spatio-temporal pattern identifies a class. Seeded: the same arguments
always give the same data.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import EventDataset


def randman(
    n_samples: int = 3000,
    n_classes: int = 10,
    n_inputs: int = 100,
    T: int = 50,
    dim: int = 2,
    n_freq: int = 8,
    smoothness: float = 2.0,
    jitter: float = 2.0,
    seed: int = 0,
) -> EventDataset:
    """Generate a Randman data set (balanced classes, samples in random order).

    ``n_samples`` in all; ``load("synthetic")`` is the built-in task built from this
    (``registry.SYNTHETIC_TASK``: the defaults here, 4000 samples per split).
    """
    if min(n_samples, n_classes, n_inputs, T, dim, n_freq) < 1:
        raise ConfigError("randman: all sizes must be >= 1")
    rng = np.random.default_rng(seed)
    k = np.arange(1, n_freq + 1)
    amp = rng.uniform(0, 1, (n_classes, n_inputs, dim, n_freq)) * k**-smoothness
    phase = rng.uniform(0, 1, (n_classes, n_inputs, dim, n_freq))

    def embed(c: int, x: np.ndarray) -> np.ndarray:  # x (S, D) -> (S, N)
        arg = 2 * np.pi * (x[:, None, :, None] * k + phase[c][None])
        return (amp[c][None] * np.sin(arg)).sum(axis=(2, 3))

    labels = rng.permutation(np.arange(n_samples) % n_classes)
    times = np.empty((n_samples, n_inputs), dtype=np.int64)
    ref = rng.uniform(0, 1, (2000, dim))
    for c in range(n_classes):
        lo_hi = embed(c, ref)
        lo, span = lo_hi.min(axis=0), np.ptp(lo_hi, axis=0) + 1e-12
        members = np.flatnonzero(labels == c)
        f = np.clip((embed(c, rng.uniform(0, 1, (members.size, dim))) - lo) / span, 0, 1)
        t = np.rint(f * (T - 1) + rng.normal(0, jitter, f.shape))
        times[members] = np.clip(t, 0, T - 1)
    offsets = np.arange(n_samples + 1, dtype=np.int64) * n_inputs
    units = np.tile(np.arange(n_inputs), n_samples)
    return EventDataset(
        times.ravel(),
        units,
        offsets,
        labels,
        T,
        n_inputs,
        n_classes,
        [f"manifold {c}" for c in range(n_classes)],
        "synthetic",
    )
