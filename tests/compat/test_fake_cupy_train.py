"""train_epoch on the fake CuPy 13.3: the same epoch numbers as on NumPy, the device read
only every ``read_every`` batches, exact batch of a non-finite loss, bitwise resume."""

from __future__ import annotations

import numpy as np
import pytest
from fake_cupy import SYNCS

import spikegrad as sg
from spikegrad.datasets.synthetic import randman
from spikegrad.errors import TrainingError
from spikegrad.network import Network
from spikegrad.train.evaluate import evaluate
from spikegrad.train.loop import EpochStats, train_epoch

DATA = dict(n_samples=50, n_classes=4, n_inputs=10, T=12, seed=1)  # 7 batches of <= 8


def _setup(backend: str):
    net = sg.Network([10, 30, 20, 4], b_th=0.9, reg={}, dtype="float64", seed=3, backend=backend)
    return net, sg.Adam(net.params, lr=1e-2), randman(**DATA)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_epoch_matches_numpy_and_reads_every_few_batches(fake_cp, mode):
    net, opt, data = _setup("numpy")
    want = train_epoch(net, opt, data, 8, mode=mode, read_every=3)
    net, opt, data = _setup("cupy")
    SYNCS.reset()
    got = train_epoch(net, opt, data, 8, mode=mode, read_every=3)
    # one read per hidden layer and step; reads after batches 1, 3, 6 and at the end
    assert SYNCS.total == 7 * net.n_hidden + 4, dict(SYNCS.by_reason)
    assert SYNCS.background == {"Stream.synchronize": 7}  # the prefetcher's uploads, off-loop
    assert got["samples"] == want["samples"] == 50 and min(want["active_fraction"]) > 0
    assert got["train_accuracy"] == want["train_accuracy"]
    assert got["spike_rate"] == want["spike_rate"]
    assert got["active_fraction"] == want["active_fraction"]
    assert abs(got["loss"] - want["loss"]) <= 1e-9 * want["loss"]
    assert got["forward_s"] is None and want["backward_s"] is None


def test_evaluate_matches_numpy(fake_cp):
    want = evaluate(_setup("numpy")[0], randman(**DATA), batch_size=16)
    net = _setup("cupy")[0]
    SYNCS.reset()
    got = evaluate(net, randman(**DATA), batch_size=16)
    assert SYNCS.total == 4 * (net.n_hidden + 1) + 1  # per batch: forward + predictions; loss
    assert got["confusion"] == want["confusion"]
    assert abs(got["loss"] - want["loss"]) <= 1e-9 * want["loss"]


def test_timing_is_opt_in(fake_cp):
    net, opt, data = _setup("cupy")
    got = train_epoch(net, opt, data, 8, timing=True)
    assert got["forward_s"] > 0 and got["backward_s"] > 0


def test_non_finite_loss_names_its_batch(fake_cp, monkeypatch):
    real, calls = Network.loss_and_grad, {"n": 0}

    def poisoned(self, x, y, mode="sparse"):
        loss, grads, st = real(self, x, y, mode)
        calls["n"] += 1
        return (float("nan") if calls["n"] == 5 else loss), grads, st

    monkeypatch.setattr(Network, "loss_and_grad", poisoned)
    net, opt, data = _setup("cupy")
    seen = []
    with pytest.raises(TrainingError, match=r"epoch 1, batch 5 \(loss nan\)"):
        train_epoch(net, opt, data, 8, on_batch=lambda d, loss: seen.append(d), read_every=3)
    assert seen == [1, 2, 3, 4, 5]  # found at the read after batch 6


class _Stop(Exception):
    pass


def test_stop_then_resume_is_bitwise(fake_cp):
    net, opt, data = _setup("cupy")
    ref = train_epoch(net, opt, data, 8, read_every=3)
    ref_params = {k: v.get() for k, v in net.params.items()}

    def stop_at_4(done, loss):
        if done == 4:
            raise _Stop

    net, opt, data = _setup("cupy")
    stats = EpochStats()
    with pytest.raises(_Stop):
        train_epoch(net, opt, data, 8, on_batch=stop_at_4, stats=stats, read_every=3)
    assert stats.batches == 4 and stats.n == 32 and stats.loss > 0  # read before the stop
    saved = EpochStats(**stats.to_dict())
    got = train_epoch(net, opt, data, 8, start=4, stats=saved, read_every=3)
    for k in ("loss", "train_accuracy", "active_fraction", "spike_rate"):
        assert got[k] == ref[k], k
    for k, v in net.params.items():
        assert np.array_equal(v.get(), ref_params[k])
