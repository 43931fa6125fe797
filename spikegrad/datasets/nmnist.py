"""N-MNIST: the original 40-bit event files (Orchard et al. 2015), in two layouts.

Each event is 5 bytes, big-endian 40 bits: x (8 bits), y (8 bits), polarity (1 bit, 1 = ON),
timestamp in µs (23 bits); no header, so a file's size is a multiple of 5 and x, y lie in
0..33. Layouts under the data set folder:

* official: ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` (the label is the folder name);
* flat (SLAYER's "NMNISTsmall"): ``<id>.bs2`` (or ``.bin``) files next to list files
  ``train*.txt`` / ``test*.txt`` holding a ``#`` header and ``id label`` lines; the folder may
  also be one level down.

Units: ``x + 34 y`` with the polarities merged (the paper's 1156 inputs, default) or
``x + 34 y + 1156 p`` (``polarity="both"``, 2312 inputs). Steps: round(t / dt), kept below T.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from . import cache as _cache
from .base import EventDataset
from .binning import bin_events
from .datafiles import missing
from .registry import NMNIST

SIZE = 34
POLARITIES = ("merge", "both")


def _decode(b: np.ndarray) -> dict[str, np.ndarray]:
    b = b.reshape(-1, 5).astype(np.int64)
    t_us = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    return {"x": b[:, 0], "y": b[:, 1], "p": b[:, 2] >> 7, "t_us": t_us}


def _check_size(path: Path | str, nbytes: int) -> None:
    if nbytes % 5:
        raise DataError(f"{path}: size {nbytes} bytes is not a multiple of 5 (40-bit events)")


def _address_error(path: Path | str, ev: dict[str, np.ndarray], k: int) -> DataError:
    x, y = ev["x"][k], ev["y"][k]
    return DataError(f"{path}: event address outside 0..{SIZE - 1} (x {x}, y {y})")


def decode_events(raw: bytes | np.ndarray, path: Path | str = "<bytes>") -> dict[str, np.ndarray]:
    """Decode 40-bit events; refuse a size that is not a multiple of 5 or x, y outside 0..33.

    Shapes: raw (5 E,) bytes -> x, y, p, t_us: (E,) int64.
    """
    b = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else np.asarray(raw, np.uint8)
    _check_size(path, b.size)
    ev = _decode(b)
    bad = np.flatnonzero((ev["x"] >= SIZE) | (ev["y"] >= SIZE))
    if bad.size:
        raise _address_error(path, ev, int(bad[0]))
    return ev


def _tree_dir(folder: Path, split: str) -> Path | None:
    for name in (split.capitalize(), split):
        if (folder / name).is_dir():
            return folder / name
    return None


def _official(split_dir: Path) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for sub in sorted(p for p in split_dir.iterdir() if p.is_dir() and p.name.isdigit()):
        label = int(sub.name)
        if label >= NMNIST.n_classes:
            raise DataError(f"{sub}: label {label} outside 0..{NMNIST.n_classes - 1}")
        found = sorted(sub.glob("*.bin"))
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataError(f"{split_dir}: no .bin files in digit folders 0..9")
    return files, np.array(labels, dtype=np.int64)


def _list_file(folder: Path, split: str) -> Path | None:
    for d in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        found = sorted(p for p in d.glob("*.txt") if p.name.lower().startswith(split))
        if found:
            return found[0]
    return None


def _flat(list_file: Path) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    lines = list_file.read_text(errors="replace").splitlines()
    for k, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise DataError(f"{list_file}: line {k} is not 'id label': {line.strip()!r}")
        label = int(parts[1])
        if label >= NMNIST.n_classes:
            raise DataError(
                f"{list_file}: line {k}: label {label} outside 0..{NMNIST.n_classes - 1}"
            )
        for ext in (".bs2", ".bin"):
            if (list_file.parent / f"{parts[0]}{ext}").is_file():
                files.append(list_file.parent / f"{parts[0]}{ext}")
                break
        else:
            raise DataError(f"{list_file}: line {k}: no file {parts[0]}.bs2 or {parts[0]}.bin")
        labels.append(label)
    if not files:
        raise DataError(f"{list_file}: lists no samples")
    return files, np.array(labels, dtype=np.int64)


def find_samples(folder: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """Event files and labels of ``split``: the official tree if present, else the flat layout."""
    split_dir = _tree_dir(folder, split) if folder.is_dir() else None
    if split_dir is not None:
        return _official(split_dir)
    list_file = _list_file(folder, split) if folder.is_dir() else None
    if list_file is None:
        raise missing(
            NMNIST,
            folder,
            split,
            f"{split.capitalize()}/<digit>/*.bin (from {split.capitalize()}.zip), or <id>.bs2 "
            f"files with a {split}*.txt list of 'id label' lines",
        )
    return _flat(list_file)


def split_layout(folder: Path, split: str) -> dict[str, Any]:
    """How ``split`` lies in ``folder``, without decoding: layout ("tree": the official
    ``Train/<digit>/*.bin``; "flat": ``<id>.bs2`` files and a list file), path (the split
    folder or the list file), n_files, bad_sizes (files whose size is not a multiple of 5)."""
    files, _ = find_samples(folder, split)
    split_dir = _tree_dir(folder, split)
    return {
        "layout": "tree" if split_dir is not None else "flat",
        "path": split_dir if split_dir is not None else _list_file(folder, split),
        "n_files": len(files),
        "bad_sizes": sum(p.stat().st_size % 5 != 0 for p in files),
    }


def read_samples(files: list[Path]) -> dict[str, np.ndarray]:
    """Decode every file, checked. Shapes: -> x, y, p, t_us (E,) int64; offsets (n + 1,) int64."""
    chunks = []
    for path in files:
        raw = path.read_bytes()
        _check_size(path, len(raw))
        chunks.append(np.frombuffer(raw, dtype=np.uint8))
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    np.cumsum([c.size // 5 for c in chunks], out=offsets[1:])
    ev = _decode(np.concatenate([*chunks, np.zeros(0, np.uint8)]))
    bad = np.flatnonzero((ev["x"] >= SIZE) | (ev["y"] >= SIZE))
    if bad.size:
        k = int(bad[0])
        raise _address_error(files[int(np.searchsorted(offsets, k, "right")) - 1], ev, k)
    return {**ev, "offsets": offsets}


def load_nmnist(
    folder: Path, split: str, dt: float, T: int, polarity: str = "merge", cache: object = True
) -> EventDataset:
    """N-MNIST ``split`` from ``folder``, binned at ``dt`` seconds into T steps (cached)."""
    if polarity not in POLARITIES:
        raise ConfigError(f"polarity must be one of {', '.join(POLARITIES)}; got {polarity!r}")
    files, labels = find_samples(folder, split)
    n_inputs = SIZE * SIZE * (2 if polarity == "both" else 1)

    def build() -> EventDataset:
        ev = read_samples(files)
        units = ev["x"] + SIZE * ev["y"] + (SIZE * SIZE * ev["p"] if polarity == "both" else 0)
        t, i, offsets = bin_events(
            ev["t_us"], units, ev["offsets"], round(dt * 1e6, 6), T, n_inputs
        )
        ids = np.array([int(p.stem) if p.stem.isdigit() else -1 for p in files], dtype=np.int64)
        return EventDataset(
            t,
            i,
            offsets,
            labels,
            T,
            n_inputs,
            NMNIST.n_classes,
            list(NMNIST.class_names),
            "nmnist",
            {"id": ids},
        )

    params = {"dt": dt, "T": T, "polarity": polarity}
    return _cache.cached("nmnist", split, params, files, build, cache)
