"""Spike events and sorted flat keys to the time-major CSR spike pattern. The NumPy twins
(``twin.py``) are the reference; ``glue.py`` registers the native C and CUDA kernels beside
them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    check_events,
    check_keys,
    events_to_csr,
    keys_to_csr,
)

__all__ = [
    "check_events",
    "check_keys",
    "events_to_csr",
    "keys_to_csr",
]
