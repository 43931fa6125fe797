"""Batch preparation off the critical path: the next batch is built while the current step runs.

A :class:`Prefetcher` runs a background thread that pulls (x, y) batches from an iterator
(normally :meth:`EventDataset.batch_matrix` over a batch order, an O(E) placement on the host)
and keeps up to ``depth`` of them ready in a queue. On the CuPy backend the thread also moves
each SpikeMatrix to the device: it stages the arrays in pinned host memory and queues
asynchronous copies on the stream the training loop computes on (so the copy is ordered
before the step that reads the batch and after the steps that used the memory the pool hands
out; CuPy's pool has no cross-stream use tracking, which rules out a separate copy stream),
then waits for the copies in the thread before reusing the pinned buffers. The NumPy backend
only prepares in the thread. Labels stay on the host.

The thread never outlives its loop: use the prefetcher as a context manager (or call
:meth:`Prefetcher.close`); closing stops the thread on normal end, on exceptions, on Ctrl-C
and on early stop. A failure in the thread is raised in the consumer at the next batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from ..backend import Backend
from ..spikes import SpikeMatrix
from .augment import Augment
from .base import EventDataset

_END = object()
_POLL_S = 0.05  # how often a waiting thread looks at the stop flag


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def device_copier(cp: ModuleType) -> Callable[[Any], Any]:
    """A function moving a host SpikeMatrix to the device of ``cp`` (CuPy) through pinned
    memory, on the device and stream current when this is called (in the consumer's thread);
    other values pass unchanged."""
    stream, device = cp.cuda.get_current_stream(), cp.cuda.Device()

    def upload(a: np.ndarray) -> Any:
        out = cp.empty(a.shape, dtype=a.dtype)
        if a.size:
            mem = cp.cuda.alloc_pinned_memory(a.nbytes)
            buf = np.frombuffer(mem, a.dtype, a.size).reshape(a.shape)
            buf[...] = a
            out.set(buf, stream=stream)
        return out

    def copy(x: Any) -> Any:
        if not isinstance(x, SpikeMatrix):
            return x
        with device, stream:  # allocate from the pool of the stream that will read the batch
            m = SpikeMatrix(upload(x.indptr), upload(x.indices), x.T, x.B, x.N)
        stream.synchronize()  # copies done: the pinned buffers may be reused
        return m

    return copy


class Prefetcher:
    """Iterate ``items`` (x, y) with the next ``depth`` items prepared by a background thread.

    ``backend``: the network's :class:`~spikegrad.backend.Backend`; on "cupy" a SpikeMatrix x
    is moved to the device in the thread (:func:`device_copier`). Shapes: as ``items``.
    """

    def __init__(
        self, items: Iterable[tuple[Any, Any]], backend: Backend | None = None, depth: int = 1
    ) -> None:
        self._items = iter(items)
        self._copy = (
            device_copier(backend.xp)
            if backend is not None and backend.name == "cupy"
            else (lambda x: x)
        )
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self.thread = threading.Thread(target=self._work, name="spikegrad-prefetch", daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for x, y in self._items:
                if self._stop.is_set() or not self._put((self._copy(x), y)):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return self

    def __next__(self) -> tuple[Any, Any]:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END or isinstance(item, _Failure):
            self.close()
            if item is _END:
                raise StopIteration
            raise item.exc
        return item

    def close(self) -> None:
        """Stop and join the thread (idempotent); prepared batches are dropped."""
        self._done = True
        self._stop.set()
        while self.thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self.thread.join(_POLL_S)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetch(
    data: EventDataset,
    batch_size: int,
    seed: int = 0,
    *,
    shuffle: bool = True,
    drop_last: bool = False,
    start: int = 0,
    backend: Backend | None = None,
    depth: int = 1,
    part: Callable[[int], slice] | None = None,
    augment: Augment | None = None,
) -> Prefetcher:
    """The prepared batches (SpikeMatrix, labels) of one pass, from batch ``start`` on.

    Same order as ``data.batches(batch_size, shuffle, seed, drop_last)``; skipped batches are
    not built. Use as a context manager: ``with prefetch(...) as batches: for x, y in ...``.
    ``part(n)``: the slice of each batch of ``n`` samples to keep (a rank's share of it).
    ``augment``: every sample transformed with draws seeded by ``seed`` and its index.
    """
    order = data.batch_order(batch_size, shuffle, seed, drop_last)[start:]
    if part is not None:
        order = [idx[part(idx.size)] for idx in order]
    return Prefetcher((data.batch_matrix(idx, augment, seed) for idx in order), backend, depth)
