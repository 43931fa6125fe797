"""Dense 0/1 engine input to the time-major CSR spike pattern. The NumPy twins (``twin.py``)
are the reference; ``glue.py`` registers the native C and CUDA kernels beside them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    INDEX_MAX,
    check_n,
    check_nnz,
    dense_to_csr,
)

__all__ = [
    "INDEX_MAX",
    "check_n",
    "check_nnz",
    "dense_to_csr",
]
