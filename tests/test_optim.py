"""Learning-rate schedules, decoupled weight decay and global-norm clipping of sg.Adam."""

import math

import numpy as np
import pytest

import spikegrad as sg
from spikegrad.optim import LRSchedule, clip_grad_norm


def test_cosine_schedule_by_formula():
    s = LRSchedule(0.1, "cosine", steps_per_epoch=7, total_steps=70, lr_min=0.01)
    for step in (1, 2, 36, 70):
        want = 0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * (step - 1) / 70))
        assert s(step) == pytest.approx(want, rel=1e-12)
    assert s(1) == pytest.approx(0.1) and s(70) > 0.01 and s(1000) == pytest.approx(0.01)
    assert all(s(k + 1) < s(k) for k in range(1, 70))


def test_step_schedule_and_warmup():
    s = LRSchedule(1.0, "step", steps_per_epoch=5, step_epochs=2, gamma=0.5, warmup_steps=4)
    got = [s(k) for k in range(1, 31)]
    assert got[:4] == [0.25, 0.5, 0.75, 1.0]  # linear warm-up over 4 updates
    assert got[4:10] == [1.0] * 6  # epochs 0 and 1 (updates 1..10) at lr
    assert got[10:20] == [0.5] * 10 and got[20:30] == [0.25] * 10
    cos = LRSchedule(1.0, "cosine", steps_per_epoch=5, total_steps=30, warmup_steps=10)
    assert cos(10) == 1.0 and cos(11) == 1.0 and cos(12) < 1.0  # cosine starts after warm-up
    assert LRSchedule(0.3)(12345) == 0.3


def test_schedule_refuses_bad_values():
    with pytest.raises(sg.ConfigError, match="lr_schedule must be one of"):
        LRSchedule(0.1, "linear")
    with pytest.raises(sg.ConfigError, match="steps_per_epoch"):
        LRSchedule(0.1, "step", steps_per_epoch=0)


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_against_plain_computation(rng, max_norm):
    grads = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=5).astype(np.float32)}
    norm = math.sqrt(sum(float(x) ** 2 for g in grads.values() for x in g.ravel()))
    clipped, got_norm = clip_grad_norm(grads, max_norm)
    assert float(got_norm) == pytest.approx(norm, rel=1e-12)
    coef = min(1.0, max_norm / (norm + 1e-6))
    for k, g in grads.items():
        assert clipped[k].dtype == g.dtype
        np.testing.assert_allclose(clipped[k], g * coef, rtol=1e-6 if k == "b" else 1e-12)
    new = math.sqrt(sum(float((c.astype(np.float64) ** 2).sum()) for c in clipped.values()))
    assert new == pytest.approx(min(norm, max_norm), rel=1e-5)


def test_adamw_schedule_and_clipping_against_formula(rng):
    """sg.Adam with every extra at once, against AdamW written out in float64."""
    p0 = rng.normal(size=(3, 4))
    params = {"w": p0.copy()}
    sched = LRSchedule(0.01, "cosine", steps_per_epoch=2, total_steps=6, lr_min=1e-3)
    opt = sg.Adam(params, lr=0.01, weight_decay=0.1, schedule=sched, max_grad_norm=1.0)
    m = v = np.zeros_like(p0)
    p = p0.copy()
    for t in range(1, 7):
        g = rng.normal(size=p0.shape)
        opt.step({"w": g})
        g = g * min(1.0, 1.0 / (np.linalg.norm(g) + 1e-6))
        lr = 1e-3 + 0.009 * 0.5 * (1 + math.cos(math.pi * (t - 1) / 6))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p * (1 - lr * 0.1) - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(params["w"], p, rtol=1e-12)
        assert opt.lr_at(t) == pytest.approx(lr, rel=1e-12)
    with pytest.raises(sg.ConfigError, match="weight_decay"):
        sg.Adam(params, weight_decay=-1.0)


def test_weight_decay_alone_shrinks_weights():
    params = {"w": np.full(4, 2.0)}
    sg.Adam(params, lr=0.1, weight_decay=0.5).step({"w": np.zeros(4)})
    np.testing.assert_array_equal(params["w"], np.full(4, 2.0 * (1 - 0.05)))
