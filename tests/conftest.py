"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["native", "numpy"])
def cpu_kernels(request):
    """Run a test on the native C kernels and on the pure NumPy twins."""
    from spikegrad import native

    if request.param == "native" and not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")
    with native.mode("auto" if request.param == "native" else "0"):
        yield request.param
