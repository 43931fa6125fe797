"""The LIF kind's pure step functions against hand-computed values (one neuron, a few steps),
its constants, and its model-file fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikegrad.errors import BadValueError
from spikegrad.neurons import LIF, lif
from spikegrad.train.config import TrainConfig


def _run(alpha, theta, h):
    """Step a (1, N) layer through the currents h (T, N); returns V (T+1, N), S, d (T, N)."""
    h = np.asarray(h, np.float64)
    p = lif.params(h, alpha, theta)
    st = lif.initial_state(np, (1, h.shape[1]), h.dtype)
    vs, ss, ds = [st.v[0]], [], []
    for t in range(h.shape[0]):
        st, s, d = lif.step(p, st, h[t][None])
        vs.append(st.v[0])
        ss.append(s[0])
        ds.append(d[0])
    return np.array(vs), np.array(ss), np.array(ds)


def test_step_by_hand():
    # alpha 0.5, theta 1, h 0.8 0.8 0.8 0: V = 0, 0.8, 1.2 (fires), 0.6 + 0.8 - 1 = 0.4, 0.2
    v, s, d = _run(0.5, 1.0, [[0.8], [0.8], [0.8], [0.0]])
    np.testing.assert_allclose(v[:, 0], [0, 0.8, 1.2, 0.4, 0.2], rtol=0, atol=1e-15)
    assert s[:, 0].tolist() == [False, False, True, False]
    np.testing.assert_allclose(d[:, 0], [1.0, 0.2, 0.2, 0.6], rtol=0, atol=1e-15)


def test_per_neuron_alpha_is_one_alpha_per_neuron():
    h = [[0.8, 0.8], [0.8, 0.8], [0.8, 0.8]]
    v, s, _ = _run(np.array([0.5, 1.0]), 1.0, h)
    np.testing.assert_allclose(v[:, 0], [0, 0.8, 1.2, 0.4], atol=1e-15)
    np.testing.assert_allclose(v[:, 1], [0, 0.8, 1.6, 1.4], atol=1e-15)  # no decay; fires at 2
    assert s.tolist() == [[False, False], [False, False], [True, True]]


def test_steps_are_pure():
    p = lif.params(np.zeros(1), 0.9, 1.0)
    st = lif.State(np.array([[1.5]]))
    new, s, _ = lif.step(p, st, np.array([[0.1]]))
    assert st.v[0, 0] == 1.5 and new.v is not st.v and bool(s[0, 0])
    assert new.v[0, 0] == pytest.approx(0.9 * 1.5 + 0.1 - 1.0)


def test_adjoint_by_hand():
    # alpha 0.5; g = 1, 0, 2 and sigma' = 0.5, 1, 0.25 at t = 0, 1, 2; dv[3] = 0:
    # dv[2] = 0.5, dv[1] = 0 + 0.25 = 0.25, dv[0] = 0.5 + 0.125 = 0.625; dL/dh[t] = dv[t+1]
    p = lif.params(np.zeros(1), 0.5)
    adj = lif.initial_adjoint(np, (1, 1), np.float64)
    dh, dv = [], []
    for g, sp in reversed([(1.0, 0.5), (0.0, 1.0), (2.0, 0.25)]):
        dh.append(float(lif.current_grad(adj)[0, 0]))
        adj = lif.adjoint(p, adj, np.array([[g]]), np.array([[sp]]))
        dv.append(float(adj.dv[0, 0]))
    assert dv[::-1] == [0.625, 0.25, 0.5] and dh[::-1] == [0.25, 0.5, 0.0]


def test_record_distance_is_the_steps_distance():
    h = np.random.default_rng(0).normal(0.4, 0.5, (9, 1, 3))
    p = lif.params(h, 0.8, 0.7)
    st, rec, d = lif.initial_state(np, (1, 3), h.dtype), [], []
    for t in range(9):
        rec.append(lif.record(p, st))
        st, _, dt = lif.step(p, st, h[t])
        d.append(dt)
    assert np.array_equal(lif.record_distance(p, np.array(rec)), np.array(d))


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (LIF(alpha=1.5), r"^alpha must be a finite number in \[0, 1\]"),
        (LIF(alpha=[0.5, 0.5]), r"^alpha must be a number or 3 numbers in \[0, 1\]"),
        (LIF(alpha=[0.5, 1.2, 0.5]), r"^alpha\[1\] must be in \[0, 1\]; got 1.2"),
        (LIF(theta=0.0), r"^theta must be a finite number > 0"),
        (LIF(theta=[1.0, 1.0, 1.0]), r"^theta must be"),  # one threshold per layer
        (LIF(alpha="x"), r"^alpha must be"),
    ],
)
def test_constants_are_checked(record, match):
    with pytest.raises(BadValueError, match=match):
        record.checked(3)


def test_checked_values_are_canonical():
    c = LIF(alpha=[0.5, 0.6, 0.7], theta=2).checked(3)
    assert c.alpha.dtype == np.float64 and c.alpha.shape == (3,) and type(c.theta) is float


def test_constants_declare_the_run_options():
    """Each constant names the config option that sets it, with that option's default."""
    cfg = TrainConfig()
    by_name = {c.name: c for c in lif.CONSTANTS}
    assert set(by_name) == {"alpha", "theta"}
    assert by_name["alpha"].option == "tau_mem" and by_name["alpha"].decay
    assert by_name["alpha"].default == cfg.tau_mem
    assert by_name["alpha"].from_option(cfg.tau_mem, cfg.dt) == cfg.alpha == math.exp(-0.1)
    assert by_name["theta"].option == "threshold" and by_name["theta"].default == cfg.threshold
    assert by_name["theta"].from_option(0.7, 1e-3) == 0.7


def test_model_fields_round_trip():
    one = LIF(alpha=0.8, theta=0.9)
    meta, arrays = lif.model_fields(one, 2)
    assert meta == {"alpha": 0.8, "theta": 0.9} and arrays == {}
    assert lif.from_model_fields(meta, arrays, 2) == one
    per = LIF(alpha=np.array([0.5, 0.6]), theta=1.0)
    meta, arrays = lif.model_fields(per, 3)
    assert meta == {"alpha": None, "theta": 1.0} and list(arrays) == ["alpha.3"]
    back = lif.from_model_fields(meta, arrays, 3)
    assert np.array_equal(back.alpha, per.alpha) and back.theta == 1.0


def test_version_1_layers():
    meta = {"alpha": [None, 0.85], "recurrent": [True, False], "threshold": 0.8}
    assert lif.v1_layers(meta) == [
        {"kind": "lif", "recurrent": True, "alpha": None, "theta": 0.8},
        {"kind": "lif", "recurrent": False, "alpha": 0.85, "theta": 0.8},
    ]
