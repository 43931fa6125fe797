"""The ALIF kind's pure step functions against hand-computed values (one neuron, a few
steps), its constants, and its model-file fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikegrad.errors import BadValueError
from spikegrad.neurons import ALIF, alif, lif


def _run(h, *args):
    """Step a (1, N) layer through the currents h (T, N): V, A (T+1, N), S, distance (T, N)."""
    h = np.asarray(h, np.float64)
    p = alif.params(h, *args)
    st = alif.initial_state(np, (1, h.shape[1]), h.dtype)
    vs, thr, ss, ds, rec = [st.v[0]], [alif.threshold(p, st)[0]], [], [], []
    for t in range(h.shape[0]):
        rec.append(alif.record(p, st))
        st, s, d = alif.step(p, st, h[t][None])
        vs.append(st.v[0])
        thr.append(alif.threshold(p, st)[0])
        ss.append(s[0])
        ds.append(d[0])
    assert np.array_equal(alif.record_distance(p, np.array(rec))[:, 0], np.array(ds))
    return np.array(vs), np.array(thr), np.array(ss), np.array(ds)


def test_step_by_hand():
    # alpha 0.5, rho 0.5, beta 2, theta 1, h = 1.5 1.5 1.5 1.5 0: the spike at t = 1 lifts the
    # threshold to 2 at t = 2 (V = 1.25 does not fire; LIF would), the reset subtracts A[t]
    v, a_thr, s, d = _run([[1.5], [1.5], [1.5], [1.5], [0.0]], 0.5, 0.5, 2.0, 1.0)
    assert v[:, 0].tolist() == [0, 1.5, 1.25, 2.125, 1.0625, 0.53125]
    assert a_thr[:5, 0].tolist() == [1, 1, 2, 1.5, 2.25]
    assert s[:, 0].tolist() == [False, True, False, True, False]
    assert d[:, 0].tolist() == [1, 0.5, 0.75, 0.625, 1.1875]


def test_no_adaptation_is_lif_bit_for_bit():
    h = np.random.default_rng(0).normal(0.5, 0.8, (15, 4))
    v, _, s, d = _run(h, 0.8, 0.9, 0.0, 1.0)
    p, st = lif.params(h, 0.8, 1.0), lif.initial_state(np, (1, 4), h.dtype)
    for t in range(15):
        st, sl, dl = lif.step(p, st, h[t][None])
        assert np.array_equal(st.v[0], v[t + 1]) and np.array_equal(sl[0], s[t])
        assert np.array_equal(dl[0], d[t])


def test_adjoint_by_hand():
    # alpha 0.5, rho 0.5, beta 2; g = 1, 0, 2 and sigma' = 0.5, 1, 0.25 at t = 0, 1, 2:
    # t=2: delta 0.5, dv 0.5, da -1; t=1: delta (0 + 0.5 (-1)) 1 = -0.5, dv -0.25, da 0.5;
    # t=0: delta (1 + 0.25) 0.5 = 0.625, dv 0.5, da -1; dL/dh[t] = dv[t+1]
    p = alif.params(np.zeros(1), 0.5, 0.5, 2.0)
    adj = alif.initial_adjoint(np, (1, 1), np.float64)
    dh, dv, da = [], [], []
    for g, sp in reversed([(1.0, 0.5), (0.0, 1.0), (2.0, 0.25)]):
        dh.append(float(alif.current_grad(adj)[0, 0]))
        adj = alif.adjoint(p, adj, np.array([[g]]), np.array([[sp]]))
        dv.append(float(adj.dv[0, 0]))
        da.append(float(adj.da[0, 0]))
    assert dv[::-1] == [0.5, -0.25, 0.5] and da[::-1] == [-1.0, 0.5, -1.0]
    assert dh[::-1] == [-0.25, 0.5, 0.0]


def test_adjoint_only_decays_off_the_active_set():
    p = alif.params(np.zeros(1), 0.5, 0.25, 2.0)
    adj = alif.Adjoint(np.array([[0.8]]), np.array([[-0.4]]))
    out = alif.adjoint(p, adj, np.array([[3.0]]), np.array([[0.0]]))  # sigma' 0: inactive
    assert out.dv[0, 0] == 0.4 and out.da[0, 0] == -0.1


@pytest.mark.parametrize(
    ("record", "match"),
    [
        (ALIF(alpha_adapt=1.5), r"^alpha_adapt must be a finite number in \[0, 1\]"),
        (ALIF(beta_adapt=-0.5), r"^beta_adapt must be a finite number >= 0"),
        (ALIF(beta_adapt=[1.0, 2.0]), r"^beta_adapt must be a number or 3 numbers >= 0"),
        (ALIF(beta_adapt=[1.0, -2.0, 1.0]), r"^beta_adapt\[1\] must be >= 0"),
        (ALIF(theta=0.0), r"^theta must be"),
    ],
)
def test_constants_are_checked(record, match):
    with pytest.raises(BadValueError, match=match):
        record.checked(3)


def test_constants_declare_the_run_options():
    by_name = {c.name: c for c in alif.CONSTANTS}
    assert list(by_name) == ["alpha", "alpha_adapt", "beta_adapt", "theta"]
    rho, beta = by_name["alpha_adapt"], by_name["beta_adapt"]
    assert rho.option == "tau_adapt" and rho.decay and rho.per_neuron and rho.default == 0.2
    assert rho.from_option(0.2, 1e-3) == math.exp(-1e-3 / 0.2) == ALIF().alpha_adapt
    assert beta.option == "beta_adapt" and not beta.decay and beta.default == 1.8
    assert beta.per_neuron and ALIF().beta_adapt == 1.8


def test_model_fields_round_trip():
    one = ALIF(alpha=0.8, alpha_adapt=0.95, beta_adapt=1.5, theta=0.9)
    meta, arrays = alif.model_fields(one, 1)
    assert meta == {"alpha": 0.8, "alpha_adapt": 0.95, "beta_adapt": 1.5, "theta": 0.9}
    assert arrays == {} and alif.from_model_fields(meta, arrays, 1) == one
    per = ALIF(alpha_adapt=np.array([0.9, 0.8]), beta_adapt=np.array([0.0, 2.0]))
    meta, arrays = alif.model_fields(per, 2)
    assert sorted(arrays) == ["alpha_adapt.2", "beta_adapt.2"]
    back = alif.from_model_fields(meta, arrays, 2)
    assert np.array_equal(back.beta_adapt, per.beta_adapt)
