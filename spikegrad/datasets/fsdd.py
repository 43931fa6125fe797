"""Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` recordings -> cochlea spikes.

A folder of wav files (or one holding them under ``recordings/``), mono 16-bit PCM at 8 kHz.
The official split (the data set's README): index 0-4 is the test set, 5-49 the training set.
Each recording goes through :func:`spikegrad.audio.encode` (SHD's cochlea chain: 700
channels; ``pool`` > 1 sums groups of adjacent channels into one input), and the spikes are
binned at ``dt`` into T steps like SHD's. The encoded events are cached (key: every file's
path, size and mtime plus the encoding options). Per-sample extras: ``speaker`` (index into
the folder's speakers, sorted), ``speaker_name`` and ``index`` (the recording's number).
"""

from __future__ import annotations

import math
import os
import re
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from . import cache as _cache
from .base import EventDataset
from .binning import index_dtype
from .datafiles import missing
from .registry import FSDD

NAME = re.compile(r"^(\d)_([A-Za-z][A-Za-z0-9-]*)_(\d+)\.wav$")
RATE = 8000  # Hz: FSDD's rate; other rates are resampled to it
TEST_INDEX = range(5)  # the official test split: index 0-4
RARE = 0.01  # the longest files, encoded in the parent (encode_files)


def recordings_dir(folder: Path) -> Path:
    """``folder/recordings`` when it holds wav files, else ``folder``."""
    sub = Path(folder) / "recordings"
    return sub if sub.is_dir() and any(sub.glob("*.wav")) else Path(folder)


def parse_name(path: Path) -> tuple[int, str, int]:
    """(digit, speaker, index) of an FSDD file name, or DataError naming the file."""
    m = NAME.match(path.name)
    if m is None:
        raise DataError(
            f"{path}: unexpected file name; FSDD files are {{digit}}_{{speaker}}_{{index}}.wav"
        )
    return int(m.group(1)), m.group(2), int(m.group(3))


def find_files(folder: Path, split: str) -> tuple[list[Path], list[str]]:
    """The wav files of ``split`` in ``folder`` (sorted by name) and every speaker found there.

    MissingDataError when the folder holds no file of the split; DataError for a wav file
    whose name is not ``{digit}_{speaker}_{index}.wav``.
    """
    where = recordings_dir(folder)
    paths = sorted(where.glob("*.wav")) if where.is_dir() else []
    parsed = [(p, *parse_name(p)) for p in paths]
    speakers = sorted({s for _, _, s, _ in parsed})
    test = split == "test"
    mine = [p for p, _, _, idx in parsed if (idx in TEST_INDEX) == test]
    if not mine:
        rng = "0-4" if test else "5-49"
        raise missing(
            FSDD,
            where,
            split,
            f"the {split} recordings {{digit}}_{{speaker}}_{{index}}.wav (index {rng})",
        )
    return mine, speakers


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples (N,) float64 in [-1, 1) and the sample rate of a mono PCM wav file.

    DataError naming the file: not RIFF/WAVE, compressed or non-PCM, several channels,
    truncated, or an unsupported sample width.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise DataError(f"{path}: not a RIFF/WAVE file")
        with wave.open(str(path), "rb") as w:
            n_ch, width, rate, n = (
                w.getnchannels(),
                w.getsampwidth(),
                w.getframerate(),
                w.getnframes(),
            )
            raw = w.readframes(n)
    except wave.Error as exc:
        raise DataError(f"{path}: unreadable wav ({exc}; only uncompressed PCM is read)") from None
    except EOFError:
        raise DataError(f"{path}: truncated wav file (header incomplete)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if n_ch != 1:
        raise DataError(f"{path}: {n_ch} channels; FSDD recordings are mono")
    if len(raw) != n * width:
        raise DataError(f"{path}: truncated wav file ({len(raw) // width} of {n} samples present)")
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) / 128
    elif width in (2, 4):
        x = np.frombuffer(raw, f"<i{width}").astype(np.float64) / 2.0 ** (8 * width - 1)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / 2.0**23
    else:
        raise DataError(f"{path}: unsupported sample width {width} bytes")
    if rate <= 0:
        raise DataError(f"{path}: sample rate {rate} Hz")
    return x, rate


