"""The kernel ops are registered from one table when the kernels package loads, without CuPy,
and the backend seam does not import the kernels (no import circle)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

from spikegrad import backend
from spikegrad.kernels import host, launch

SRC = Path(backend.__file__).resolve().parent


def test_every_table_op_is_registered_for_cupy():
    for op, fn in host.OPS.items():
        reg = backend._REGISTRY[(op, "cupy")]
        assert reg.func is fn and reg.args == (launch.LAUNCH,)
        assert (op, "numpy") in backend._REGISTRY, f"{op} has no NumPy twin"


def _required(fn) -> list[str]:
    return [
        n
        for n, p in inspect.signature(fn).parameters.items()
        if p.default is inspect.Parameter.empty
    ]


def test_table_ops_take_the_twins_arguments():
    """Same required arguments, in order (tuning keywords such as a variant may differ)."""
    for op, fn in host.OPS.items():
        assert _required(fn)[1:] == _required(backend._REGISTRY[(op, "numpy")]), op


def test_import_registers_without_cupy():
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "import spikegrad\n"
        "from spikegrad import backend\n"
        "assert ('lif_forward', 'cupy') in backend._REGISTRY\n"
        "assert 'cupy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_imports_no_kernels():
    tree = ast.parse((SRC / "backend.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert "kernels" not in (node.module or ""), "backend.py must not import kernels"
            assert all("kernels" not in a.name for a in node.names)
