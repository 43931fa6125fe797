"""The cochlea front end's hair cells and bushy cells (spikegrad/audio/cochlea.py, steps 3-4),
NumPy twin of ``cpu.h``: per channel, a Meddis transmitter-pool inner hair cell (forward
Euler, pools clipped at 0), a binomial count of ``n_fib`` nerve fibres per step (inverse CDF
of one splitmix64 uniform per channel and step) and a current-based LIF bushy cell with a
refractory period. Host-side only: NumPy arrays (CuPy arrays have no implementation).
"""

from __future__ import annotations

import numpy as np

from ...backend import Array, register
from ...errors import ConfigError, DTypeError, ShapeError
from ..common import check_shape

N_HAIR = 11  # A B g y l r x M h dt rest
N_BUSHY = 5  # decay_syn decay_mem w thr refrac
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def check_cochlea_hair_bushy(bm: Array, hair: Array, bushy: Array, n_fib: int, seed: int) -> None:
    """The checks of ``cochlea_hair_bushy`` (every backend): bm (C, N) float32, hair (11,),
    bushy (5,), n_fib an int >= 1, seed an int."""
    if bm.ndim != 2:
        raise ShapeError(f"bm must be 2-D (channels, samples); got shape {tuple(bm.shape)}")
    if bm.dtype != np.float32:
        raise DTypeError(f"bm must be float32; got {bm.dtype}")
    check_shape("hair", hair, (N_HAIR,))
    check_shape("bushy", bushy, (N_BUSHY,))
    if isinstance(n_fib, bool) or not isinstance(n_fib, (int, np.integer)) or n_fib < 1:
        raise ConfigError(f"n_fib must be an int >= 1; got {n_fib!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an int; got {seed!r}")


def binomial_ratios(n: int) -> np.ndarray:
    """(n,) float64: (n - j) / (j + 1), the ratio of binomial terms j+1 and j over p/(1-p)."""
    j = np.arange(n, dtype=np.float64)
    return (n - j) / (j + 1)


def seed_u64(seed: int) -> int:
    """``seed`` modulo 2**64, as the C side's uint64_t reads it."""
    return int(seed) & (2**64 - 1)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (the C side's ``sg_cochlea_mix``), elementwise on uint64."""
    z = z + _GOLD
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@register("cochlea_hair_bushy", "numpy")
def hair_bushy_numpy(bm: Array, hair: Array, bushy: Array, n_fib: int, seed: int) -> np.ndarray:
    """Membrane velocity ``bm`` (C, N) float32 -> spike mask (C, N) uint8.

    ``hair``: A B g y l r x M h dt rest (1: pools start at rest, 0: empty); ``bushy``:
    decay_syn decay_mem weight threshold refractory-steps; ``seed`` picks the fibres' draws.
    """
    check_cochlea_hair_bushy(bm, hair, bushy, n_fib, seed)
    A, B, g, y, lr, r, x, M, h, dt, rest = (float(v) for v in hair)
    ds, dm, w, thr, refrac = (float(v) for v in bushy)
    n_ch, n_t = bm.shape
    k0 = g * A / (A + B)
    c0 = M * y * k0 / (y * (lr + r) + k0 * lr)
    q = np.full(n_ch, rest * (c0 * (lr + r) / k0))
    c = np.full(n_ch, rest * c0)
    wr = np.full(n_ch, rest * (c0 * r / x))
    cur, v = np.zeros(n_ch), np.zeros(n_ch)
    hold = np.zeros(n_ch, np.int64)
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed_u64(seed)) ^ _mix(np.arange(n_ch, dtype=np.uint64)))
    out = np.zeros((n_ch, n_t), np.uint8)
    ratio = binomial_ratios(n_fib)
    for t in range(n_t):
        st = bm[:, t].astype(np.float64) + A
        k = np.where(st > 0, g * st / (st + B), 0.0)
        dq = y * (M - q) + x * wr - k * q
        dc = k * q - lr * c - r * c
        dw = r * c - x * wr
        q = np.maximum(q + dt * dq, 0.0)
        c = np.maximum(c + dt * dc, 0.0)
        wr = np.maximum(wr + dt * dw, 0.0)
        pr = np.clip(h * c * dt, 0.0, 1.0)
        with np.errstate(over="ignore"):
            u = (_mix(key + np.uint64(t)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        qq, pk = 1.0 - pr, np.ones(n_ch)
        e = n_fib
        while e:
            if e & 1:
                pk = pk * qq
            qq = qq * qq
            e >>= 1
        cdf, n = pk.copy(), np.zeros(n_ch, np.int64)
        full = pr >= 1.0
        go = (u >= cdf) & (n < n_fib) & ~full
        with np.errstate(divide="ignore"):
            odds = pr / (1.0 - pr)
        while go.any():
            pk[go] = pk[go] * ratio[n[go]] * odds[go]
            n[go] += 1
            cdf[go] += pk[go]
            go = (u >= cdf) & (n < n_fib) & ~full
        n[full] = n_fib
        cur = cur * ds + w * n.astype(np.float64)
        busy = hold > 0
        v = np.where(busy, 0.0, v * dm + (1.0 - dm) * cur)
        fire = ~busy & (v >= thr)
        out[fire, t] = 1
        v[fire] = 0.0
        hold = np.where(busy, hold - 1, np.where(fire, int(refrac), 0))
    return out
