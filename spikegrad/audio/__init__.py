"""Sound -> spikes in the layout of the Spiking Heidelberg Digits (see :mod:`.cochlea`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_int, check_setting
from ..errors import ConfigError
from .cochlea import Cochlea, best_frequency, bin_mask, encode_one, spike_mask

__all__ = ["Cochlea", "best_frequency", "encode", "encode_binned"]


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
    x, c = _checked(samples, sample_rate, n_channels, constants)
    return encode_one(x, float(sample_rate), c, int(seed), native)


def encode_binned(
    samples: Any,
    sample_rate: float,
    dt: float,
    T: int,
    n_channels: int = 700,
    pool: int = 1,
    seed: int = 0,
    native: bool | None = None,
    **constants: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode`'s spikes binned at ``dt`` seconds into steps 0..T-1, channels summed in
    groups of ``pool``: ``(steps, units)`` int64, one event per (step, unit), sorted by step
    then unit; the events ``spikegrad.datasets.binning.bin_events`` makes of ``encode``'s
    output (the same values), in a fraction of the time.
    """
    x, c = _checked(samples, sample_rate, n_channels, constants)
    dt, T, pool = check_setting("dt", dt), check_setting("T", T), check_int("pool", pool, 1)
    if n_channels % pool:
        raise ConfigError(f"pool ({pool}) must divide n_channels ({n_channels})")
    mask, rate = spike_mask(x, float(sample_rate), c, int(seed), native)
    return bin_mask(mask, rate, dt, T, pool)


def _checked(
    samples: Any, sample_rate: float, n_channels: int, constants: dict[str, Any]
) -> tuple[np.ndarray, Cochlea]:
    """The recording as an array and the checked cochlea, or ConfigError naming the problem."""
    x = np.asarray(samples)
    if x.ndim != 1 or x.dtype.kind not in "iuf":
        raise ConfigError(f"samples must be a 1-D real array; got shape {x.shape}, {x.dtype}")
    if not (np.isfinite(sample_rate) and sample_rate > 0):
        raise ConfigError(f"sample_rate must be > 0; got {sample_rate!r}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ConfigError("samples must be finite")
    try:
        return x, Cochlea(n_channels=n_channels, **constants).check()
    except TypeError as exc:
        raise ConfigError(f"unknown cochlea constant: {exc}") from None
