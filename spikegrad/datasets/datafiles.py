"""Checksummed downloads with mirrors and resume, the data root, and the "data missing" message.

A download goes to ``<name>.part`` next to its final name; an interrupted transfer is resumed
with an HTTP Range request where the server allows (otherwise it restarts), and the part file
is renamed to the final name only after its MD5 matched. A failed or mismatched download thus
never replaces a good file and never leaves a partial one under the final name.

Data root: the ``root`` option, else ``$SPIKEGRAD_DATA``, else the per-user cache folder.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, TextIO

from ..errors import DataError
from ..userdirs import user_cache_dir
from .registry import DatasetInfo

CHUNK = 1 << 20
USER_AGENT = "spikegrad (dataset download)"


class MissingDataError(DataError):
    """A data set's files are not under the data root; the message says what to put where."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$SPIKEGRAD_DATA``, else the user cache."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("SPIKEGRAD_DATA")
    return Path(env).expanduser() if env else user_cache_dir() / "data"


def dataset_dir(info: DatasetInfo, root: str | os.PathLike | None = None) -> Path:
    """The folder of ``info`` under the data root: the first existing of its folder names,
    else the root itself when it is already a data set folder, else where a download goes."""
    base = data_root(root)
    for sub in info.folders:
        if (base / sub).is_dir():
            return base / sub
    if base.name in info.folders:
        return base
    return base / info.folders[0]


def missing(info: DatasetInfo, folder: Path, split: str, wanted: str) -> MissingDataError:
    """The one-line error for absent data: which files to put where, and from which URLs."""
    files = [f for f in info.files if f.split == split] or list(info.files)
    urls = "; ".join(f"{f.name}: {f.urls[0]}" for f in files)
    return MissingDataError(
        f"{info.name} ({split}) not found in {folder}: put {wanted} there "
        f"(download {urls}; or run `spikegrad datasets download {info.name}`, or set "
        f"SPIKEGRAD_DATA / the data root to the folder that holds them)"
    )


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(
        self, label: str, total: int | None, done: int, enabled: bool, out: TextIO
    ) -> None:
        self.label, self.total, self.done, self.enabled, self.out = label, total, done, enabled, out
        self.t0 = self.last = time.monotonic()
        self.start = done

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.1:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        mb = self.done / 1e6
        rate = (self.done - self.start) / 1e6 / max(now - self.t0, 1e-9)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            text = f"{self.label} [{bar:<30}] {100 * frac:5.1f}% {mb:.1f}/{self.total / 1e6:.1f} MB"
        else:
            text = f"{self.label} {mb:.1f} MB"
        self.out.write(f"\r{text} {rate:.1f} MB/s")
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.out.write("\n")
            self.out.flush()


class _Truncated(OSError):
    """The server sent fewer bytes than it announced."""


