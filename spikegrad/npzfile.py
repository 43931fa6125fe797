"""Versioned ``.npz`` files (checkpoints, model files): a JSON ``meta`` record plus arrays.

Writes are atomic (a temporary file in the same folder, fsync, then rename), so a crash never
leaves half a file. Reads allow no pickled objects and turn every way a file can be wrong
(missing, not a zip, truncated, another program's archive, another spikegrad format, a newer
version) into one :class:`DataError` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import DataError


def atomic_write(path: str | Path, fill: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` with the bytes ``fill(f)`` writes to a temporary file in the same
    folder, which then replaces ``path`` (an old file survives any failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w+b") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_npz(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``meta`` (as JSON under the key ``meta``) and ``arrays`` to ``path`` atomically."""
    return atomic_write(path, lambda f: np.savez(f, meta=np.array(json.dumps(meta)), **arrays))


def file_format(path: str | Path) -> str | None:
    """The ``format`` named in the ``meta`` record of ``path`` (None for any other file)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return meta.get("format") if isinstance(meta, dict) else None


def read_npz(
    path: str | Path, what: str, fmt: str, version: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``meta`` record and the arrays of a file written by :func:`write_npz`.

    ``what`` names the kind of file in messages ("checkpoint", "model file"); ``meta`` must
    carry ``format`` == ``fmt`` and an integer ``version`` <= ``version``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such {what}")
    bad = f"{path}: corrupt or not a spikegrad {what}"
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        if not zipfile.is_zipfile(path):
            why = "not a .npz (zip) archive"
        elif isinstance(exc, KeyError):
            why = "no 'meta' record"
        elif "pickle" in str(exc):
            why = "it holds Python objects, which spikegrad never writes"
        else:
            why = f"unreadable contents: {type(exc).__name__}"
        raise DataError(f"{bad} ({why})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise DataError(f"{path}: not a spikegrad {what}")
    try:
        have = int(meta["version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{bad} (meta record: bad or missing {exc})") from None
    if have > version:
        raise DataError(
            f"{path}: {what} format version {have} is newer than this spikegrad reads "
            f"({version}); upgrade spikegrad"
        )
    return meta, arrays
