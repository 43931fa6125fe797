"""The spike-count regulariser at its kinks (ALGORITHM.md §2), against a plain loop."""

import math

import numpy as np
import pytest

from spikegrad.loss import RegParams, spike_count_reg


def _plain(counts: np.ndarray, p: RegParams) -> tuple[float, np.ndarray]:
    """Straightforward per-sample, per-neuron loops with the convention written out."""
    B, N = counts.shape
    loss, grad = 0.0, np.zeros((B, N))
    for b in range(B):
        r = sum(int(c) for c in counts[b]) / N - p.f_up
        if r > 0:
            loss += p.lambda_up * r**p.p_up
            d = p.lambda_up * p.p_up * r ** (p.p_up - 1) / N
        elif r == 0:
            d = p.lambda_up / N if p.p_up == 1 else 0.0  # clamp(r, min=0) ** p_up
        else:
            d = 0.0
        for j in range(N):
            low = max(0.0, p.f_low - float(counts[b, j]))
            loss += p.lambda_low / N * low * low
            grad[b, j] = (d - 2 * p.lambda_low / N * low) / B
    return loss / B, grad


@pytest.mark.parametrize("p_up", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_upper_kink_follows_the_convention(p_up, dtype):
    # N = 4, f_up = 2: sample 0 sits exactly at the kink (8 spikes), 1 above, 2 below
    counts = np.array([[2, 2, 3, 1], [4, 3, 2, 0], [1, 1, 1, 1]])
    p = RegParams(lambda_up=0.06, f_up=2.0, p_up=p_up, lambda_low=100.0, f_low=1e-3)
    loss, grad = spike_count_reg(counts, p, dtype)
    want_loss, want = _plain(counts, p)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, want, rtol=tol, atol=tol * 1e-3)
    assert math.isclose(float(loss), want_loss, rel_tol=tol)
    kink = grad[0] - grad[0].min()  # the upper term is the same for every neuron of a sample
    expected = 0.06 / 4 / 3 if p_up == 1 else 0.0
    assert grad[0].max() == pytest.approx(expected, rel=tol, abs=1e-12) and not kink.any()


def test_lower_kink_has_zero_derivative():
    # f_low = 1: neurons with exactly one spike sit at the lower kink
    counts = np.array([[1, 0, 1, 2], [1, 1, 1, 1]])
    p = RegParams(lambda_up=0.06, f_up=5.0, p_up=1.0, lambda_low=100.0, f_low=1.0)
    loss, grad = spike_count_reg(counts, p, np.float64)
    want_loss, want = _plain(counts, p)
    np.testing.assert_allclose(grad, want, rtol=1e-9, atol=1e-15)
    assert math.isclose(float(loss), want_loss, rel_tol=1e-9)
    assert grad[0, 0] == 0 and grad[1].tolist() == [0, 0, 0, 0] and grad[0, 1] < 0
