"""Training-time augmentation: each transform against a plain dense version, order kept,
draws tied to (seed, sample), the option's checks, and a training epoch that uses it."""

from __future__ import annotations

import numpy as np
import pytest

from spikegrad.datasets.augment import Augment
from spikegrad.datasets.batching import prefetch
from spikegrad.errors import BadValueError, ConfigError
from spikegrad.train.config import TrainConfig

from .test_batching import in_order, random_dataset


def dense(m) -> np.ndarray:
    """A SpikeMatrix as a (B, T, N) 0/1 array."""
    x = np.zeros((m.T * m.B, m.N), dtype=np.uint8)
    rows = np.repeat(np.arange(m.T * m.B), np.diff(m.indptr))
    x[rows, m.indices] = 1
    return x.reshape(m.T, m.B, m.N).transpose(1, 0, 2)


def moved(x: np.ndarray, dt: int, di: int) -> np.ndarray:
    """One (T, N) sample moved by dt steps and di channels, what leaves the grid dropped."""
    T, N = x.shape
    out = np.zeros_like(x)
    src_t, src_i = slice(max(0, -dt), min(T, T - dt)), slice(max(0, -di), min(N, N - di))
    dst_t, dst_i = slice(max(0, dt), min(T, T + dt)), slice(max(0, di), min(N, N + di))
    out[dst_t, dst_i] = x[src_t, src_i]
    return out


def draws(aug: Augment, seed: int, key: int) -> tuple[int, int]:
    """The (channel, step) offsets sample ``key`` gets: the documented generator's first two."""
    rng = np.random.default_rng([seed, key])
    return int(rng.integers(-aug.shift, aug.shift + 1)), int(
        rng.integers(-aug.time_shift, aug.time_shift + 1)
    )


@pytest.mark.parametrize("aug", [Augment(shift=3), Augment(time_shift=4), Augment(2, 5)])
def test_shifts_match_a_plain_dense_move(rng, aug):
    ds = random_dataset(rng, n=30, T=12, N=9, p=0.3)
    idx = np.array([4, 0, 17, 29, 3, 11])
    x, y = ds.batch_matrix(idx, aug, seed=7)
    got = dense(x)
    for b, k in enumerate(idx):
        di, dt = draws(aug, 7, k)
        np.testing.assert_array_equal(got[b], moved(ds.dense[k].astype(np.uint8), dt, di))
    np.testing.assert_array_equal(y, ds.labels[idx])
    offsets = [draws(aug, 7, k) for k in range(len(ds))]
    assert len(set(offsets)) > 3  # the offsets vary from sample to sample


def test_draws_depend_on_seed_and_sample_not_on_the_batch(rng):
    ds = random_dataset(rng, n=30, T=10, N=8, p=0.4)
    aug = Augment(shift=2, time_shift=2, drop=0.3)
    whole = dense(ds.batch_matrix(np.arange(30), aug, seed=5)[0])
    part = dense(ds.batch_matrix(np.array([21, 3]), aug, seed=5)[0])
    np.testing.assert_array_equal(part, whole[[21, 3]])
    again = dense(ds.batch_matrix(np.arange(30), aug, seed=5)[0])
    np.testing.assert_array_equal(again, whole)
    other = dense(ds.batch_matrix(np.arange(30), aug, seed=6)[0])
    assert not np.array_equal(other, whole)
    plain = dense(ds.batch_matrix(np.arange(30))[0])
    np.testing.assert_array_equal(dense(ds.batch_matrix(np.arange(30), Augment(), 5)[0]), plain)


def test_drop_deletes_about_that_fraction_and_keeps_order(rng):
    ds = random_dataset(rng, n=20, T=50, N=40, p=0.5, empty=(2,))
    for p in (0.1, 0.5):
        t, i, lengths = Augment(drop=p).apply(
            ds.t, ds.i, ds.events_per_sample, ds.T, ds.n_inputs, np.arange(20), 1
        )
        assert abs(1 - t.size / ds.n_events - p) < 0.02
        assert lengths.sum() == t.size and lengths[2] == 0
        out = type(ds)(t, i, np.r_[0, np.cumsum(lengths)], ds.labels, ds.T, ds.n_inputs, 3)
        assert in_order(out)
        kept = dense(out.batch_matrix(np.arange(20))[0])
        assert np.all(kept <= ds.dense)  # only deletions


def test_prefetch_resumes_and_shards_with_the_same_draws(rng):
    ds = random_dataset(rng, n=24, T=8, N=6, p=0.4)
    aug = Augment(shift=1, drop=0.2)
    with prefetch(ds, 5, seed=9, augment=aug) as each:
        full = [dense(x) for x, _ in each]
    with prefetch(ds, 5, seed=9, augment=aug, start=2) as each:
        later = [dense(x) for x, _ in each]
    for a, b in zip(later, full[2:], strict=True):
        np.testing.assert_array_equal(a, b)
    with prefetch(ds, 5, seed=9, augment=aug, part=lambda n: slice(1, 3)) as each:
        shares = [dense(x) for x, _ in each]
    for a, b in zip(shares, full, strict=True):
        np.testing.assert_array_equal(a, b[1:3])
    with prefetch(ds, 5, seed=10, augment=aug) as each:
        assert not all(np.array_equal(dense(x), f) for (x, _), f in zip(each, full, strict=True))


def test_config_checks_the_table():
    assert TrainConfig(augment={"shift": 40, "drop": 0.1}).augment == {"shift": 40, "drop": 0.1}
    assert TrainConfig(augment={"shift": 0}).augment == {}
    for bad, where in (
        ({"shift": -1}, "augment.shift"),
        ({"shift": 1.5}, "augment.shift"),
        ({"drop": 1.0}, "augment.drop"),
        ({"time_shift": "3"}, "augment.time_shift"),
    ):
        with pytest.raises(BadValueError, match=where):
            TrainConfig(augment=bad)
    with pytest.raises(ConfigError, match="unknown keys"):
        TrainConfig(augment={"stretch": 2})
    with pytest.raises(BadValueError, match="augment"):
        TrainConfig(augment=3)
