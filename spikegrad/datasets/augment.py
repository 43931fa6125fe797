"""Training-time data augmentation of binned spike samples, drawn afresh for every batch.

Each transform keeps a sample's events in the engine's (t, i) order, so an augmented batch is
still an O(E) placement, not a sort:

- ``shift``: every spike of a sample moves by one channel offset drawn uniformly from
  -shift..shift (a cochlear channel is a place on the basilar membrane, so this is a shift in
  log frequency, as the SHD literature uses it); spikes shifted off either end are dropped.
- ``time_shift``: every spike of a sample moves by one step offset drawn from
  -time_shift..time_shift; spikes moved outside 0..T-1 are dropped.
- ``drop``: each spike is deleted with this probability.

Each sample's draws come from a generator seeded by the epoch's shuffle seed and the sample's
index in the data set: a run is reproducible, a resumed epoch sees the samples it would have
seen, and the ranks of a data-parallel run draw what one process would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..checks import check_float, check_int, check_table
from ..errors import ConfigError


@dataclass(frozen=True)
class Augment:
    """The augmentation of a training run; all zero (the default) is none."""

    shift: int = 0
    time_shift: int = 0
    drop: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, key: str = "augment") -> Augment:
        """An Augment from a table with any of its keys (the others 0); errors name
        ``key.name``."""
        d = check_table(key, d or {})
        known = [f.name for f in fields(cls)]
        bad = sorted(set(d) - set(known))
        if bad:
            raise ConfigError(f"{key}: unknown keys {bad}; known: {', '.join(known)}")
        return cls(
            shift=check_int(f"{key}.shift", d.get("shift", 0), 0),
            time_shift=check_int(f"{key}.time_shift", d.get("time_shift", 0), 0),
            drop=check_float(f"{key}.drop", d.get("drop", 0.0), 0, 1, hi_open=True),
        )

    def as_dict(self) -> dict[str, Any]:
        """The non-zero settings (an empty dict: no augmentation)."""
        return {k: v for k, v in asdict(self).items() if v}

    def __bool__(self) -> bool:
        return bool(self.as_dict())

    def apply(
        self,
        t: np.ndarray,
        i: np.ndarray,
        lengths: np.ndarray,
        T: int,
        N: int,
        keys: np.ndarray,
        seed: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The augmented events of consecutive samples (order kept). Sample j draws from
        ``np.random.default_rng([seed, keys[j]])``, so its draws depend on the seed and its
        key (its index in the data set), not on the batch it is in.

        Shapes: t, i (E,) int; lengths, keys (n,) -> t', i' (E',), lengths' (n,) int64.
        """
        n = lengths.size
        sample = np.repeat(np.arange(n), lengths)
        shift, step = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        keep = np.ones(t.size, dtype=bool)
        ends = np.cumsum(lengths)
        for j, key in enumerate(np.asarray(keys).tolist()):
            rng = np.random.default_rng([seed, key])
            shift[j] = rng.integers(-self.shift, self.shift + 1)
            step[j] = rng.integers(-self.time_shift, self.time_shift + 1)
            if self.drop:
                keep[ends[j] - lengths[j] : ends[j]] = rng.random(lengths[j]) >= self.drop
        i = i.astype(np.int64) + shift[sample]
        t = t.astype(np.int64) + step[sample]
        keep &= (i >= 0) & (i < N) & (t >= 0) & (t < T)
        return t[keep], i[keep], np.bincount(sample[keep], minlength=n).astype(np.int64)