def to_rate(x: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """``x`` resampled from ``rate`` to ``target`` Hz (polyphase, scipy), unchanged if equal."""
    if rate == target:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(x, target // g, rate // g)


def _encode_file(job: tuple[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """One file -> its binned events (steps, pooled units); runs in a worker process."""
    from ..audio import encode_binned

    path, o = job
    x, rate = read_wav(Path(path))
    t, i = encode_binned(
        to_rate(x, rate, o["rate"]),
        o["rate"],
        o["dt"],
        o["T"],
        n_channels=o["channels"],
        pool=o["pool"],
        seed=o["seed"],
    )
    return t.astype(index_dtype(o["T"])), i.astype(index_dtype(o["channels"] // o["pool"]))


def _frames(path: Path, rate: int) -> int:
    """Samples of ``path`` at ``rate`` after resampling (0 when the header is unreadable)."""
    try:
        with wave.open(str(path), "rb") as w:
            return -(-w.getnframes() * rate // max(w.getframerate(), 1))
    except (wave.Error, EOFError, OSError):
        return 0


def encode_files(paths: list[Path], opts: dict, jobs: int | None = None) -> list[tuple]:
    """Encode every file in ``paths`` (in order), on ``jobs`` processes (None: the cores this
    process may use). The membrane's transfer functions are computed once, the longest first
    (the shorter ones are every 2^j-th column of it): before forking, those of the FFT lengths
    of 99 % of the files; the few longer files (``RARE``) are encoded in this process, with
    their longer transfer functions, while the workers run."""
    from ..audio import Cochlea, cochlea

    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    c = Cochlea(n_channels=opts["channels"])
    rate = opts["rate"]
    sizes = [cochlea.fft_size(_frames(p, rate), rate, c.decimate) for p in paths]
    pool_work = jobs > 1 and len(paths) >= 8
    cut = sorted(sizes)[int((1 - RARE) * (len(sizes) - 1))] if pool_work else max(sizes, default=0)
    for n in sorted({n for n in sizes if n <= cut}, reverse=True):
        cochlea.transfer(c, n, float(rate))
    if not pool_work:
        return [_encode_file((str(p), opts)) for p in paths]
    here = [k for k, n in enumerate(sizes) if n > cut]
    there = [k for k, n in enumerate(sizes) if n <= cut]
    out: list[tuple] = [()] * len(paths)
    with ProcessPoolExecutor(jobs) as pool:
        done = pool.map(_encode_file, [(str(paths[k]), opts) for k in there], chunksize=16)
        for n in sorted({sizes[k] for k in here}, reverse=True):
            cochlea.transfer(c, n, float(rate))
        for k in here:
            out[k] = _encode_file((str(paths[k]), opts))
        for k, events in zip(there, done, strict=True):
            out[k] = events
    return out


def load_fsdd(
    folder: Path,
    split: str,
    dt: float,
    T: int,
    channels: int = 700,
    pool: int = 1,
    seed: int = 0,
    rate: int = RATE,
    cache: object = True,
) -> EventDataset:
    """FSDD ``split`` from ``folder``: cochlea spikes of ``channels`` channels summed in groups
    of ``pool``, binned at ``dt`` s into T steps (cached). ``rate``: the sample rate (Hz) the
    recordings are resampled to before the cochlea (8000: as recorded)."""
    if channels % pool:
        raise ConfigError(f"fsdd: pool ({pool}) must divide channels ({channels})")
    paths, speakers = find_files(folder, split)
    n_in = channels // pool
    opts = {"channels": channels, "pool": pool, "seed": seed, "dt": dt, "T": T, "rate": rate}

    def build() -> EventDataset:
        meta = [parse_name(p) for p in paths]
        events = encode_files(paths, opts)
        off = np.zeros(len(paths) + 1, np.int64)
        np.cumsum([t.size for t, _ in events], out=off[1:])
        t = np.concatenate([e[0] for e in events] + [np.zeros(0, index_dtype(T))])
        i = np.concatenate([e[1] for e in events] + [np.zeros(0, index_dtype(n_in))])
        return EventDataset(
            t,
            i,
            off,
            np.array([d for d, _, _ in meta], np.int64),
            T,
            n_in,
            FSDD.n_classes,
            list(FSDD.class_names),
            "fsdd",
            {
                "speaker": np.array([speakers.index(s) for _, s, _ in meta], np.int64),
                "speaker_name": np.array([s for _, s, _ in meta], dtype=str),
                "index": np.array([k for _, _, k in meta], np.int64),
            },
        )

    # v: the encoding's version (3: the membrane fitted to lauscher's, on its time grid)
    params = {"dt": dt, "T": T, "channels": channels, "pool": pool, "seed": seed, "v": 3}
    if rate != RATE:
        params["rate"] = rate
    ds = _cache.cached("fsdd", split, params, paths, build, cache)
    ds.class_names = list(FSDD.class_names)
    return ds


def speakers_of(folder: Path) -> list[str]:
    """The speakers of the FSDD files in ``folder``, sorted (the ``speaker`` extra's names)."""
    paths = sorted(recordings_dir(folder).glob("*.wav"))
    return sorted({parse_name(p)[1] for p in paths})


def speaker_split(ds: EventDataset, speaker: str | int) -> tuple[EventDataset, EventDataset]:
    """(train, validation) with every recording of ``speaker`` (a name, or an id of the
    ``speaker`` extra) in validation."""
    key = "speaker" if isinstance(speaker, (int, np.integer)) else "speaker_name"
    ids = ds.extra.get(key)
    if ids is None:
        raise ConfigError(f"{ds.name}: no speakers to hold one out")
    held = ids == speaker
    if not held.any():
        known = ", ".join(str(v) for v in np.unique(ids))
        raise ConfigError(f"val_speaker must be one of {known}; got {speaker!r}")
    return ds.subset(np.flatnonzero(~held)), ds.subset(np.flatnonzero(held))


def verify_split(folder: Path, split: str) -> dict:
    """One split's files: present, layout "wav", n_files, bad_sizes (unreadable files, and
    files whose SHA-256 differs from a ``SHA256SUMS`` list beside them), md5_ok None."""
    import hashlib

    try:
        paths, _ = find_files(folder, split)
    except DataError as exc:
        return {"path": folder, "present": False, "md5_ok": None, "error": str(exc)}
    sums = {}
    for lst in (Path(folder) / "SHA256SUMS", recordings_dir(folder) / "SHA256SUMS"):
        if lst.is_file():
            for line in lst.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2:
                    sums[Path(parts[1].lstrip("*")).name] = parts[0].lower()
            break
    bad = []
    for p in paths:
        try:
            read_wav(p)
        except DataError as exc:
            bad.append(str(exc))
            continue
        want = sums.get(p.name)
        if want and hashlib.sha256(p.read_bytes()).hexdigest() != want:
            bad.append(f"{p}: SHA-256 differs from SHA256SUMS")
    return {
        "path": recordings_dir(folder),
        "present": True,
        "md5_ok": None,
        "layout": "wav" + (", SHA256SUMS checked" if sums else ""),
        "n_files": len(paths),
        "bad_sizes": len(bad),
        "problems": bad,
    }
