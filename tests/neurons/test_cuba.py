"""The CuBa kind's pure step functions against hand-computed values (one neuron, a few
steps), its constants, and its model-file fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikegrad.errors import BadValueError
from spikegrad.neurons import CuBa, cuba, lif


def _run(h, *args):
    """Step a (1, N) layer through the currents h (T, N): V (T+1, N), S, distance (T, N)."""
    h = np.asarray(h, np.float64)
    p = cuba.params(h, *args)
    st = cuba.initial_state(np, (1, h.shape[1]), h.dtype)
    vs, ss, ds, rec = [st.v[0]], [], [], []
    for t in range(h.shape[0]):
        rec.append(cuba.record(p, st))
        st, s, d = cuba.step(p, st, h[t][None])
        vs.append(st.v[0])
        ss.append(s[0])
        ds.append(d[0])
    assert np.array_equal(cuba.record_distance(p, np.array(rec))[:, 0], np.array(ds))
    return np.array(vs), np.array(ss), np.array(ds)


def test_step_by_hand():
    # alpha = alpha_syn = 0.5, theta 1, h = 1 1 1 0 0: I = 0 1 1.5 1.75 0.875;
    # V[t+1] = 0.5 V + I[t] - S: 0, 0, 1 (not > 1), 2 (fires), 1.75 (fires), 0.75
    v, s, d = _run([[1.0], [1.0], [1.0], [0.0], [0.0]], 0.5, 0.5, 1.0)
    assert v[:, 0].tolist() == [0, 0, 1, 2, 1.75, 0.75]
    assert s[:, 0].tolist() == [False, False, False, True, True]
    assert d[:, 0].tolist() == [1, 1, 0, 1, 0.75]


def test_zero_synaptic_decay_is_lif_delayed_by_one_step():
    h = np.random.default_rng(0).normal(0.5, 0.6, (12, 3))
    v, _, _ = _run(h, 0.8, 0.0, 1.0)
    p, st, vl = lif.params(h, 0.8, 1.0), lif.initial_state(np, (1, 3), h.dtype), [np.zeros(3)]
    for t in range(11):
        st, _, _ = lif.step(p, st, h[t][None])
        vl.append(st.v[0])
    assert np.array_equal(v[1:], np.array(vl))


def test_adjoint_by_hand():
    # alpha = alpha_syn = 0.5; g = 1, 0, 2 and sigma' = 0.5, 1, 0.25 at t = 0, 1, 2:
    # dv = 0.625, 0.25, 0.5; di[t] = 0.5 di[t+1] + dv[t+1] = 0.5, 0.5, 0; dL/dh[t] = di[t+1]
    p = cuba.params(np.zeros(1), 0.5, 0.5)
    adj = cuba.initial_adjoint(np, (1, 1), np.float64)
    dh, dv, di = [], [], []
    for g, sp in reversed([(1.0, 0.5), (0.0, 1.0), (2.0, 0.25)]):
        dh.append(float(cuba.current_grad(adj)[0, 0]))
        adj = cuba.adjoint(p, adj, np.array([[g]]), np.array([[sp]]))
        dv.append(float(adj.dv[0, 0]))
        di.append(float(adj.di[0, 0]))
    assert dv[::-1] == [0.625, 0.25, 0.5] and di[::-1] == [0.5, 0.5, 0.0]
    assert dh[::-1] == [0.5, 0.0, 0.0]


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (CuBa(alpha_syn=1.5), r"^alpha_syn must be a finite number in \[0, 1\]"),
        (CuBa(alpha_syn=[0.5, 0.5]), r"^alpha_syn must be a number or 3 numbers in \[0, 1\]"),
        (CuBa(alpha_syn=[0.5, -0.1, 0.5]), r"^alpha_syn\[1\] must be in \[0, 1\]"),
        (CuBa(alpha=2.0), r"^alpha must be"),
        (CuBa(theta=[1.0, 1.0, 1.0]), r"^theta must be"),
    ],
)
def test_constants_are_checked(record, match):
    with pytest.raises(BadValueError, match=match):
        record.checked(3)


def test_constants_declare_the_run_options():
    by_name = {c.name: c for c in cuba.CONSTANTS}
    assert list(by_name) == ["alpha", "alpha_syn", "theta"]
    syn = by_name["alpha_syn"]
    assert syn.option == "tau_syn" and syn.decay and syn.per_neuron and syn.default == 5e-3
    assert syn.from_option(5e-3, 1e-3) == math.exp(-0.2) == CuBa().alpha_syn
    assert by_name["alpha"].option == "tau_mem" and by_name["theta"].option == "threshold"


def test_model_fields_round_trip():
    one = CuBa(alpha=0.8, alpha_syn=0.7, theta=0.9)
    meta, arrays = cuba.model_fields(one, 2)
    assert meta == {"alpha": 0.8, "alpha_syn": 0.7, "theta": 0.9} and arrays == {}
    assert cuba.from_model_fields(meta, arrays, 2) == one
    per = CuBa(alpha=0.9, alpha_syn=np.array([0.5, 0.6]))
    meta, arrays = cuba.model_fields(per, 1)
    assert meta["alpha_syn"] is None and list(arrays) == ["alpha_syn.1"]
    assert np.array_equal(cuba.from_model_fields(meta, arrays, 1).alpha_syn, per.alpha_syn)
