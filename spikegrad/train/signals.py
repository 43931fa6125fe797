"""Ctrl-C (SIGINT) and SIGTERM during a run: finish the current update, then stop (on every
rank of a data-parallel job at the same update); a second signal interrupts at once."""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..distributed import Comm

STOP_SIGNALS = ("SIGINT", "SIGTERM")  # Ctrl-C, and what cluster schedulers send before a kill


class StopRequests:
    """The stop signals of a run: ``signal`` is the first one received (0: none yet)."""

    def __init__(self, comm: Comm) -> None:
        self.comm, self.signal, self.told = comm, 0, False

    def handle(self, signum: int, frame: Any) -> None:
        """The signal handler: remember the first signal; a second one interrupts."""
        if self.signal:
            raise KeyboardInterrupt
        self.signal = signum

    def requested(self) -> bool:
        """A stop signal here or on any rank (every rank asks at the same update; in a job of
        several ranks, a note names the rank that got it)."""
        got = self.comm.flagged(self.signal)
        if got and not self.told:
            self.signal, self.told = next(iter(got.values())), True
            if self.comm.size > 1:
                who = f"rank{'s' * (len(got) > 1)} {', '.join(map(str, got))}"
                name = signal.Signals(self.signal).name
                warnings.warn(f"{who} got {name}: every rank stops", stacklevel=1)
        return bool(got)


@contextmanager
def deferred_signals(comm: Comm) -> Iterator[StopRequests]:
    """While active, SIGINT or SIGTERM only marks the returned :class:`StopRequests` (in the
    main thread; elsewhere signals are left alone)."""
    stops = StopRequests(comm)
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return
    sigs = [getattr(signal, n) for n in STOP_SIGNALS if hasattr(signal, n)]
    old = {s: signal.signal(s, stops.handle) for s in sigs}
    try:
        yield stops
    finally:
        for s, h in old.items():
            signal.signal(s, h)
