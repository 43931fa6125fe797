"""tools/gpu_check.sh: valid bash, every step under a timeout, the timeouts within 5 minutes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_syntax():
    res = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_steps_and_time_budget():
    text = SCRIPT.read_text()
    lines = [ln.split("#")[0] for ln in text.splitlines()]
    code = "\n".join(lines)
    budget = 0
    for m in re.finditer(r"\btimeout (?:-k (\d+) )?(\d+)", code):
        budget += int(m.group(1) or 0) + int(m.group(2))
    limits = [int(m.group(1)) for m in re.finditer(r"^\s*step \"[^\"]+\" (\d+) ", code, re.M)]
    assert len(limits) == 4  # benchmark, recurrent timing, training speed, NCCL
    budget += sum(limits) + 2 * len(limits)  # step() runs `timeout -k 2 LIMIT`
    assert 0 < budget < 300, budget
    for needed in ("pytest -q -m gpu", "spikegrad.bench.gpu", "tools/train_speed.py"):
        assert needed in code
    tools = set(re.findall(r"\btools/[\w.]+", code))
    assert len(tools) == 3 and all((SCRIPT.parents[1] / t).is_file() for t in tools), tools
    for cmd in re.findall(r"^\s*(python .*|nvidia-smi.*)$", code, re.M):
        pytest.fail(f"a command without a timeout: {cmd}")
    assert "exit 2" in code and "$OUT" in code
