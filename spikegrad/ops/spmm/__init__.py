"""The spike-event products h = x W and dW = x^T e. The NumPy twins (``twin.py``) are the
reference; ``glue.py`` registers the native C and CUDA kernels beside them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    check_spike_matmul,
    check_spike_tmatmul,
    spike_matmul,
    spike_tmatmul,
)

__all__ = [
    "check_spike_matmul",
    "check_spike_tmatmul",
    "spike_matmul",
    "spike_tmatmul",
]
