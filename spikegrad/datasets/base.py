"""The one dataset interface: samples stored as compact event arrays, batched into SpikeEvents.

Every reader (shd, nmnist, fmnist, synthetic) returns an :class:`EventDataset`. Samples are
kept concatenated: ``t[o[k]:o[k+1]]`` and ``i[o[k]:o[k+1]]`` are the time steps and units of
sample k's spikes (already binned and de-duplicated), so a batch is a gather, not a decode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, DataError
from ..spikes import SpikeEvents


@dataclass
class EventDataset:
    """Binned spike samples with labels.

    Shapes: t, i (E,) int; offsets (n + 1,) int64; labels (n,) int64; every array in
    ``extra`` (per-sample metadata such as SHD speaker ids or file ids) (n,).
    """

    t: np.ndarray
    i: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    T: int
    n_inputs: int
    n_classes: int
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        n = self.labels.size
        if (
            self.offsets.shape != (n + 1,)
            or self.offsets[0] != 0
            or self.offsets[-1] != self.t.size
        ):
            raise DataError(f"{self.name}: offsets do not match the event arrays")
        if n and (self.labels.min() < 0 or self.labels.max() >= self.n_classes):
            raise DataError(
                f"{self.name}: labels outside 0..{self.n_classes - 1} "
                f"(found {self.labels.min()}..{self.labels.max()})"
            )
        for key, a in self.extra.items():
            if len(a) != n:
                raise DataError(f"{self.name}: extra[{key!r}] has {len(a)} entries for {n} samples")
        if not self.class_names:
            self.class_names = [str(k) for k in range(self.n_classes)]

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def n_events(self) -> int:
        return int(self.t.size)

    @property
    def events_per_sample(self) -> np.ndarray:
        """Spikes (distinct (t, i) bins) of every sample. Shapes: -> (n,) int64."""
        return np.diff(self.offsets)

    def subset(self, idx: np.ndarray) -> EventDataset:
        """A new dataset holding samples ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        sel, lengths = self._gather(idx)
        offsets = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return EventDataset(
            self.t[sel],
            self.i[sel],
            offsets,
            self.labels[idx],
            self.T,
            self.n_inputs,
            self.n_classes,
            list(self.class_names),
            self.name,
            {k: a[idx] for k, a in self.extra.items()},
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple[EventDataset, EventDataset]:
        """(train, validation) by a seeded permutation; validation gets round(n * fraction)."""
        if not 0 <= val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1); got {val_fraction}")
        perm = np.random.default_rng(seed).permutation(len(self))
        n_val = round(len(self) * val_fraction)
        return self.subset(np.sort(perm[n_val:])), self.subset(np.sort(perm[:n_val]))

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts, ends = self.offsets[idx], self.offsets[idx + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        first = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        return first + np.arange(total), lengths

    def batch(self, idx: np.ndarray) -> tuple[SpikeEvents, np.ndarray]:
        """Samples ``idx`` as one batch: (SpikeEvents of shape (len(idx), T, N), labels)."""
        idx = np.asarray(idx, dtype=np.int64)
        sel, lengths = self._gather(idx)
        b = np.repeat(np.arange(idx.size), lengths)
        x = SpikeEvents(b, self.t[sel], self.i[sel], (idx.size, self.T, self.n_inputs))
        return x, self.labels[idx]

    def batches(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> Iterator[tuple[SpikeEvents, np.ndarray]]:
        """Yield (x, y) batches; a shuffled order is drawn from ``seed`` (vary it per epoch)."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        order = (
            np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        )
        stop = len(self) - (len(self) % batch_size if drop_last else 0)
        for lo in range(0, stop, batch_size):
            yield self.batch(order[lo : lo + batch_size])

    def __repr__(self) -> str:
        return (
            f"EventDataset({self.name!r}, n={len(self)}, T={self.T}, n_inputs={self.n_inputs}, "
            f"n_classes={self.n_classes}, events={self.n_events})"
        )
