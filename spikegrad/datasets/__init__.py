"""Datasets behind one interface: ``load(name, root=..., split=..., **encoding)``."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, DataError
from .base import EventDataset
from .synthetic import randman

NAMES = ("synthetic",)

__all__ = ["NAMES", "DataError", "EventDataset", "load", "randman"]


def load(name: str, root: Any = None, split: str = "train", **encoding: Any) -> EventDataset:
    """Load data set ``name`` ("synthetic"); ``split`` is "train" or "test"."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test'; got {split!r}")
    if name == "synthetic":
        seed = int(encoding.pop("seed", 0))
        n = int(encoding.pop("n_samples", 3000))
        # the test split is a disjoint draw from the same manifolds: same seed, other samples
        ds = randman(n_samples=2 * n, seed=seed, **encoding)
        half = ds.subset(range(n)) if split == "train" else ds.subset(range(n, 2 * n))
        return half
    raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}")
