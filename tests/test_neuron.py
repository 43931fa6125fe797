"""heterogeneous_alpha: the distribution of the drawn taus, spread 0, determinism, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from spikegrad.errors import BadValueError
from spikegrad.neurons.lif import heterogeneous_alpha

DT, TAU = 1e-3, 20e-3


def _taus(alpha: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # alpha 0 (tau below dt / 745) is tau 0
        return -DT / np.log(alpha)


@pytest.mark.parametrize("spread", [0.2, 1 / math.sqrt(3), 1.0])
def test_mean_and_cv_of_a_large_draw(spread):
    tau = _taus(heterogeneous_alpha(TAU, spread, DT, 200_000, np.random.default_rng(1)))
    # standard errors at n = 2e5: mean ~ spread/450, CV ~ spread/300 relative; 1 % and 2 % are wide
    assert tau.mean() == pytest.approx(TAU, rel=0.01)
    assert tau.std() / tau.mean() == pytest.approx(spread, rel=0.02)
    k = 1 / spread**2  # and it is the Gamma of that mean and CV (not just its two moments)
    assert stats.kstest(tau[:20_000], "gamma", args=(k, 0, TAU / k)).pvalue > 1e-3


def test_spread_zero_is_exact_and_draws_nothing():
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    a = heterogeneous_alpha(TAU, 0.0, DT, 7, rng)
    assert a.shape == (7,) and a.dtype == np.float64
    assert np.all(a == math.exp(-DT / TAU))
    assert rng.bit_generator.state == before


def test_determinism_from_the_rng():
    draw = lambda seed: heterogeneous_alpha(TAU, 0.5, DT, 50, np.random.default_rng(seed))  # noqa: E731
    assert np.array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    a = draw(3)
    assert np.all((a > 0) & (a < 1))


def test_a_huge_spread_gives_alpha_zero_not_nan():
    a = heterogeneous_alpha(TAU, 1e3, DT, 1000, np.random.default_rng(0))
    assert np.all(np.isfinite(a)) and np.all((a >= 0) & (a < 1)) and (a == 0).any()


@pytest.mark.parametrize(
    "args,key",
    [
        ((0.0, 0.5, DT, 3), "tau_mem"),
        ((TAU, -0.1, DT, 3), "tau_mem_spread"),
        ((TAU, float("nan"), DT, 3), "tau_mem_spread"),
        ((TAU, 0.5, 0.0, 3), "dt"),
        ((TAU, 0.5, DT, 0), "n"),
        ((TAU, 0.5, DT, 2.0), "n"),
    ],
)
def test_bad_values_name_the_setting(args, key):
    with pytest.raises(BadValueError, match=f"^{key} must be") as exc:
        heterogeneous_alpha(*args, np.random.default_rng(0))
    assert exc.value.key == key


def test_rng_must_be_a_generator():
    with pytest.raises(BadValueError, match=r"rng must be a numpy\.random\.Generator"):
        heterogeneous_alpha(TAU, 0.5, DT, 3, 0)
