"""Spiking Heidelberg Digits: the official HDF5 files ``shd_train.h5`` / ``shd_test.h5`` (or .gz).

Layout (Cramer et al. 2022; data set README)::

    /spikes/times   variable-length float per sample: spike times in seconds
    /spikes/units   variable-length int per sample: channel 0..699 of each spike
    /labels         int per sample, 0..19
    /extra/keys     class names (optional here), /extra/speaker speaker id per sample (optional)

The sample count is taken from the file (published counts disagree). A ``.h5.gz`` file is
decompressed to a temporary file first (h5py needs random access). Each call opens the file
itself and closes it before returning, so no h5py handle is ever shared across processes.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import zlib
from pathlib import Path

import h5py
import numpy as np

from ..errors import DataError
from . import cache as _cache
from .base import EventDataset
from .binning import bin_events
from .datafiles import missing
from .registry import SHD

REQUIRED = ("spikes/times", "spikes/units", "labels")


def shd_file(folder: Path, split: str) -> Path:
    """The file of ``split`` in ``folder``: ``shd_<split>.h5``, else ``shd_<split>.h5.gz``."""
    for name in (f"shd_{split}.h5", f"shd_{split}.h5.gz"):
        if (folder / name).is_file():
            return folder / name
    raise missing(SHD, folder, split, f"shd_{split}.h5 or shd_{split}.h5.gz")


def _vlen(f: h5py.File, path: Path, key: str, kinds: str) -> np.ndarray:
    ds = f[key]
    base = h5py.check_vlen_dtype(ds.dtype)
    if ds.ndim != 1 or base is None or base.kind not in kinds:
        raise DataError(
            f"{path}: /{key} must be a 1-D variable-length {'float' if kinds == 'f' else 'int'} "
            f"array; got shape {ds.shape}, dtype {base or ds.dtype}"
        )
    return ds[()]


def read_shd(path: Path) -> dict[str, np.ndarray | list[str]]:
    """Raw events of one SHD file, checked (keys, dtypes, ranges).

    Shapes: -> times (E,) float seconds and units (E,) int in the file's dtypes, offsets
    (n + 1,), labels (n,), speaker (n,) (if in the file), class_names list of 20 str.
    """
    path = Path(path)
    if path.suffix == ".gz":
        with tempfile.TemporaryDirectory(prefix="spikegrad-shd-") as tmp:
            plain = Path(tmp) / path.stem
            try:
                with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
            except (OSError, EOFError, zlib.error) as exc:
                raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from exc
            return _read_h5(plain, path)
    return _read_h5(path, path)


def _read_h5(path: Path, shown: Path) -> dict[str, np.ndarray | list[str]]:
    try:
        with h5py.File(path, "r") as f:
            for key in REQUIRED:
                if key not in f:
                    raise DataError(f"{shown}: HDF5 key /{key} is missing")
            times = _vlen(f, shown, "spikes/times", "f")
            units = _vlen(f, shown, "spikes/units", "iu")
            lab = f["labels"]
            if lab.ndim != 1 or lab.dtype.kind not in "iu":
                raise DataError(
                    f"{shown}: /labels must be a 1-D int array; got {lab.shape} {lab.dtype}"
                )
            labels = lab[()].astype(np.int64)
            extra = {}
            if "extra/speaker" in f:
                extra["speaker"] = np.asarray(f["extra/speaker"][()]).astype(np.int64)
            keys = list(SHD.class_names)
            if "extra/keys" in f:
                keys = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]]
    except (OSError, RuntimeError, KeyError) as exc:
        raise DataError(f"{shown}: not a readable HDF5 file ({exc})") from exc
    n = labels.size
    if not (times.size == units.size == n):
        raise DataError(f"{shown}: {times.size} time arrays, {units.size} unit arrays, {n} labels")
    lengths = np.fromiter((a.size for a in times), np.int64, n)
    if not np.array_equal(lengths, np.fromiter((a.size for a in units), np.int64, n)):
        raise DataError(f"{shown}: spikes/times and spikes/units differ in length for some sample")
    if len(keys) != SHD.n_classes:
        raise DataError(f"{shown}: /extra/keys has {len(keys)} names; expected {SHD.n_classes}")
    if "speaker" in extra and extra["speaker"].shape != (n,):
        raise DataError(
            f"{shown}: /extra/speaker has shape {extra['speaker'].shape}; expected ({n},)"
        )
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    t = np.concatenate([*times, np.zeros(0, np.float16)])  # the file's dtypes (compact)
    u = np.concatenate([*units, np.zeros(0, np.uint8)])
    if n and (labels.min() < 0 or labels.max() >= SHD.n_classes):
        raise DataError(
            f"{shown}: labels outside 0..{SHD.n_classes - 1} (found {labels.min()}..{labels.max()})"
        )
    if u.size and (u.min() < 0 or u.max() >= SHD.n_inputs):
        raise DataError(
            f"{shown}: units outside 0..{SHD.n_inputs - 1} (found {u.min()}..{u.max()})"
        )
    if t.size and not (np.isfinite(t).all() and t.min() >= 0):
        raise DataError(f"{shown}: spike times must be finite and >= 0 seconds")
    return {
        "times": t,
        "units": u,
        "offsets": offsets,
        "labels": labels,
        "class_names": keys,
        **extra,
    }


def load_shd(folder: Path, split: str, dt: float, T: int, cache: object = True) -> EventDataset:
    """SHD ``split`` from ``folder``, binned at ``dt`` seconds into T steps (cached)."""
    path = shd_file(folder, split)

    def build() -> EventDataset:
        raw = read_shd(path)
        t, i, offsets = bin_events(raw["times"], raw["units"], raw["offsets"], dt, T, SHD.n_inputs)
        extra = {"speaker": raw["speaker"]} if "speaker" in raw else {}
        return EventDataset(
            t,
            i,
            offsets,
            raw["labels"],
            T,
            SHD.n_inputs,
            SHD.n_classes,
            list(raw["class_names"]),
            "shd",
            extra,
        )

    return _cache.cached("shd", split, {"dt": dt, "T": T}, [path], build, cache)
