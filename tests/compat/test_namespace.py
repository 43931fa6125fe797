"""The committed snapshot of CuPy 13.3's namespace is the real one, and the floor is enforced.

``SPIKEGRAD_CUPY_FLOOR`` names a folder holding CuPy 13.3 (``.ci/run`` makes it); without it
the snapshot check skips on a developer's machine but fails in CI (``CI`` set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import spikegrad as sg
from spikegrad import backend

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE / "cupy_13.3_namespace.json"
SCRIPT = HERE.parents[1] / "tools" / "cupy_namespace.py"


def test_snapshot_matches_the_floor_cupy(tmp_path):
    folder = os.environ.get("SPIKEGRAD_CUPY_FLOOR", "")
    if not folder or not (Path(folder) / "cupy").is_dir():
        msg = f"SPIKEGRAD_CUPY_FLOOR={folder!r} holds no CuPy (.ci/run installs CuPy 13.3 there)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    run = subprocess.run(
        [sys.executable, str(SCRIPT), folder], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    got, want = json.loads(run.stdout), json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert got["version"] == want["version"]
    for key in want:
        assert got[key] == want[key], f"{key}: the snapshot differs from CuPy {got['version']}"


def test_snapshot_is_the_floor():
    snap = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert snap["version"].startswith(backend.CUPY_MIN + ".")
    assert "put_along_axis" not in snap["cupy"] and "take_along_axis" in snap["cupy"]
    assert {"Event", "get_elapsed_time"} <= set(snap["cupy.cuda"])


def _fake_cupy(monkeypatch, version: str) -> types.ModuleType:
    fake = types.ModuleType("cupy")
    fake.__version__ = version
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


@pytest.mark.parametrize("version", ["13.0.0", "12.3.0", "13.2.99", "9.6.0"])
def test_older_cupy_is_refused_in_one_line(monkeypatch, version):
    _fake_cupy(monkeypatch, version)
    with pytest.raises(sg.BackendUnavailableError) as info:
        backend._import_cupy()
    msg = str(info.value)
    assert "\n" not in msg
    assert f"found {version}" in msg and f">= {backend.CUPY_MIN}" in msg
    assert f"pip install -U 'cupy-cuda12x>={backend.CUPY_MIN}'" in msg
    assert not backend.cupy_available()


@pytest.mark.parametrize("version", ["13.3.0", "13.6.0", "14.0.0rc1"])
def test_admitted_cupy_is_accepted(monkeypatch, version):
    fake = _fake_cupy(monkeypatch, version)
    assert backend._import_cupy() is fake


def test_floors_in_pyproject():
    text = (HERE.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"cupy-cuda12x>={backend.CUPY_MIN}"' in text
    assert '"cupy-cuda13x>=13.6"' in text
