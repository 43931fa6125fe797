"""Datasets behind one interface: ``load(name, root=..., split=..., **encoding)``.

Names: "shd", "nmnist", "fmnist", "fsdd" (real files under the data root, see :func:`data_root`) and
"synthetic" (the embedded Randman task). Every loader returns an :class:`EventDataset`.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

from ..checks import check_float, check_int, check_setting
from ..errors import ConfigError, DataError
from .base import EventDataset
from .datafiles import MissingDataError, data_root, dataset_dir, download_files, verify_files
from .fmnist import idx_file, load_fmnist
from .fsdd import find_files as fsdd_files
from .fsdd import load_fsdd
from .fsdd import verify_split as fsdd_verify
from .nmnist import find_samples, load_nmnist, split_layout
from .registry import DATASETS, SYNTHETIC_TASK, DatasetInfo
from .shd import load_shd, shd_file
from .synthetic import randman

NAMES = tuple(DATASETS)  # the registry's names, in its order

__all__ = [
    "NAMES",
    "DataError",
    "EventDataset",
    "MissingDataError",
    "data_root",
    "describe",
    "download",
    "load",
    "locate",
    "randman",
    "verify",
]


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}")
    return DATASETS[name]


def _encoding(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The encoding options of ``name``: its registry defaults (which name every option it
    takes) updated with ``given``, checked."""
    known = _info(name).encoding
    bad = set(given) - set(known)
    if bad:
        raise ConfigError(
            f"{name}: unknown option(s) {', '.join(sorted(bad))}; known: "
            f"{', '.join(known)}, download, cache"
        )
    enc = {**known, **given}
    try:
        if "dt" in enc:
            enc["dt"] = check_setting("dt", enc["dt"])
        enc["T"] = check_setting("T", enc["T"])
        for key in ("tau_eff", "thr"):
            if key in enc:
                enc[key] = check_float(key, enc[key])
        for key, lo in (("channels", 1), ("pool", 1), ("seed", 0), ("rate", 1000)):
            if key in enc:
                enc[key] = check_int(key, enc[key], lo)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return enc


