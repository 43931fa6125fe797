"""Dense 0/1 input on the fake CuPy 13.3: the xp-generic twin of ``dense_to_csr`` runs on
device arrays (no CuPy kernel is registered), host input for a device network is converted on
the host; both give the host result."""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg
from spikegrad.ops import dense_input as di
from spikegrad.spikes import as_spike_matrix


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float32])
def test_device_and_host_input_match_the_host_result(fake_cp, rng, dtype):
    x = (rng.random((3, 7, 20)) < 0.3).astype(dtype)
    want = di.dense_to_csr(x)
    for got in (as_spike_matrix(fake_cp, fake_cp.asarray(x), 20), as_spike_matrix(fake_cp, x, 20)):
        assert isinstance(got.indptr, fake_cp.ndarray) and isinstance(got.indices, fake_cp.ndarray)
        assert got.indptr.dtype == got.indices.dtype == np.int32
        np.testing.assert_array_equal(got.indptr.get(), want[0])
        np.testing.assert_array_equal(got.indices.get(), want[1])


def test_device_input_other_values_are_refused(fake_cp):
    x = np.zeros((2, 3, 5), np.float32)
    x[1, 2, 4] = np.nan
    with pytest.raises(sg.InputError, match="found nan"):
        as_spike_matrix(fake_cp, fake_cp.asarray(x), 5)
