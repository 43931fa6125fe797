"""A training run with a 16-bit weight copy (--weight-dtype): the checkpoints keep the float32
master only, and resuming (the copy remade from the loaded master) is bitwise."""

from __future__ import annotations

import numpy as np

from spikegrad.train import checkpoint as ck
from spikegrad.train import run as runs

from .conftest import TINY, quiet


def test_bfloat16_run_keeps_float32_master_and_resumes_bitwise(tmp_path):
    cfg = TINY.replace(weight_dtype="bfloat16", epochs=2)
    full = runs.fit(cfg, tmp_path / "full", log=quiet)
    assert full.status == "finished"
    assert 'weight_dtype = "bfloat16"' in (tmp_path / "full" / "config.toml").read_text()
    with np.load(tmp_path / "full" / "last.npz") as f:
        floats = {k: f[k].dtype for k in f.files if f[k].dtype.kind in "fu" and f[k].ndim == 2}
    assert floats and set(floats.values()) == {np.dtype(np.float32)}, floats
    part = tmp_path / "part"
    runs.fit(cfg.replace(epochs=1), part, log=quiet)
    runs.fit(cfg, part, resume=part, log=quiet)
    a, b = ck.load(tmp_path / "full" / "last.npz").params, ck.load(part / "last.npz").params
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    plain = ck.load(tmp_path / "full" / "last.npz")
    assert plain.config.weight_dtype == "bfloat16"
