r"""Fashion-MNIST: IDX files (raw or ``.gz``, official names) and the paper's latency encoding.

IDX: magic ``0x0000TTDD`` (TT the element type, DD the number of dimensions), DD big-endian
uint32 sizes, then the elements row-major. Images are ``0x00000803`` (n, 28, 28) uint8,
labels ``0x00000801`` (n,) uint8.

Latency encoding (PAPER.md §3): a pixel x = value / 255 spikes once, at step

.. math:: t(x) = \lfloor \tau_{eff} \ln \frac{x}{x - thr} \rfloor \quad (x > thr),

kept only if t(x) < T; pixels at or below thr never spike. With tau_eff = 20 steps, thr = 0.2,
T = 100: x = 1 spikes at step 4 and a pixel spikes iff x > 0.2 e^5 / (e^5 - 1) = 0.20136.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from . import cache as _cache
from .base import EventDataset
from .binning import index_dtype
from .datafiles import missing
from .registry import FMNIST

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIX = {"train": "train", "test": "t10k"}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801


def idx_file(folder: Path, split: str, kind: str) -> Path:
    """``<train|t10k>-<images-idx3|labels-idx1>-ubyte`` in ``folder``, raw or ``.gz``."""
    stem = f"{_PREFIX[split]}-{kind}-ubyte"
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise missing(FMNIST, folder, split, f"{stem}.gz (or {stem})")


def read_idx(path: Path, magic: int | None = None) -> np.ndarray:
    """An IDX array; refuses a wrong magic number or a size that does not match the header."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from exc
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    got = int.from_bytes(raw[:4], "big")
    zero, code, ndim = got >> 16, (got >> 8) & 0xFF, got & 0xFF
    if zero or code not in _IDX_TYPES or (magic is not None and got != magic):
        want = f"0x{magic:08x}" if magic is not None else "an IDX magic"
        raise DataError(f"{path}: wrong magic number 0x{got:08x} (expected {want})")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"{path}: header truncated ({len(raw)} bytes, need {head})")
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    want = head + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != want:
        raise DataError(f"{path}: {len(raw)} bytes but the header {shape} needs {want}")
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)


def latency_encode(
    x: np.ndarray, T: int = 100, tau_eff: float = 20.0, thr: float = 0.2, vmax: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One spike per pixel of v = x / vmax at floor(tau_eff ln(v / (v - thr))) for v > thr, if < T.

    Works through the samples in chunks (bounded memory for uint8 input with vmax = 255).

    Shapes: x (n, N) -> t, i (E,) compact unsigned ints sorted by (sample, i), offsets (n + 1,).
    """
    x = np.asarray(x)
    n, N = x.shape
    ts, us, counts = [], [], []
    for lo in range(0, n, 8192):
        v = np.asarray(x[lo : lo + 8192], dtype=np.float64) / vmax
        s, i = np.nonzero(v > thr)
        v = v[s, i]
        t = np.floor(tau_eff * np.log(v / (v - thr)))
        keep = t < T
        ts.append(t[keep].astype(index_dtype(T)))
        us.append(i[keep].astype(index_dtype(N)))
        counts.append(np.bincount(s[keep], minlength=min(8192, n - lo)))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.concatenate([*counts, np.zeros(0, np.int64)]), out=offsets[1:])
    t = np.concatenate([*ts, np.zeros(0, index_dtype(T))])
    return t, np.concatenate([*us, np.zeros(0, index_dtype(N))]), offsets


def read_fmnist(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) int64 of ``split`` in ``folder``, checked."""
    ip, lp = idx_file(folder, split, "images-idx3"), idx_file(folder, split, "labels-idx1")
    images, labels = read_idx(ip, IMAGES_MAGIC), read_idx(lp, LABELS_MAGIC).astype(np.int64)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{ip}: images must be 28 x 28; got {images.shape[1:]}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{lp}: {labels.shape[0]} labels for {images.shape[0]} images in {ip.name}")
    if labels.size and labels.max() >= FMNIST.n_classes:
        raise DataError(f"{lp}: labels outside 0..{FMNIST.n_classes - 1} (found {labels.max()})")
    return images, labels


def load_fmnist(
    folder: Path,
    split: str,
    T: int = 100,
    tau_eff: float = 20.0,
    thr: float = 0.2,
    cache: object = True,
) -> EventDataset:
    """Fashion-MNIST ``split`` from ``folder``, latency-encoded into T steps (cached)."""
    if not (tau_eff > 0 and 0 <= thr < 1):
        raise ConfigError(f"need tau_eff > 0 and 0 <= thr < 1; got {tau_eff}, {thr}")
    paths = [idx_file(folder, split, "images-idx3"), idx_file(folder, split, "labels-idx1")]

    def build() -> EventDataset:
        images, labels = read_fmnist(folder, split)
        t, i, offsets = latency_encode(images.reshape(len(images), -1), T, tau_eff, thr, vmax=255.0)
        return EventDataset(
            t,
            i,
            offsets,
            labels,
            T,
            FMNIST.n_inputs,
            FMNIST.n_classes,
            list(FMNIST.class_names),
            "fmnist",
            {"index": np.arange(len(labels), dtype=np.int64)},
        )

    params = {"T": T, "tau_eff": tau_eff, "thr": thr}
    return _cache.cached("fmnist", split, params, paths, build, cache)
