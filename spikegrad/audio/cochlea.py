"""An SHD-style cochlea: sound -> basilar membrane -> inner hair cells -> bushy cell spikes.

The chain of the Spiking Heidelberg Digits (Cramer et al., IEEE TNNLS 2020, §III-A), written
from the models it cites, with the constants of lauscher (their converter) where it names
them, and fitted to lauscher's output where its behaviour differs (docs/audio.md):

1. **Level and window.** The recording is scaled to an RMS of 0.3 and multiplied by a Hann
   window over its whole length (rising over the first half, falling over the second).
2. **Basilar membrane** (1-D long-wave hydrodynamic model, Sieroka, Dosch & Rupp, JASA 2006):
   a membrane of length ``length`` (cm) between fluid channels of height ``height``;
   stiffness ``s(x) = stiffness0 exp(-decay x)``, mass ``mass``, damping
   ``damping sqrt(mass s(x))`` per area, so the point x resonates at
   ``sqrt(s(x) / mass) / 2 pi`` Hz (22.4 kHz at the base, 119 Hz at the apex). In the
   frequency domain the pressure obeys ``P'' = k^2 P`` with ``k^2 = -2 i w rho / (height Z)``
   and the membrane impedance ``Z = i w mass + d(x) + s(x) / (i w)``; its WKB solution
   ``P(x) = sqrt(k(0) / k(x)) exp(-i int_0^x k)`` gives the membrane velocity ``P / Z``,
   times ``gain (f / 1 kHz)^drive``. ``causal=False`` (the default) reverses each channel's
   phase, as lauscher's output has it. The transfer functions are computed once per FFT
   length; a recording is one real FFT, a product and one inverse FFT per channel, at half
   the sample rate (``decimate``: lauscher's membrane output keeps every other sample).
3. **Inner hair cells** (Meddis 1986, 1988: transmitter pools with the published constants),
   forward Euler at the decimated rate with the pools clipped at 0, started at rest:
   permeability ``k = g (s + A) / (s + A + B)``, free pool q, cleft c, reprocessing store w;
   release probability ``h c dt`` per step.
4. **Bushy cells:** each channel pools ``n_fibres`` independent auditory nerve fibres that
   fire with the hair cell's release probability (a binomial count per step) into one
   current-based LIF neuron (``tau_syn``, ``tau_mem``, threshold 1, refractory ``refrac``);
   each fibre spike adds ``weight`` to the synaptic current.

Channel 0 is the base (highest frequency), channel n-1 the apex, as lauscher orders them.
Steps 3-4 are the op ``cochlea_hair_bushy`` (:mod:`spikegrad.ops.cochlea`): the native C
kernel of the one native library while :func:`spikegrad.native.enabled`, else the NumPy twin
:func:`~spikegrad.ops.cochlea.hair_bushy_numpy`, which gives the same bits.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft

from .. import native as native_ops
from ..backend import call
from ..errors import ConfigError
from ..ops import cochlea as _op  # noqa: F401  (registers the op cochlea_hair_bushy)

MIN_FFT = 4096  # FFT lengths are powers of two from this (a few cached transfer functions)
TAIL = 0.05  # seconds of zeros after the signal (the membrane's ringing; no wrap-around)


@dataclass(frozen=True)
class Cochlea:
    """Constants of the chain (CGS units for the membrane; seconds elsewhere)."""

    n_channels: int = 700
    rms: float = 0.3
    length: float = 3.5  # cm
    decay: float = 3.0  # 1/cm: stiffness falls as exp(-decay x)
    stiffness0: float = 1e9  # dyn/cm^3 at the base
    mass: float = 0.05  # g/cm^2
    damping: float = 0.12  # relative damping (1 / Q)
    height: float = 0.1  # cm
    rho: float = 1.0  # g/cm^3
    gain: float = 2.53e5  # membrane velocity -> hair cell input
    drive: float = 0.35  # stapes pressure ~ (f / 1 kHz)^drive times the sound
    decimate: int = 2  # 1 or 2: hair cells and bushy cells run at sample_rate / decimate
    causal: bool = False  # True: the travelling wave's delay; False: reversed, as lauscher's
    # Meddis hair cell
    A: float = 5.0
    B: float = 300.0
    g: float = 2000.0
    y: float = 5.05
    l: float = 2500.0
    r: float = 6580.0
    x: float = 66.3
    M: float = 1.0
    h: float = 50000.0
    at_rest: bool = True  # start the pools at rest (Meddis), else empty
    # bushy cells
    n_fibres: int = 40
    tau_syn: float = 5e-4
    tau_mem: float = 1e-3
    refrac: float = 1e-3
    weight: float = 0.35

    def check(self) -> Cochlea:
        """Self, or ConfigError naming the first bad constant."""
        if not (isinstance(self.n_channels, int) and self.n_channels >= 1):
            raise ConfigError(f"n_channels must be an int >= 1; got {self.n_channels!r}")
        if not (isinstance(self.n_fibres, int) and self.n_fibres >= 1):
            raise ConfigError(f"n_fibres must be an int >= 1; got {self.n_fibres!r}")
        if self.decimate not in (1, 2):
            raise ConfigError(f"decimate must be 1 or 2; got {self.decimate!r}")
        for k, v in asdict(self).items():
            if not math.isfinite(v):
                raise ConfigError(f"cochlea constant {k} must be finite; got {v!r}")
        return self


FREQ_BLOCK = 256  # frequencies per block of transfer()


def positions(n_channels: int, length: float) -> np.ndarray:
    """Place of each channel on the membrane in cm from the base: channel 0 is the base."""
    return length * (np.arange(n_channels) + 0.5) / n_channels


def best_frequency(c: Cochlea) -> np.ndarray:
    """Resonance frequency of each channel in Hz (n_channels,), falling with the index."""
    s = c.stiffness0 * np.exp(-c.decay * positions(c.n_channels, c.length))
    return np.sqrt(s / c.mass) / (2 * np.pi)


@functools.lru_cache(maxsize=12)
def transfer(c: Cochlea, n_fft: int, sample_rate: float) -> np.ndarray:
    """Membrane velocity per unit stapes pressure, (n_channels, n_fft // 2 + 1) complex64.

    The WKB phase integral runs on a grid 2x finer than the channels (trapezoid rule), a
    block of frequencies at a time (each frequency is independent: the same values in a
    fraction of the memory).
    """
    w = 2 * np.pi * np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[1:]
    out = np.zeros((c.n_channels, n_fft // 2 + 1), np.complex64)
    for j in range(0, w.size, FREQ_BLOCK):
        out[:, 1 + j : 1 + j + FREQ_BLOCK] = _transfer_block(c, w[None, j : j + FREQ_BLOCK])
    return out


def _transfer_block(c: Cochlea, w: np.ndarray) -> np.ndarray:
    """:func:`transfer` at the angular frequencies ``w`` (1, F): (n_channels, F) complex."""
    sub = 2
    n = c.n_channels * sub
    x = c.length * np.arange(n + 1) / n  # base (0) .. apex
    s = c.stiffness0 * np.exp(-c.decay * x)[:, None]
    d = c.damping * np.sqrt(c.mass * s)
    z = 1j * w * c.mass + d + s / (1j * w)
    k = np.sqrt(-2j * w * c.rho / (c.height * z))
    k = np.where(k.imag > 0, -k, k)  # the wave travels to the apex and decays
    phase = np.cumsum(0.5 * (k[1:] + k[:-1]), axis=0) * (c.length / n)  # at grid points 1..n
    # channel j sits at the middle of its section: grid point sub * j + sub / 2
    idx = sub * np.arange(c.n_channels) + sub // 2
    k_ch = k[idx]
    v = np.sqrt(k[:1] / k_ch) * np.exp(-1j * phase[idx - 1]) / z[idx]
    v = v * (w / (2e3 * np.pi)) ** c.drive
    return np.conj(v) if not c.causal else v


def fft_size(n: int, sample_rate: float, decimate: int) -> int:
    """The FFT length for n samples: a power of two >= n + TAIL samples."""
    need = max(n + int(TAIL * sample_rate), MIN_FFT, 2 * decimate)
    return 1 << (need - 1).bit_length()


def membrane(samples: np.ndarray, sample_rate: float, c: Cochlea) -> np.ndarray:
    """Levelled, windowed ``samples`` (N,) -> membrane velocity times gain at every
    ``decimate``-th sample, (n_channels, ceil(N / decimate)) float32.

    Keeping every other sample folds the spectrum onto its lower half; the fold is done on
    the product spectrum, so the inverse FFTs are half as long.
    """
    n, d = samples.size, c.decimate
    n_fft = fft_size(n, sample_rate, d)
    spec = scipy.fft.rfft(samples, n_fft).astype(np.complex64) * np.float32(c.gain)
    prod = transfer(c, n_fft, float(sample_rate)) * spec
    m = n_fft // d  # length after decimation
    if d == 2:  # bin j of the fold: (X[j] + X[j + m]) / 2 = (X[j] + conj(X[m - j])) / 2
        prod = (prod[:, : m // 2 + 1] + np.conj(prod[:, m : m // 2 - 1 : -1])) * np.float32(0.5)
    out = scipy.fft.irfft(prod, m, axis=1)
    return np.ascontiguousarray(out[:, : -(-n // d)], dtype=np.float32)


def prepare(samples: np.ndarray, rms: float) -> np.ndarray:
    """Scale to RMS ``rms`` and apply the whole-length Hann window; float64 (N,)."""
    x = np.asarray(samples, dtype=np.float64)
    power = float(np.mean(x * x)) if x.size else 0.0
    if power > 0:
        x = x * (rms / math.sqrt(power))
    n = x.size
    up = n // 2
    win = np.ones(n)
    win[:up] = np.hanning(2 * up)[:up]
    win[up:] = np.hanning(2 * (n - up))[n - up :]
    return x * win


def _params(c: Cochlea, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    dt = 1.0 / sample_rate
    hair = np.array([c.A, c.B, c.g, c.y, c.l, c.r, c.x, c.M, c.h, dt, float(c.at_rest)])
    bushy = np.array(
        [
            math.exp(-dt / c.tau_syn),
            math.exp(-dt / c.tau_mem),
            c.weight,
            1.0,
            float(round(c.refrac / dt)),
        ]
    )
    return hair, bushy


def hair_bushy(
    bm: np.ndarray, c: Cochlea, sample_rate: float, seed: int, native: bool | None = None
) -> np.ndarray:
    """Hair cells and bushy cells on membrane velocity ``bm`` (C, N) -> spike mask (C, N) uint8.

    ``native``: True (the C kernel, BackendUnavailableError if it cannot be built), False
    (the NumPy twin), None (the native switch as it stands: ``SPIKEGRAD_NATIVE`` or
    :func:`spikegrad.native.set_mode`; by default C when it builds).
    """
    hair, bushy = _params(c, sample_rate)
    bm = np.ascontiguousarray(bm, dtype=np.float32)
    switch = contextlib.nullcontext() if native is None else native_ops.mode("1" if native else "0")
    with switch:
        return call("cochlea_hair_bushy", bm, hair, bushy, c.n_fibres, seed)


def encode_one(
    samples: np.ndarray,
    sample_rate: float,
    c: Cochlea,
    seed: int = 0,
    native: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One recording -> (times in s float64, units int) sorted by time then unit."""
    x = prepare(samples, c.rms)
    if x.size == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    rate = sample_rate / c.decimate
    bm = membrane(x, sample_rate, c)
    unit, step = np.nonzero(hair_bushy(bm, c, rate, seed, native))
    order = np.argsort(step * c.n_channels + unit, kind="stable")
    return step[order] / rate, unit[order].astype(np.int64)
