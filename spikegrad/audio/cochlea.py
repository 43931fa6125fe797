"""An SHD-style cochlea: sound -> basilar membrane -> inner hair cells -> bushy cell spikes.

The chain of the Spiking Heidelberg Digits (Cramer et al., IEEE TNNLS 2020, §III-A), written
from the models it cites, with the constants of lauscher (their converter) where it names
them, and fitted to lauscher's output where its behaviour differs (docs/audio.md):

1. **Level and window.** The recording is scaled to an RMS of 0.3 and multiplied by a Hann
   window over its whole length (rising over the first half, falling over the second).
2. **Basilar membrane** (1-D long-wave hydrodynamic model, Sieroka, Dosch & Rupp, JASA 2006):
   a membrane of length ``length`` (cm) along a fluid channel of height ``height``;
   stiffness ``s(x) = stiffness0 exp(-decay x)``, mass ``mass``, damping
   ``damping sqrt(mass s(x))`` per area, so the point x resonates at
   ``sqrt(s(x) / mass) / 2 pi`` Hz (22.7 kHz at channel 0, 116 Hz at channel 699); channel
   j sits at ``x = length (j + offset) / n_channels``. In the frequency domain the pressure
   obeys ``P'' + k^2 P = 0`` with ``k^2 = -i w rho / (height Z)`` and the membrane impedance
   ``Z = i w mass + d(x) + s(x) / (i w)``; its WKB solution
   ``P(x) = sqrt(k(0) / k(x)) exp(-i int_0^x k)`` gives the membrane velocity ``P / Z``,
   times ``gain`` and a middle-ear filter ``e^(i ear_phase) z^ear_rise / (1 + z)^ear_fall``,
   ``z = i f / ear_corner`` (a high-pass of order about 0.8). ``causal=False`` (the default)
   reverses each channel's phase, as lauscher's output has it. ``offset``, ``decay``,
   ``gain`` and the ``ear_*`` constants were fitted to lauscher's membrane output on impulses
   (docs/audio.md). The transfer functions are computed once per FFT length; a recording is
   one real FFT, a product and one inverse FFT per channel, at half the sample rate
   (``decimate``), on lauscher's time grid (``span``: N // 2 + 1 steps over the N samples,
   the recording resampled to 2 (N // 2 + 1) samples first).
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
import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft
import scipy.signal

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
    decay: float = 3.021  # 1/cm: stiffness falls as exp(-decay x)
    stiffness0: float = 1e9  # dyn/cm^3 at the base
    mass: float = 0.05  # g/cm^2
    damping: float = 0.15  # relative damping (1 / Q)
    height: float = 0.1  # cm
    rho: float = 1.0  # g/cm^3
    offset: float = -0.97  # channel j sits at x = length (j + offset) / n_channels
    gain: float = 3.06e5  # membrane velocity -> hair cell input
    # middle ear: e^(i ear_phase) z^ear_rise / (1 + z)^ear_fall with z = i f / ear_corner
    ear_corner: float = 706.0  # Hz
    ear_rise: float = 0.79
    ear_fall: float = 0.83
    ear_phase: float = 1.75  # rad
    decimate: int = 2  # 1 or 2: hair cells and bushy cells run at sample_rate / decimate
    span: bool = True  # decimate 2: N // 2 + 1 steps spanning the recording, as lauscher's
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
        if not self.ear_corner > 0:
            raise ConfigError(f"ear_corner must be > 0 Hz; got {self.ear_corner!r}")
        return self


FREQ_BLOCK = 256  # frequencies per block of transfer()
MEMBRANE_BLOCK = 64  # channels per block of membrane()


def positions(c: Cochlea) -> np.ndarray:
    """Place of each channel on the membrane in cm from the base: channel 0 is the base."""
    return c.length * (np.arange(c.n_channels) + c.offset) / c.n_channels


def best_frequency(c: Cochlea) -> np.ndarray:
    """Resonance frequency of each channel in Hz (n_channels,), falling with the index."""
    s = c.stiffness0 * np.exp(-c.decay * positions(c))
    return np.sqrt(s / c.mass) / (2 * np.pi)


_TRANSFERS: dict[tuple[Cochlea, float, int], np.ndarray] = {}
N_TRANSFERS = 12  # transfer functions kept per process (the oldest goes first)


def transfer(c: Cochlea, n_fft: int, sample_rate: float) -> np.ndarray:
    """Membrane velocity per unit stapes pressure, (n_channels, n_fft // 2 + 1) complex64;
    computed once per FFT length (:func:`compute_transfer`) and kept.

    Bin k of an FFT of length n is bin 2k of one of length 2n (the same frequency, exactly:
    ``rfftfreq`` scales by powers of two), so a shorter length kept from a longer one is
    every 2^j-th column of it (the same values; the longest first makes the others cheap).
    """
    key = (c, float(sample_rate), int(n_fft))
    out = _TRANSFERS.get(key)
    if out is None:
        longer = [n for cc, sr, n in _TRANSFERS if (cc, sr) == key[:2] and n > n_fft]
        n2 = min((n for n in longer if n % n_fft == 0 and _power_of_two(n // n_fft)), default=0)
        if n2:
            out = np.ascontiguousarray(_TRANSFERS[(*key[:2], n2)][:, :: n2 // n_fft])
        else:
            out = compute_transfer(c, n_fft, sample_rate)
        while len(_TRANSFERS) >= N_TRANSFERS:
            del _TRANSFERS[next(iter(_TRANSFERS))]
        _TRANSFERS[key] = out
    return out


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def compute_transfer(c: Cochlea, n_fft: int, sample_rate: float) -> np.ndarray:
    """:func:`transfer`, computed. The WKB phase integral runs on a grid 2x finer than the
    channels (trapezoid rule), a block of frequencies at a time (each frequency is
    independent: the same values in a fraction of the memory).
    """
    w = 2 * np.pi * np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[1:]
    out = np.zeros((c.n_channels, n_fft // 2 + 1), np.complex64)
    for j in range(0, w.size, FREQ_BLOCK):
        out[:, 1 + j : 1 + j + FREQ_BLOCK] = _transfer_block(c, w[None, j : j + FREQ_BLOCK])
    return out


def _transfer_block(c: Cochlea, w: np.ndarray) -> np.ndarray:
    """:func:`compute_transfer` at the angular frequencies ``w`` (1, F): (n_channels, F) complex."""
    sub = 2
    n = c.n_channels * sub
    # from half a channel before channel 0 (the base end) to half a channel after the last
    x = c.length * (np.arange(n + 1) / sub + c.offset - 0.5) / c.n_channels
    s = c.stiffness0 * np.exp(-c.decay * x)[:, None]
    d = c.damping * np.sqrt(c.mass * s)
    z = 1j * w * c.mass + d + s / (1j * w)
    k = np.sqrt(-1j * w * c.rho / (c.height * z))
    k = np.where(k.imag > 0, -k, k)  # the wave travels to the apex and decays
    phase = np.cumsum(0.5 * (k[1:] + k[:-1]), axis=0) * (c.length / n)  # at grid points 1..n
    # channel j sits at the middle of its section: grid point sub * j + sub / 2
    idx = sub * np.arange(c.n_channels) + sub // 2
    v = np.sqrt(k[:1] / k[idx]) * np.exp(-1j * phase[idx - 1]) / z[idx]
    e = 1j * w / (2 * np.pi * c.ear_corner)
    ear = np.exp(1j * c.ear_phase) * e**c.ear_rise / (1 + e) ** c.ear_fall
    return np.conj(v) * ear if not c.causal else v * np.conj(ear)


def fft_size(n: int, sample_rate: float, decimate: int) -> int:
    """The FFT length for n samples: a power of two >= n + TAIL samples."""
    need = max(n + int(TAIL * sample_rate), MIN_FFT, 2 * decimate)
    return 1 << (need - 1).bit_length()


def membrane(samples: np.ndarray, sample_rate: float, c: Cochlea) -> np.ndarray:
    """Levelled, windowed ``samples`` (N,) -> membrane velocity times gain at every
    ``decimate``-th sample, (n_channels, ceil(N / decimate)) float32.

    Keeping every other sample folds the spectrum onto its lower half; the fold is done on
    the product spectrum, so the inverse FFTs are half as long. The channels go through in
    blocks of ``MEMBRANE_BLOCK`` (the same values; the block's spectra stay in cache).
    """
    n, d = samples.size, c.decimate
    n_fft = fft_size(n, sample_rate, d)
    spec = scipy.fft.rfft(samples, n_fft).astype(np.complex64) * np.float32(c.gain)
    h = transfer(c, n_fft, float(sample_rate))
    m = n_fft // d  # length after decimation
    keep = -(-n // d)
    out = np.empty((c.n_channels, keep), np.float32)
    block = min(MEMBRANE_BLOCK, c.n_channels)
    prod = np.empty((block, spec.size), np.complex64)
    fold = np.empty((block, m // 2 + 1), np.complex64)
    for j in range(0, c.n_channels, block):
        rows = min(block, c.n_channels - j)
        p = np.multiply(h[j : j + rows], spec, out=prod[:rows])
        if d == 2:  # bin j of the fold: (X[j] + X[j + m]) / 2 = (X[j] + conj(X[m - j])) / 2
            f = np.conjugate(p[:, m : m // 2 - 1 : -1], out=fold[:rows])
            p = np.multiply(np.add(p[:, : m // 2 + 1], f, out=f), np.float32(0.5), out=f)
        out[j : j + rows] = scipy.fft.irfft(p, m, axis=1, overwrite_x=True)[:, :keep]
    return out


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


def spike_mask(
    samples: np.ndarray,
    sample_rate: float,
    c: Cochlea,
    seed: int = 0,
    native: bool | None = None,
) -> tuple[np.ndarray, float]:
    """One recording -> its spike mask (n_channels, steps) uint8 and the steps per second."""
    x = prepare(samples, c.rms)
    rate = sample_rate / c.decimate
    if x.size == 0:
        return np.zeros((c.n_channels, 0), np.uint8), rate
    if c.decimate == 2 and c.span:
        x = spanned(x)
    return hair_bushy(membrane(x, sample_rate, c), c, rate, seed, native), rate


def spanned(x: np.ndarray) -> np.ndarray:
    """``x`` (N,) resampled (band-limited, periodic) to 2 (N // 2 + 1) samples over the same
    span: every other one of them is where lauscher's half-rate membrane output samples the
    recording (its N // 2 + 1 steps span the N samples: step m at m N / (N // 2 + 1)).
    """
    return scipy.signal.resample(x, 2 * (x.size // 2 + 1))


def encode_one(
    samples: np.ndarray,
    sample_rate: float,
    c: Cochlea,
    seed: int = 0,
    native: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One recording -> (times in s float64, units int) sorted by time then unit."""
    mask, rate = spike_mask(samples, sample_rate, c, seed, native)
    unit, step = np.nonzero(mask)
    order = np.argsort(step * c.n_channels + unit, kind="stable")
    return step[order] / rate, unit[order].astype(np.int64)


def bin_mask(
    mask: np.ndarray, rate: float, dt: float, T: int, pool: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A spike mask (C, N) of ``rate`` steps per second -> (steps, units) int64: the spikes
    binned at ``dt`` s into T steps, channels summed in groups of ``pool`` (C // pool units),
    one event per (step, unit), sorted by step then unit.

    The events that ``spikegrad.datasets.binning.bin_events`` makes of :func:`encode_one`'s
    spikes (the step of a spike at time t is ``round(t / dt)`` with t = sample / rate, here
    computed once per sample), without listing every spike.
    """
    n_ch = mask.shape[0]
    step = np.rint((np.arange(mask.shape[1]) / rate) / dt)  # non-decreasing
    n = int(np.searchsorted(step, T))  # the samples that land in steps < T
    first = np.flatnonzero(np.diff(step[:n], prepend=-1.0))  # each step's first sample
    if first.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    binned = np.maximum.reduceat(mask[:, :n], first, axis=1)  # (C, steps present)
    if pool > 1:
        binned = binned.reshape(n_ch // pool, pool, -1).max(axis=1)
    k, unit = np.nonzero(binned.T)
    return step[first][k].astype(np.int64), unit.astype(np.int64)
