"""Install forms: what a wheel ships, and the checkout's spikegrad finding the top-level cli/.

* The wheel, built from a copy of the project's files as ``pip install .`` builds it, holds
  every file of ``spikegrad/`` (every package, i.e. folder with an ``__init__.py``, with all
  of its modules; every kernel source ``*.cu``, ``*.cuh``, ``*.h``, ``*.c``; in short every
  file git tracks there), the top-level ``cli/`` as ``spikegrad.cli`` and the console script;
  and nothing of tools/ or tests/.
* With ``SPIKEGRAD_TEST_INSTALLED=1`` (CI, after installing the wheel): the tests import the
  installed spikegrad, not the checkout's ``spikegrad/`` or ``cli/``.
* After ``pip install .`` (not editable) a ``python -m pytest`` run in the checkout imports the
  checkout's spikegrad/ (the current folder comes first), which has no cli/ of its own: it
  must still find ``spikegrad.cli`` in the top-level ``cli/`` folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _installed_path(rel: str) -> str | None:
    """Where a project file (path relative to the root) lands in the wheel, or None."""
    top, _, rest = rel.partition("/")
    return {"spikegrad": f"spikegrad/{rest}", "cli": f"spikegrad/cli/{rest}"}.get(top)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[zipfile.ZipFile, list[str]]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the wheel is built from its tracked files)")
    src = tmp_path_factory.mktemp("src")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    res = subprocess.run(
        [*cmd, "--no-index", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (whl,) = out.glob("spikegrad-*.whl")
    return zipfile.ZipFile(whl), [rel for rel in listed if (src / rel).is_file()]


def test_wheel_ships_every_package_and_kernel_source(wheel):
    whl, project_files = wheel
    names = set(whl.namelist())
    expected = {p for rel in project_files if (p := _installed_path(rel))}
    packages = {p.rsplit("/", 1)[0] for p in expected if p.endswith("/__init__.py")}
    assert {"spikegrad", "spikegrad/cli", "spikegrad/layers"} <= packages
    assert any(p.endswith(".cu") for p in expected) and any(p.endswith(".h") for p in expected)
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if n.startswith(("tools/", "tests/", "cli/"))]


def test_wheel_has_the_console_script(wheel):
    whl, _ = wheel
    (ep,) = [n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "spikegrad = spikegrad.cli:main" in whl.read(ep).decode()


@pytest.mark.skipif(
    not os.environ.get("SPIKEGRAD_TEST_INSTALLED"),
    reason="SPIKEGRAD_TEST_INSTALLED=1 checks that the installed package is under test",
)
def test_the_installed_package_is_under_test():
    import spikegrad.cli

    import spikegrad

    for mod, src in ((spikegrad, ROOT / "spikegrad"), (spikegrad.cli, ROOT / "cli")):
        path = Path(mod.__file__).resolve()
        assert not path.is_relative_to(src), f"{mod.__name__} imported from the checkout: {path}"


PROBE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in str(getattr(f, "__module__", ""))]
sys.path.insert(0, sys.argv[1])
import spikegrad, spikegrad.cli, spikegrad.cli.train
print(spikegrad.__file__)
print(spikegrad.cli.__file__)
print(spikegrad.cli.train.__file__)
"""


def test_checkout_package_finds_the_top_level_cli_without_an_editable_install(tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    files = [Path(line) for line in res.stdout.splitlines()]
    assert files == [
        ROOT / "spikegrad" / "__init__.py",
        ROOT / "cli" / "__init__.py",
        ROOT / "cli" / "train.py",
    ]