def load(name: str, root: Any = None, split: str = "train", **encoding: Any) -> EventDataset:
    """Load data set ``name`` ("shd", "nmnist", "fmnist", "synthetic"), ``split`` "train"|"test".

    Encoding options: shd dt (2e-3 s), T (500); nmnist dt (1e-3 s), T (300), polarity
    ("merge": 1156 inputs | "both": 2312); fmnist T (100), tau_eff (20 steps), thr (0.2);
    fsdd dt (4e-3 s), T (250), channels (700), pool (1: channels summed in groups of pool),
    seed (0: the cochlea's nerve fibre draws), rate (8000 Hz: resample to this first);
    synthetic: the arguments of :func:`randman`. ``download=True`` fetches missing files;
    ``cache`` (True, False or a folder) controls the decoded-event cache. ``root`` is the data
    root (holding shd/, nmnist/, fmnist/ ...) or a data set folder itself.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test'; got {split!r}")
    fetch = bool(encoding.pop("download", False))
    cache = encoding.pop("cache", True)
    if name == "synthetic":  # generated: nothing to download or cache
        return _synthetic(split, encoding)
    info = _info(name)
    enc = _encoding(name, encoding)
    reader = {"shd": load_shd, "nmnist": load_nmnist, "fmnist": load_fmnist, "fsdd": load_fsdd}[
        name
    ]
    try:
        return _read(reader, info, root, split, cache=cache, **enc)
    except MissingDataError:
        if not fetch:
            raise
    download_files(info, root, split)
    return reader(dataset_dir(info, root), split, cache=cache, **enc)


def _synthetic(split: str, given: dict[str, Any]) -> EventDataset:
    """The built-in task (``registry.SYNTHETIC_TASK``, overridden by ``given``): ``n_samples``
    per split; the test split is a disjoint draw from the same manifolds (same seed)."""
    known = (*SYNTHETIC_TASK, "n_freq", "smoothness")
    bad = set(given) - set(known)
    if bad:
        raise ConfigError(
            f"synthetic: unknown option(s) {', '.join(sorted(bad))}; known: {', '.join(known)}"
        )
    enc = {**SYNTHETIC_TASK, **given}
    n = int(enc["n_samples"])
    ds = _generated(**enc)
    return ds.subset(range(n)) if split == "train" else ds.subset(range(n, 2 * n))


@functools.lru_cache(maxsize=2)
def _generated(**task: Any) -> EventDataset:
    """Both splits of the built-in task (``2 n_samples`` draws), generated once per process
    and settings: training, then evaluating or plotting, draws it once. Never handed out
    itself: callers get subsets (copies)."""
    n = int(task.pop("n_samples"))
    return randman(n_samples=2 * n, **task)


def _read(reader: Any, info: DatasetInfo, root: Any, split: str, **kw: Any) -> EventDataset:
    """Read from the data set folder under the root, else from the root itself (it may be
    that folder); a miss reports the data set folder."""
    folder, base = dataset_dir(info, root), data_root(root)
    try:
        return reader(folder, split, **kw)
    except MissingDataError as exc:
        first = exc
    if not folder.is_dir() and base.is_dir():
        with contextlib.suppress(MissingDataError):
            return reader(base, split, **kw)
    raise first


def download(name: str, root: Any = None, progress: bool = True) -> list[Path]:
    """Fetch every file of ``name`` into the data root (checksummed; resumes); returns the paths."""
    if not _info(name).files:
        raise ConfigError(
            f"{name} is not downloaded by spikegrad: put its files in "
            f"{dataset_dir(_info(name), root)} (see docs/audio.md for FSDD)"
        )
    return download_files(_info(name), root, None, progress)


def verify(name: str, root: Any = None) -> dict[str, dict[str, Any]]:
    """Per downloadable file of ``name``: path, present, size, md5, expected_md5, md5_ok.

    N-MNIST: a split whose archive is absent but whose files lie extracted (the official
    ``Train/<digit>/*.bin`` tree or the flat ``<id>.bs2`` layout with a list file) is reported
    as that layout instead: path, present, layout, n_files, bad_sizes (files whose size is
    not a multiple of 5 bytes), md5_ok None. Generated data sets ("synthetic"): empty.
    """
    info = _info(name)
    if not info.folders:
        return {}
    if name == "fsdd":  # wav files, not downloaded by spikegrad: check each one
        out = {}
        for split in ("train", "test"):
            folder = _where(info, root, split) or dataset_dir(info, root)
            out[f"{split} (wav)"] = fsdd_verify(folder, split)
        return out
    out = verify_files(info, root)
    if name != "nmnist":
        return out
    for f in info.files:
        if out[f.name]["present"]:
            continue
        folder = _where(info, root, f.split)
        if folder is not None:
            del out[f.name]
            lay = split_layout(folder, f.split)
            out[f"{f.split} ({lay['layout']})"] = {"present": True, "md5_ok": None, **lay}
    return out


def _find(name: str, folder: Path, split: str) -> list[Path]:
    """The files of ``split`` in ``folder``, found as the reader finds them (nothing decoded)."""
    if name == "shd":
        return [shd_file(folder, split)]
    if name == "fmnist":
        return [idx_file(folder, split, k) for k in ("images-idx3", "labels-idx1")]
    if name == "fsdd":
        return fsdd_files(folder, split)[0]
    return find_samples(folder, split)[0]


def _where(info: DatasetInfo, root: Any, split: str) -> Path | None:
    """The folder :func:`load` would read ``split`` from, or None when it is not there."""
    folder, base = dataset_dir(info, root), data_root(root)
    for d in (folder,) if folder.is_dir() or not base.is_dir() else (folder, base):
        with contextlib.suppress(MissingDataError):
            _find(info.name, d, split)
            return d
    return None


def locate(name: str, root: Any = None) -> dict[str, Any]:
    """Where ``name`` is looked for and, per split, the folder it is found in (None: absent).

    Nothing is decoded or checksummed. Generated data sets: ``{"generated": True}``.
    """
    info = _info(name)
    if not info.folders:
        return {"generated": True, "looks_in": None, "splits": {}}
    return {
        "generated": False,
        "looks_in": str(dataset_dir(info, root)),
        "splits": {
            s: (str(d) if (d := _where(info, root, s)) else None) for s in ("train", "test")
        },
    }


def describe(name: str) -> dict[str, Any]:
    """Static facts of ``name``: geometry, default encoding, files, URLs, the paper's notes
    on it (its training settings are the "paper" preset: ``spikegrad.train.config``)."""
    info = _info(name)
    return {
        "name": info.name,
        "n_inputs": info.n_inputs,
        "n_classes": info.n_classes,
        "T": info.T,
        "dt": info.dt,
        "class_names": list(info.class_names),
        "encoding": dict(info.encoding),
        "folders": list(info.folders),
        "files": [f.name for f in info.files],
        "urls": {f.name: list(f.urls) for f in info.files},
        "md5": {f.name: f.md5 for f in info.files},
        "md5_list": list(info.md5_list),
        "paper": dict(info.paper),
    }
