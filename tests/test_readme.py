"""The README's API example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_api_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    assert ns["scores"].shape == (8, 20)
    assert set(ns["grads"]) == {"W1", "W2", "W_out"}
    assert ns["stats"]["retained_bytes"] > 0


def test_readme_recurrent_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "recurrent=True" in b]
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)
    assert ns["net"].recurrent == [True, False]
    assert ns["taus"].min() > 0 and ns["taus"].max() < 1
    assert ns["net"].neurons == ["alif", "lif"]  # the layer records' kinds
