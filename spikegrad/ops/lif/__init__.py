"""The feed-forward LIF layer's ops (ALGORITHM.md §2, §4, §5): the scan, the fused sparse
forward and backward, the dense BPTT reference and the sampled row dot products. The NumPy
twins (``twin.py``) are the reference; ``glue.py`` registers the native C and CUDA kernels
beside them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    as_alpha,
    check_gather_rowdot,
    check_lif_backward_dense,
    check_lif_forward,
    check_spike_backward,
    check_spike_forward,
    gather_rowdot,
    lif_backward_dense,
    lif_backward_sparse,
    lif_forward,
    lif_forward_sparse,
    lif_forward_sparse_spikes,
)

__all__ = [
    "as_alpha",
    "check_gather_rowdot",
    "check_lif_backward_dense",
    "check_lif_forward",
    "check_spike_backward",
    "check_spike_forward",
    "gather_rowdot",
    "lif_backward_dense",
    "lif_backward_sparse",
    "lif_forward",
    "lif_forward_sparse",
    "lif_forward_sparse_spikes",
]
