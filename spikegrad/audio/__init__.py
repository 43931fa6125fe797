"""Sound -> spikes in the layout of the Spiking Heidelberg Digits (see :mod:`.cochlea`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .cochlea import Cochlea, best_frequency, encode_one

__all__ = ["Cochlea", "best_frequency", "encode"]


def encode(
    samples: Any,
    sample_rate: float,
    n_channels: int = 700,
    seed: int = 0,
    native: bool | None = None,
    **constants: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """One mono recording -> ``(times, units)``: spike times in seconds (float64) and channel
    indices (int64, 0 = base: highest frequency), sorted by time then channel, as in SHD files.

    ``samples`` (N,) any real dtype (integers are used as they are: the level is normalised);
    ``constants`` override fields of :class:`Cochlea`; ``seed`` picks the nerve fibres' draws;
    ``native``: True (C required), False (NumPy twin), None (the native switch,
    :func:`spikegrad.native.set_mode`: by default C when it builds).
    """
    x = np.asarray(samples)
    if x.ndim != 1 or x.dtype.kind not in "iuf":
        raise ConfigError(f"samples must be a 1-D real array; got shape {x.shape}, {x.dtype}")
    if not (np.isfinite(sample_rate) and sample_rate > 0):
        raise ConfigError(f"sample_rate must be > 0; got {sample_rate!r}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ConfigError("samples must be finite")
    try:
        c = Cochlea(n_channels=n_channels, **constants).check()
    except TypeError as exc:
        raise ConfigError(f"unknown cochlea constant: {exc}") from None
    return encode_one(x, float(sample_rate), c, int(seed), native)
