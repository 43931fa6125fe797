"""The leaky readout, class scores, cross-entropy (ALGORITHM.md §2) and the leaky scans of the
readout and eps filters. The NumPy twins (``twin.py``) are the reference; ``glue.py`` registers
the native C and CUDA kernels beside them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    READOUTS,
    check_leaky_scan_reverse,
    cross_entropy,
    leaky_scan,
    leaky_scan_reverse,
    readout_filter_backward,
    readout_scores,
    readout_scores_backward,
)

__all__ = [
    "READOUTS",
    "check_leaky_scan_reverse",
    "cross_entropy",
    "leaky_scan",
    "leaky_scan_reverse",
    "readout_filter_backward",
    "readout_scores",
    "readout_scores_backward",
]
