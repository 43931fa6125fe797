"""The cochlea front end's hair cells and bushy cells (op ``cochlea_hair_bushy``, used by
:mod:`spikegrad.audio`): the NumPy twin (``twin.py``, the reference) and the native C kernel
(``cpu.h``, registered by ``glue.py``); NumPy arrays only.
"""

from . import glue  # noqa: F401  (registers the kernel)
from .twin import binomial_ratios, check_cochlea_hair_bushy, hair_bushy_numpy

__all__ = ["binomial_ratios", "check_cochlea_hair_bushy", "hair_bushy_numpy"]
