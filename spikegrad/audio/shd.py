"""Write encoded recordings as an SHD-layout HDF5 file (the ``shd`` reader's format)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import ConfigError


def write_shd(
    path: str | Path,
    spikes: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[int],
    speaker: Sequence[int] | None = None,
    keys: Sequence[str] | None = None,
) -> Path:
    """Write ``spikes`` (one ``(times s, units)`` pair per sample, as from
    :func:`spikegrad.audio.encode`) and ``labels`` to ``path`` in the layout of SHD's files:
    /spikes/times (vlen float32), /spikes/units (vlen uint16), /labels (uint16), and
    optionally /extra/speaker and /extra/keys (20 class names in SHD)."""
    if len(spikes) != len(labels) or (speaker is not None and len(speaker) != len(labels)):
        raise ConfigError("write_shd: spikes, labels (and speaker) must have one entry each")
    path = Path(path)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(spikes),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(spikes),), dtype=h5py.vlen_dtype(np.uint16))
        for k, (t, u) in enumerate(spikes):
            times[k] = np.asarray(t, np.float32)
            units[k] = np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        if speaker is not None:
            f.create_dataset("extra/speaker", data=np.asarray(speaker, np.uint16))
        if keys is not None:
            f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
    return path
