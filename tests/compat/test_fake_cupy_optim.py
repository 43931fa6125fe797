"""Adam's extras (weight decay, schedule, global-norm clipping) on the fake CuPy 13.3: the
same epoch as on NumPy, and clipping adds no device read."""

from __future__ import annotations

import numpy as np
from fake_cupy import SYNCS

import spikegrad as sg
from spikegrad.datasets.synthetic import randman
from spikegrad.optim import LRSchedule
from spikegrad.train.loop import train_epoch

DATA = dict(n_samples=50, n_classes=4, n_inputs=10, T=12, seed=1)  # 7 batches of <= 8
CLIP = 1e-5  # below this small network's gradient norms (~3e-4)


def _setup(backend: str, clip: float):
    net = sg.Network([10, 30, 20, 4], b_th=0.9, reg={}, dtype="float64", seed=3, backend=backend)
    sched = LRSchedule(1e-2, "cosine", steps_per_epoch=7, total_steps=7, lr_min=1e-3)
    opt = sg.Adam(net.params, lr=1e-2, weight_decay=0.1, schedule=sched, max_grad_norm=clip)
    return net, opt, randman(**DATA)


def test_extras_match_numpy_without_device_reads(fake_cp):
    net, opt, data = _setup("numpy", CLIP)
    want = train_epoch(net, opt, data, 8, mode="sparse", read_every=3)
    host = {k: np.array(v) for k, v in net.params.items()}
    net, opt, data = _setup("cupy", CLIP)
    SYNCS.reset()
    got = train_epoch(net, opt, data, 8, mode="sparse", read_every=3)
    assert SYNCS.total == 7 * net.n_hidden + 4, dict(SYNCS.by_reason)  # as without extras
    assert abs(got["loss"] - want["loss"]) <= 1e-9 * want["loss"]
    for k, v in net.params.items():
        np.testing.assert_allclose(fake_cp.asnumpy(v), host[k], rtol=1e-9, atol=1e-12)
    unclipped, opt_u, _ = _setup("numpy", 0.0)
    train_epoch(unclipped, opt_u, data, 8, mode="sparse")
    # the clip acted (Adam is nearly scale-invariant: the clip factor changes from step to step)
    assert not np.allclose(unclipped.params["W1"], host["W1"], rtol=1e-6, atol=0)
