"""Batches without a sort: the (t, i) order of datasets, batch_matrix, the prefetch thread."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import datasets
from spikegrad.backend import Backend
from spikegrad.datasets.base import EventDataset
from spikegrad.datasets.batching import Prefetcher, device_copier, prefetch
from spikegrad.spikes import SpikeMatrix, spike_matrix_from_keys
from spikegrad.train.loop import epoch_seed, train_epoch


def random_dataset(rng, n=40, T=12, N=9, p=0.15, empty=(3, 7)) -> EventDataset:
    """Samples in a scrambled order with repeated bins, some samples without events."""
    x = rng.random((n, T, N)) < p
    x[list(empty)] = False
    s, t, i = np.nonzero(x)
    dup = rng.integers(0, s.size, 25)
    s, t, i = (np.concatenate((a, a[dup])) for a in (s, t, i))
    perm = np.lexsort((rng.random(s.size), s))  # grouped by sample, scrambled inside
    offsets = np.r_[0, np.cumsum(np.bincount(s, minlength=n))]
    labels = rng.integers(0, 3, n)
    ds = EventDataset(t[perm].astype(np.uint8), i[perm].astype(np.uint16), offsets, labels, T, N, 3)
    ds.dense = x  # the truth, for the tests
    return ds


def by_sort(ds: EventDataset, idx) -> SpikeMatrix:
    """The former batch construction: SpikeEvents keys sorted time-major, repeats dropped."""
    x, _ = ds.batch(idx)
    B, T, N = x.shape
    return spike_matrix_from_keys(np, np.unique((x.t * B + x.b) * N + x.i), T, B, N)


def assert_same(m: SpikeMatrix, ref: SpikeMatrix) -> None:
    assert (m.T, m.B, m.N) == (ref.T, ref.B, ref.N)
    np.testing.assert_array_equal(m.indptr, ref.indptr)
    np.testing.assert_array_equal(m.indices, ref.indices)


def in_order(ds: EventDataset) -> bool:
    key = ds.t.astype(np.int64) * ds.n_inputs + ds.i
    starts = np.zeros(ds.n_events, dtype=bool)
    starts[ds.offsets[:-1][np.diff(ds.offsets) > 0]] = True
    return bool(np.all((np.diff(key, prepend=-1) > 0) | starts))


def test_dataset_sorts_once_and_keeps_sorted_arrays(rng):
    ds = random_dataset(rng)
    assert in_order(ds) and ds.t.dtype == np.uint8 and ds.i.dtype == np.uint16
    np.testing.assert_array_equal(ds.batch(np.arange(len(ds)))[0].to_dense(), ds.dense)
    assert ds.n_events == ds.dense.sum()  # repeats dropped
    again = EventDataset(ds.t, ds.i, ds.offsets, ds.labels, ds.T, ds.n_inputs, 3)
    assert again.t is ds.t and again.i is ds.i  # already in order: kept as given


def test_every_reader_gives_the_engine_order(tmp_path, write_fmnist):
    syn = datasets.load("synthetic", n_samples=30, cache=False)
    assert in_order(syn) and in_order(syn.subset([5, 2, 9]))
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 0, :3] = [100, 255, 180]  # unit order 0, 1, 2 spikes at steps 14, 4, 6
    write_fmnist(tmp_path / "fmnist", images, [1, 2])
    for _ in range(2):  # encoded, then from the event cache
        ds = datasets.load("fmnist", root=tmp_path)
        np.testing.assert_array_equal(ds.t, [4, 6, 14])
        np.testing.assert_array_equal(ds.i, [1, 2, 0])


@pytest.mark.parametrize("B", [1, 5, 40])
def test_batch_matrix_equals_the_sorted_batch(rng, B):
    ds = random_dataset(rng)
    for idx in (rng.permutation(len(ds))[:B], np.array([3, 7, 3][:B])):
        m, y = ds.batch_matrix(idx)
        assert_same(m, by_sort(ds, idx))
        np.testing.assert_array_equal(y, ds.labels[idx])


def test_batch_matrix_single_step(rng):
    ds = random_dataset(rng, T=1, N=30, p=0.3)
    assert_same(ds.batch_matrix(np.arange(6))[0], by_sort(ds, np.arange(6)))


def test_bad_event_arrays_are_refused():
    with pytest.raises(sg.DataError, match=r"t outside 0\.\.3"):
        EventDataset(np.array([4]), np.array([0]), [0, 1], [0], 4, 5, 2, name="x")
    with pytest.raises(sg.DataError, match="i must be 1-D integers"):
        EventDataset(np.array([1]), np.array([0.5]), [0, 1], [0], 4, 5, 2, name="x")


def test_prefetch_order_equals_the_plain_batches(rng):
    ds = random_dataset(rng)
    plain = list(ds.batches(6, seed=11, prepare=True))
    for start in (0, 3):
        with prefetch(ds, 6, seed=11, start=start, depth=2) as batches:
            got = list(batches)
        assert len(got) == len(plain) - start
        for (m, y), (ref, yr) in zip(got, plain[start:], strict=True):
            assert_same(m, ref)
            np.testing.assert_array_equal(y, yr)
        assert not batches.thread.is_alive()


def test_prefetch_thread_ends_on_break_exception_and_failure(rng):
    ds = random_dataset(rng)
    with prefetch(ds, 4, seed=1) as batches:
        next(batches)  # early stop
    assert not batches.thread.is_alive()
    with pytest.raises(KeyboardInterrupt), prefetch(ds, 4, seed=1) as batches:
        for _ in batches:
            raise KeyboardInterrupt
    assert not batches.thread.is_alive()

    def failing():
        yield ds.batch_matrix([0, 1])
        raise sg.DataError("broken sample")

    with pytest.raises(sg.DataError, match="broken sample"), Prefetcher(failing()) as batches:
        list(batches)
    assert not batches.thread.is_alive()
    assert next(iter(batches), None) is None  # closed: nothing more


def _run(ds, prefetched: bool, stop_after: int | None = None):
    net = sg.Network([ds.n_inputs, 16, 3], init="normal", seed=2, dtype="float64")
    opt = sg.Adam(net.params, lr=1e-2)
    if prefetched:

        def on_batch(done, loss):
            if done == stop_after:
                raise KeyboardInterrupt

        train_epoch(net, opt, ds, 8, seed=3, epoch=1, on_batch=on_batch)
    else:
        for x, y in ds.batches(8, seed=epoch_seed(3, 1)):
            _, grads, _ = net.loss_and_grad(x, y)
            opt.step(grads)
    return net.params


def test_train_epoch_is_bitwise_the_plain_loop_and_leaves_no_thread(rng):
    ds = random_dataset(rng, n=50, p=0.4)
    plain, fetched = _run(ds, False), _run(ds, True)
    for k in plain:
        np.testing.assert_array_equal(fetched[k], plain[k])
    with pytest.raises(KeyboardInterrupt):
        _run(ds, True, stop_after=2)
    assert not [t for t in threading.enumerate() if t.name == "spikegrad-prefetch"]


class _FakeDeviceArray(np.ndarray):
    def set(self, a, stream=None):
        assert stream is FAKE.stream and isinstance(a, np.ndarray)
        self[...] = a


class _FakeStream:
    synced = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def synchronize(self):
        self.synced += 1


FAKE = SimpleNamespace(stream=_FakeStream())
FAKE.cuda = SimpleNamespace(
    get_current_stream=lambda: FAKE.stream,
    Device=_FakeStream,
    alloc_pinned_memory=bytearray,
)
FAKE.empty = lambda shape, dtype: np.empty(shape, dtype).view(_FakeDeviceArray)


def test_device_copy_through_pinned_buffers(rng):
    """The CuPy upload path, on a stand-in module: copies queued on the consumer's stream."""
    ds = random_dataset(rng)
    ref, _ = ds.batch_matrix(np.arange(8))
    m = device_copier(FAKE)(ref)
    assert isinstance(m.indptr, _FakeDeviceArray) and isinstance(m.indices, _FakeDeviceArray)
    assert_same(m, ref)
    assert FAKE.stream.synced == 1
    empty = ds.batch_matrix([3])[0]
    assert device_copier(FAKE)(empty).nnz == 0
    with Prefetcher(ds.batches(8, prepare=True), Backend("cupy", FAKE)) as batches:
        got = [m for m, _ in batches]
    assert all(isinstance(m.indices, _FakeDeviceArray) for m in got) and len(got) == 5
