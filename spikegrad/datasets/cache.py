"""A compact on-disk cache of decoded, binned events, so that a second load reads no raw file.

One uncompressed ``.npz`` per (data set, split, encoding, source files) holds the arrays of an
:class:`EventDataset` in their compact dtypes. The key hashes the format version, the encoding
parameters and every source file's path, size and mtime, so editing or replacing a raw file
makes a new entry. Entries are written to a temporary file and renamed (atomic); an unreadable
entry is ignored and rebuilt.

Folder: the ``cache`` option (a path; False disables), else ``$SPIKEGRAD_CACHE``, else
``user_cache_dir()/events``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .base import EventDataset
from .datafiles import user_cache_dir

VERSION = 2  # 2: every sample's events in (t, i) order (EventDataset sorts once)


def cache_dir(cache: Any = True) -> Path | None:
    """The cache folder for option ``cache`` (True/None: default, False: no cache, or a path)."""
    if cache is False:
        return None
    if cache not in (True, None):
        return Path(cache).expanduser()
    env = os.environ.get("SPIKEGRAD_CACHE")
    return Path(env).expanduser() if env else user_cache_dir() / "events"


def cache_key(name: str, split: str, params: dict[str, Any], sources: Iterable[Path]) -> str:
    """Hex key of one cache entry: version, data set, split, encoding and source file stats."""
    h = hashlib.sha1(usedforsecurity=False)
    head = {"v": VERSION, "name": name, "split": split, "params": params}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for p in sources:
        st = p.stat()
        h.update(f"\0{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def save(path: Path, ds: EventDataset) -> None:
    """Write ``ds`` to ``path`` (.npz) through a temporary file in the same folder."""
    arrays = {
        "t": ds.t,
        "i": ds.i,
        "offsets": ds.offsets,
        "labels": ds.labels,
        "meta": np.array([ds.T, ds.n_inputs, ds.n_classes], dtype=np.int64),
        "class_names": np.array(ds.class_names, dtype=str),
        "name": np.array(ds.name),
    }
    arrays.update({f"extra_{k}": a for k, a in ds.extra.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> EventDataset | None:
    """The dataset stored at ``path``, or None when it is absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            T, n_inputs, n_classes = (int(v) for v in z["meta"])
            extra = {k[6:]: z[k] for k in z.files if k.startswith("extra_")}
            return EventDataset(
                z["t"],
                z["i"],
                z["offsets"],
                z["labels"],
                T,
                n_inputs,
                n_classes,
                [str(c) for c in z["class_names"]],
                str(z["name"]),
                extra,
            )
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, DataError):
        return None


def cached(
    name: str,
    split: str,
    params: dict[str, Any],
    sources: list[Path],
    build: Callable[[], EventDataset],
    cache: Any = True,
) -> EventDataset:
    """``build()``'s dataset, read from the cache when an entry for these inputs exists."""
    folder = cache_dir(cache)
    if folder is None:
        return build()
    path = folder / f"{name}-{split}-{cache_key(name, split, params, sources)}.npz"
    ds = load(path) if path.is_file() else None
    if ds is None:
        ds = build()
        try:
            save(path, ds)
        except OSError as exc:  # a read-only or full cache folder only costs speed
            warnings.warn(f"{path}: event cache not written ({exc})", RuntimeWarning, stacklevel=3)
    return ds
