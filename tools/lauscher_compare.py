"""Compare spikegrad.audio.encode with lauscher (Cramer et al.'s converter) on recordings.

lauscher (LGPL-2.1) is not a dependency: it runs in its own virtual environment, given by
``--lauscher-python``, once per recording and seed; its spikes are kept in ``--work``, so a
second call only re-runs spikegrad. Printed per recording: the correlation of the
spectro-temporal histograms (70 bands of 10 channels x 10 ms) of spikegrad (seed 0) vs
lauscher (the first of ``--seeds``), of that lauscher run vs the second and third of
``--seeds`` where given, the spike count ratio, and the seconds each took; with several
``--sg-seeds``, the mean and range of spikegrad's correlation over them.

    python tools/lauscher_compare.py --lauscher-python ~/venv-lauscher/bin/python \\
        --work /tmp/lauscher data/fsdd/recordings/0_george_10.wav ... --seeds 0 1 2 \\
        --sg-seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikegrad import audio
from spikegrad.datasets.fsdd import RATE, read_wav, to_rate

RUN = """
import sys, time, numpy as np
from lauscher.audiowaves import FileMonoAudioWave
from lauscher.transformations.wave2spike import Wave2Spike
src, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
np.random.seed(seed)
t0 = time.time()
s = FileMonoAudioWave(src).transform(Wave2Spike(num_channels=700))
np.savez(out, times=np.asarray(s.spike_times), units=np.asarray(s.spike_labels).astype(np.int64),
         seconds=time.time() - t0)
"""


def histogram(times: np.ndarray, units: np.ndarray, seconds: float) -> np.ndarray:
    """(70, bins) spike counts: bands of 10 channels x 10 ms."""
    nb = int(np.ceil(seconds / 0.01))
    rng = [[0, 70], [0, nb]]
    return np.histogram2d(units // 10, np.minimum(times / 0.01, nb - 1e-9), [70, nb], rng)[0]


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def lauscher(py: str, wav: Path, work: Path, seed: int) -> dict:
    out = work / f"{wav.stem}_s{seed}.npz"
    if not out.is_file():
        subprocess.run([py, "-c", RUN, str(wav), str(out), str(seed)], check=True)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wavs", nargs="+", type=Path)
    ap.add_argument("--lauscher-python", required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="lauscher's seeds")
    ap.add_argument("--sg-seeds", type=int, nargs="+", default=[0], help="spikegrad's seeds")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    print("recording          seconds  corr(sg,L)  corr(L,L')  count sg/L  time sg  time L")
    for wav in a.wavs:
        x, rate = read_wav(wav)
        x = to_rate(x, rate)
        dur = x.size / RATE
        ref = [lauscher(a.lauscher_python, wav, a.work, s) for s in a.seeds]
        hl = [histogram(r["times"], r["units"], dur) for r in ref]
        rs = []
        for k, seed in enumerate(a.sg_seeds):
            t0 = time.perf_counter()
            t, u = audio.encode(x, RATE, seed=seed)
            if k == 0:
                took, count = time.perf_counter() - t0, t.size / ref[0]["times"].size
            rs.append(corr(histogram(t, u, dur), hl[0]))
        self_corr = " ".join(f"{corr(hl[0], h):.3f}" for h in hl[1:3]) or "-"
        print(
            f"{wav.stem:18s} {dur:7.2f} {rs[0]:11.3f} {self_corr:>10s} "
            f"{count:11.2f} {took:8.3f} {float(ref[0]['seconds']):7.1f}"
        )
        if len(rs) > 1:
            spread = f"mean {np.mean(rs):.4f} ({min(rs):.3f}-{max(rs):.3f})"
            print(f"{'':18s} spikegrad seeds {a.sg_seeds}: {spread}")


if __name__ == "__main__":
    main()