def _transfer(url: str, part: Path, progress: bool, label: str, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (Range resume where the server allows)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part may be complete
            return
        raise
    with resp:
        if resp.status == 206:
            rng = resp.headers.get("Content-Range", "")  # "bytes start-end/total"
            if not rng.startswith(f"bytes {have}-"):
                part.unlink(missing_ok=True)  # the next attempt starts over
                raise OSError(f"server resumed at {rng!r}, not at byte {have}")
        else:  # 200: the server ignores Range and sends the whole file
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = _Progress(label, total, have, progress, sys.stderr)
        try:
            with open(part, "ab" if have else "wb") as f:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
        if total is not None and part.stat().st_size < total:
            raise _Truncated(f"got {part.stat().st_size} of {total} bytes")


def fetch(
    urls: tuple[str, ...] | list[str],
    dest: Path,
    md5: str | None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``dest`` from the first URL that delivers it with MD5 ``md5`` (None: unchecked).

    An existing ``dest`` with the right MD5 is kept as is. Raises DataError naming ``dest``,
    the URLs and each failure when no URL delivers a matching file.
    """
    dest = Path(dest)
    if dest.is_file() and (md5 is None or md5sum(dest) == md5.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        try:
            _transfer(url, part, progress, dest.name, timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue  # the part file stays for a later resume
        got = md5sum(part)
        if md5 is not None and got != md5.lower():
            part.unlink()
            failures.append(f"{url}: checksum mismatch (md5 {got}, expected {md5.lower()})")
            continue
        os.replace(part, dest)
        return dest
    raise DataError(f"{dest}: download failed ({'; '.join(failures)})")


def parse_md5_list(text: str) -> dict[str, str]:
    """``md5sum`` output ("<md5>  <name>" per line) -> {name: md5}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 32:
            out[parts[1].lstrip("*").split("/")[-1]] = parts[0].lower()
    return out


def _md5_list(
    info: DatasetInfo, folder: Path, progress: bool, fetch_missing: bool
) -> dict[str, str]:
    """The data set's own checksum list (SHD's md5sums.txt), fetched once into ``folder``."""
    if not info.md5_list:
        return {}
    path = folder / info.md5_list[0].rsplit("/", 1)[-1]
    if not path.is_file():
        if not fetch_missing:
            return {}
        fetch(info.md5_list, path, None, progress)
    return parse_md5_list(path.read_text(errors="replace"))


def _unzip(archive: Path, folder: Path, split_dir: str) -> Path:
    """Extract ``archive`` into ``folder/split_dir`` through a temporary folder (atomic rename).

    An archive holding one top folder named like ``split_dir`` (Train.zip -> Train/) is
    unpacked as that folder; any other archive becomes the content of ``split_dir``.
    """
    target = folder / split_dir
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{split_dir}."))
    try:
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                p = Path(member)
                if p.is_absolute() or ".." in p.parts:
                    raise DataError(f"{archive}: unsafe path {member!r} in the archive")
            z.extractall(tmp)
        top = [p for p in tmp.iterdir() if p.name != "__MACOSX"]
        one = len(top) == 1 and top[0].is_dir() and top[0].name.lower() == split_dir.lower()
        os.replace(top[0] if one else tmp, target)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive}: not a valid zip archive ({exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_files(
    info: DatasetInfo, root: Any = None, split: str | None = None, progress: bool = True
) -> list[Path]:
    """Fetch (and unpack) the files of ``info`` (only ``split``'s if given) under the data root.

    A failure raises one DataError that also says how to install the files by hand.
    """
    folder = dataset_dir(info, root)
    folder.mkdir(parents=True, exist_ok=True)
    files = [f for f in info.files if split is None or f.split == split]
    out = []
    try:
        for f in files:
            md5 = f.md5 or _md5_list(info, folder, progress, fetch_missing=True).get(f.name)
            if md5 is None:
                raise DataError(f"{folder / 'md5sums.txt'}: no checksum listed for {f.name}")
            path = fetch(f.urls, folder / f.name, md5, progress)
            if f.unpack == "zip":
                path = _unzip(path, folder, Path(f.name).stem)
            out.append(path)
    except DataError as exc:
        by_hand = ", ".join(
            f"{f.name} ({f.urls[0]}{'; unzip it there' if f.unpack else ''})" for f in files
        )
        raise DataError(f"{exc}; to install by hand put {by_hand} into {folder}") from exc
    return out


def verify_files(info: DatasetInfo, root: Any = None) -> dict[str, dict[str, Any]]:
    """Per registry file: path, present, size, md5, expected md5, md5_ok (None if unknown)."""
    folder = dataset_dir(info, root)
    out = {}
    for f in info.files:
        path = folder / f.name
        present = path.is_file()
        want = f.md5 or _md5_list(info, folder, progress=False, fetch_missing=False).get(f.name)
        got = md5sum(path) if present else None
        out[f.name] = {
            "path": path,
            "present": present,
            "size": path.stat().st_size if present else None,
            "md5": got,
            "expected_md5": want,
            "md5_ok": None if not present or want is None else got == want,
        }
    return out
