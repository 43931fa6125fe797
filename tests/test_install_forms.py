"""Install forms: the checkout's spikegrad finds spikegrad.cli in the top-level cli/ folder.

After ``pip install .`` (not editable) the README's ``python -m pytest`` run in the checkout
imports the checkout's spikegrad/ (the current folder comes first), which has no cli/ of its
own. This imports it that way with no editable-install finder, as a non-editable install does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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
