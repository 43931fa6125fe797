"""Adam with bias correction and decoupled weight decay (ALGORITHM.md §6). The NumPy twins
(``twin.py``) are the reference; ``glue.py`` registers the native C and CUDA kernels beside
them.
"""

from . import glue  # noqa: F401  (registers the kernels)
from .twin import (
    adam_update,
    adam_update_multi,
    check_adam_update_multi,
)

__all__ = [
    "adam_update",
    "adam_update_multi",
    "check_adam_update_multi",
]
