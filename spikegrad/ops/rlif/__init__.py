"""The recurrent LIF layer's ops (ALGORITHM.md §2, event form, and §4). The NumPy twins
(``twin.py``) are the reference; ``glue.py`` registers the native C and CUDA kernels beside
them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    rlif_backward_dense,
    rlif_backward_sparse,
    rlif_forward,
    rlif_forward_sparse_spikes,
)

__all__ = [
    "rlif_backward_dense",
    "rlif_backward_sparse",
    "rlif_forward",
    "rlif_forward_sparse_spikes",
]
