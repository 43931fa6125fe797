"""Measure lauscher's basilar membrane on two impulses and fit spikegrad's membrane to it.

lauscher (LGPL-2.1) is not a dependency: its ``BasilarMembrane`` runs in its own virtual
environment (``--lauscher-python``) on an impulse at sample 100 and one at 101 of 4000 at
8 kHz; the outputs are kept in ``--work``. Its membrane is linear and its output is
``Re(ifft(rfft(x) G))`` over the N // 2 + 1 bins, so the two responses give G (700 channels x
2001 bins): at bins k and K - k the two impulses make two linear equations in G_k and
conj(G_(K-k)). Printed: how well G predicts a third impulse (at 1000), the error of
``Cochlea()``'s transfer function against G (RMS of the complex difference, each channel
scaled by its peak), and with ``--fit`` the constants of least squares from the defaults
(the default ``gain`` is 4.7 % above the fitted one: the level on speech, docs/audio.md).

    python tools/lauscher_fit.py --lauscher-python ~/venv-lauscher/bin/python --work /tmp/L --fit
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spikegrad.audio import Cochlea, cochlea

N, RATE, AT = 4000, 8000, (100, 101, 1000)
FIT = ("gain", "ear_corner", "ear_rise", "ear_fall", "ear_phase", "offset", "decay")
LOG = {"gain", "ear_corner"}  # fitted as logarithms

RUN = """
import sys, numpy as np
from lauscher.audiowaves import MonoAudioWave
from lauscher.transformations import BasilarMembrane
n, rate, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
got = {}
for at in map(int, sys.argv[4:]):
    x = np.zeros(n); x[at] = 1.0
    v = MonoAudioWave(x, rate).transform(BasilarMembrane(channels=700))
    got[f"at{at}"] = np.asarray(v.channels)
np.savez(out, **got)
"""


def impulses(py: str, work: Path) -> dict:
    out = work / "lauscher_membrane_impulses.npz"
    if not out.is_file():
        subprocess.run([py, "-c", RUN, str(N), str(RATE), str(out), *map(str, AT)], check=True)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def spectrum(at: int) -> np.ndarray:
    x = np.zeros(N)
    x[at] = 1.0
    return np.fft.rfft(x)


def identify(ya: np.ndarray, yb: np.ndarray, a: int, b: int) -> np.ndarray:
    """G (C, K) from the responses ``ya``, ``yb`` (C, K) to impulses at samples a and b."""
    k_n = N // 2 + 1
    xa, xb = spectrum(a), spectrum(b)
    k = np.arange(1, k_n)
    km = k_n - k
    m = 0.5 * np.array([[xa[k], np.conj(xa[km])], [xb[k], np.conj(xb[km])]])
    fa, fb = np.fft.fft(ya, axis=1), np.fft.fft(yb, axis=1)
    rhs = np.stack([fa[:, k], fb[:, k]], -1)[..., None]
    g = np.zeros(ya.shape, complex)
    g[:, k] = np.linalg.solve(np.moveaxis(m, -1, 0)[None], rhs)[..., 0, 0]
    g[:, 0] = fa[:, 0] / xa[0]
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lauscher-python", required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--fit", action="store_true", help="least squares from the defaults")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    y = impulses(a.lauscher_python, a.work)
    g = identify(y["at100"], y["at101"], 100, 101)
    pred = np.fft.ifft(spectrum(1000)[None] * g, axis=1).real
    err = np.abs(pred - y["at1000"]).max() / np.abs(y["at1000"]).max()
    print(f"G predicts the impulse at 1000 to {err:.1e} of its peak")
    bins = np.arange(2, N // 2 + 1, 4)  # every 4th bin: the same fit at a quarter of the cost
    w = 2 * np.pi * np.fft.rfftfreq(N, 1 / RATE)[bins][None]
    target = g[:, bins]
    scale = np.abs(target).max(1, keepdims=True)

    def cochlea_of(p: np.ndarray) -> Cochlea:
        kw = {n: float(np.exp(v) if n in LOG else v) for n, v in zip(FIT, p, strict=True)}
        return dataclasses.replace(Cochlea(), **kw)

    def residual(p: np.ndarray) -> np.ndarray:
        c = cochlea_of(p)
        e = (cochlea._transfer_block(c, w) * c.gain - target) / scale
        return np.concatenate([e.real.ravel(), e.imag.ravel()])

    c0 = Cochlea()
    p0 = np.array([np.log(getattr(c0, n)) if n in LOG else getattr(c0, n) for n in FIT])
    print(f"Cochlea(): error {np.sqrt(np.mean(residual(p0) ** 2)):.4f}")
    if a.fit:
        r = least_squares(residual, p0, x_scale=[0.05, 0.1, 0.05, 0.05, 0.05, 0.2, 0.005])
        print(f"fitted: error {np.sqrt(np.mean(r.fun**2)):.4f}")
        c = cochlea_of(r.x)
        print(", ".join(f"{n}={getattr(c, n):.4g}" for n in FIT))


if __name__ == "__main__":
    main()
