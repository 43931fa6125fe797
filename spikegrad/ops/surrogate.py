"""The surrogate derivative and the active set (ALGORITHM.md §3). xp-generic.

sigma'(V) = 1 / (beta_s * |V - theta| + 1) ** 2
active    <=>  |V - theta| < b_th              (b_th = inf: every finite V is active)
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import Array, get_xp


class ActiveSet(NamedTuple):
    """Active entries of one layer: unique flat indices ``(t * B + b) * N + j``.

    Sorted ascending (every producer sorts once), so the entries of one (t, b) row are
    adjacent and the backward's scatter and row gathers go row by row.
    Shapes: idx (A,) int32 or int64; sp (A,) float, sigma'(V) at those entries.
    """

    idx: Array
    sp: Array

    @property
    def nbytes(self) -> int:
        return int(self.idx.nbytes + self.sp.nbytes)


def sigma_prime(v: Array, theta: float, beta_s: float) -> Array:
    """The fast-sigmoid surrogate derivative. Shapes: any -> same."""
    xp = get_xp(v)
    d = xp.abs(v - v.dtype.type(theta))
    one = v.dtype.type(1)
    return one / (v.dtype.type(beta_s) * d + one) ** 2


def sigma_prime_masked(v: Array, theta: float, beta_s: float, b_th: float) -> Array:
    """sigma'(V) on the active band, 0 elsewhere (the dense mode's surrogate)."""
    xp = get_xp(v)
    sp = sigma_prime(v, theta, beta_s)
    return xp.where(xp.abs(v - v.dtype.type(theta)) < b_th, sp, v.dtype.type(0))


INT64_FROM = 2**31  # test hook: tests/kernels lower it to 0 to run the int64 path on small data


def index_dtype(size: int):
    """int32 when every flat index fits (size < INT64_FROM = 2**31), else int64."""
    import numpy as np

    return np.int32 if size < INT64_FROM else np.int64


def active_set(v: Array, theta: float, beta_s: float, b_th: float) -> ActiveSet:
    """Extract the active set of a membrane record.

    Shapes: v (T, B, N) float -> ActiveSet with flat indices into v.
    """
    xp = get_xp(v)
    return active_from_distance(xp.abs(v.reshape(-1) - v.dtype.type(theta)), beta_s, b_th)


def active_from_distance(d: Array, beta_s: float, b_th: float) -> ActiveSet:
    """The active set from d = |V - theta| (flat): indices where d < b_th and sigma' there."""
    xp = get_xp(d)
    idx = xp.flatnonzero(d < b_th).astype(index_dtype(d.size), copy=False)
    one = d.dtype.type(1)
    return ActiveSet(idx, one / (d.dtype.type(beta_s) * d[idx] + one) ** 2)
