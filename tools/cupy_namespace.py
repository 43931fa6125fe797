"""Print the namespace of a CuPy installation as JSON (the snapshot of tests/compat).

The project admits CuPy >= 13.3 (``spikegrad.backend.CUPY_MIN``). Code that may hold CuPy
arrays must use only names that exist there; tests/compat checks that statically against
``tests/compat/cupy_13.3_namespace.json``, and its fake CuPy exposes only those names.
Regenerate the snapshot (no GPU needed; CuPy imports without a driver) with::

    pip install --no-deps --target DIR cupy-cuda12x==13.3.0 fastrlock
    python tools/cupy_namespace.py DIR > tests/compat/cupy_13.3_namespace.json

Recorded: the public module-level names of ``cupy`` and ``cupy.cuda``, the attributes of
``cupy.ndarray`` (operators included) and of ``cupy.cuda.Event`` / ``cupy.cuda.Stream``
(timing with CUDA events).
"""

from __future__ import annotations

import json
import sys


def namespace(folder: str) -> dict:
    """The names of the CuPy found first on ``sys.path`` after putting ``folder`` in front."""
    sys.path.insert(0, folder)
    import cupy

    def public(obj: object) -> list[str]:
        return sorted(n for n in dir(obj) if not n.startswith("_"))

    def attrs(cls: type) -> list[str]:
        return sorted(n for n in dir(cls) if not n.startswith("_") or n.endswith("__"))

    return {
        "version": cupy.__version__,
        "cupy": public(cupy),
        "cupy.cuda": public(cupy.cuda),
        "cupy.ndarray": attrs(cupy.ndarray),
        "cupy.cuda.Event": attrs(cupy.cuda.Event),
        "cupy.cuda.Stream": attrs(cupy.cuda.Stream),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(namespace(argv[0]), sys.stdout, indent=0, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
