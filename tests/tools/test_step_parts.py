"""``python tools/step_parts.py``: a step's time by op, on a tiny case."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import step_parts

from spikegrad import backend


def test_parts_add_up_to_the_step(tiny_shd):
    parts = step_parts.step_parts(tiny_shd, steps=3, warmup=1, mode="sparse")
    step = parts.pop("step")
    assert {"lif_forward_sparse_spikes", "lif_backward_sparse", "leaky_scan"} <= set(parts)
    assert all(s >= 0 for s in parts.values())
    assert abs(sum(parts.values()) - step) <= 1e-9 * step


def test_a_silent_input_leaves_the_neuron_updates(tiny_shd):
    parts = step_parts.step_parts(tiny_shd, steps=2, warmup=0, mode="sparse", silent=True)
    assert parts["lif_forward_sparse_spikes"] > 0 and parts["step"] > 0


def test_op_calls_are_timed_and_the_registry_restored():
    acc: dict[str, float] = defaultdict(float)
    real = backend.lookup
    keys = np.array([1, 5, 6])
    with step_parts.timed_ops(acc):
        backend.call("keys_to_csr", keys, (2, 1, 4))
        backend.call("keys_to_csr", keys, (2, 1, 4))
    assert list(acc) == ["keys_to_csr"] and acc["keys_to_csr"] > 0
    assert backend.lookup is real
