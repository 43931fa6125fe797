"""Against lauscher itself (optional: skipped without lauscher or without the FSDD files).

lauscher (Cramer et al.'s converter, LGPL-2.1, ``pip install lauscher``) takes 20-60 s for
one short recording; docs/audio.md has the full comparison (tools/lauscher_compare.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from spikegrad import audio
from spikegrad.datasets.fsdd import read_wav

RECORDING = "7_nicolas_30.wav"  # 0.35 s: the shortest of the compared recordings


def _histogram(t, u, seconds):
    nb = int(np.ceil(seconds / 0.01))
    rng = [[0, 70], [0, nb]]
    return np.histogram2d(u // 10, np.minimum(t / 0.01, nb - 1e-9), [70, nb], rng)[0]


def test_matches_lauscher_on_a_real_recording():
    pytest.importorskip("lauscher")
    from lauscher.audiowaves import FileMonoAudioWave
    from lauscher.transformations.wave2spike import Wave2Spike

    env = os.environ.get("SPIKEGRAD_SHARED_DATA")
    shared = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    wav = shared / "fsdd" / "recordings" / RECORDING
    if not wav.is_file():
        pytest.skip(f"{wav} not present")
    np.random.seed(0)  # noqa: NPY002 (lauscher draws from the global generator)
    ref = FileMonoAudioWave(str(wav)).transform(Wave2Spike(num_channels=700))
    lt, lu = np.asarray(ref.spike_times), np.asarray(ref.spike_labels).astype(np.int64)
    x, rate = read_wav(wav)
    t, u = audio.encode(x, rate)
    dur = x.size / rate
    r = np.corrcoef(_histogram(t, u, dur).ravel(), _histogram(lt, lu, dur).ravel())[0, 1]
    assert r > 0.9  # measured 0.934; lauscher against itself (another seed): 0.932
    assert 0.9 < t.size / lt.size < 1.1  # measured 1.00
