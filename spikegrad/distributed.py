"""Data-parallel training over MPI ranks: MPI (mpi4py) on host arrays, NCCL on device arrays.

Launched with more than one rank (``mpiexec -n 4 spikegrad train ...``), every rank holds the
whole network and the whole data set, takes its share of every global batch (contiguous,
sizes differing by at most one; a rank may get none of a short last batch), and the gradients
are summed over the ranks, each weighted by its share, so every rank applies the same Adam
step to the mean gradient over the GLOBAL batch:

    dL/dw = (1/B) sum_b dl_b/dw = sum_r (b_r / B) g_r,   g_r = (1/b_r) sum_{b in rank r} dl_b/dw

(cross-entropy and regulariser are both means of per-sample terms, ALGORITHM.md §2), which
equals one process up to the order of the additions.

A launch is recognised from the launcher's environment (MPICH/Hydra, Open MPI, MVAPICH,
srun), so one process never imports mpi4py: it gets a :class:`SingleComm` (rank 0 of 1, every
collective the identity), so the training code has one path for one process and many.
:class:`MPIComm` reduces host (NumPy) arrays with MPI; :class:`NcclComm` reduces device
(CuPy) arrays with ``cupy.cuda.nccl`` on the current stream (the NCCL unique id travels over
MPI) and keeps MPI for host values and objects.

Per update, a rank makes four collectives: the gradients as one flat buffer (the parameter
count in the training dtype: 4 bytes a parameter in float32), the batch's sums (loss,
correct predictions, active fractions: 2 + L float64), the spike rates (L float64, host) and
the stop flags (one int64 per rank, host). Rank 0 writes the run folder; every rank reads
the data set and, for ``--resume``, the checkpoint (a shared file system).

Failures: :func:`together` makes an error of any rank an error of every rank (setup steps that
may fail on one rank alone); :func:`abort_on_error` turns an error on one rank during
training into one line naming the rank and ``MPI_Abort``, so the job ends instead of hanging
in the next collective.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
import traceback
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

from .backend import Array, get_xp
from .errors import BackendUnavailableError, ConfigError, DTypeError, SpikegradError

# (size, rank) variables of the launchers: MPICH/Hydra and Intel MPI, Open MPI, MVAPICH, srun
LAUNCH_ENV = (
    ("PMI_SIZE", "PMI_RANK"),
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
)
INSTALL_HINT = "pip install 'spikegrad[mpi]'"


def launched() -> tuple[int, int]:
    """(rank, size) from the launcher's environment; (0, 1) for a plain process."""
    for size_var, rank_var in LAUNCH_ENV:
        if size_var in os.environ:
            try:
                return int(os.environ.get(rank_var, "0")), int(os.environ[size_var])
            except ValueError:
                continue
    return 0, 1


class PeerError(SpikegradError, RuntimeError):
    """Another rank failed (raised on the ranks that did not); the message names the rank."""


class SingleComm:
    """The communicator of one process: rank 0 of 1; every collective is the identity.

    Same interface as :class:`MPIComm` (no mpi4py needed); ``busy_s`` stays 0.
    """

    rank, size = 0, 1

    def __init__(self) -> None:
        self.busy_s = 0.0

    def allreduce_host(self, buf: np.ndarray) -> np.ndarray:
        """The sum over one rank: ``buf`` itself."""
        return buf

    def allreduce(self, buf: Array) -> Array:
        """The sum over one rank: ``buf`` itself."""
        return buf

    def reduce_grads(self, grads: dict[str, Array], weight: float) -> dict[str, Array]:
        """One rank holds the whole batch (``weight`` 1): ``grads`` themselves."""
        return grads

    def allgather(self, obj: Any) -> list[Any]:
        """``[obj]``."""
        return [obj]

    def bcast(self, obj: Any) -> Any:
        """``obj``."""
        return obj

    def abort(self, code: int = 1) -> NoReturn:
        """End the process."""
        raise SystemExit(code)

    def flagged(self, value: int) -> dict[int, int]:
        """{0: value} if ``value`` is non-zero, else {}."""
        return {0: int(value)} if value else {}


ABORT_GRACE_S = 0.5  # seconds between a rank's last words and MPI_Abort


class MPIComm:
    """Collectives of a data-parallel job over an mpi4py communicator, on host arrays.

    Shapes: every buffer is 1-D and C-contiguous; reductions are sums, in place.
    ``busy_s``: seconds spent in :meth:`allreduce` and :meth:`allreduce_host` so far.
    """

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.comm, self._mpi = comm, MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.busy_s = 0.0

    def allreduce_host(self, buf: np.ndarray) -> np.ndarray:
        """Sum ``buf`` over the ranks, in place; returns it."""
        t0 = time.perf_counter()
        self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        self.busy_s += time.perf_counter() - t0
        return buf

    def allreduce(self, buf: Array) -> Array:
        """Sum a backend buffer over the ranks, in place (NumPy here); returns it."""
        return self.allreduce_host(buf)

    def reduce_grads(self, grads: dict[str, Array], weight: float) -> dict[str, Array]:
        """``sum_r weight_r grads_r`` over the ranks (:func:`reduce_grads`)."""
        return reduce_grads(self, grads, weight)

    def allgather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (pickled; for small values)."""
        return self.comm.allgather(obj)

    def bcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled)."""
        return self.comm.bcast(obj, root=0)

    def abort(self, code: int = 1) -> NoReturn:
        """End every rank of the job (MPI_Abort), after a pause that lets the launcher pass on
        what this rank has written: MPICH's launcher kills the job at once and drops output
        still in its pipes (seen: the rank's one-line message lost in 1 of 12 runs)."""
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(code)
        raise SystemExit(code)  # not reached: Abort does not return

    def flagged(self, value: int) -> dict[int, int]:
        """{rank: value} of the ranks whose integer ``value`` is non-zero (one Allgather)."""
        flags = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([value], dtype=np.int64), flags)
        return {int(r): int(flags[r]) for r in np.flatnonzero(flags)}


class NcclComm(MPIComm):
    """:class:`MPIComm` whose :meth:`allreduce` sums device arrays with NCCL on the current
    stream (asynchronous, no host read); the unique id is made on rank 0 and sent over MPI.

    ``nccl``: the ``cupy.cuda.nccl`` module; ``cp``: the ``cupy`` module.
    Shapes: buffers 1-D, C-contiguous, float32, float64 or int64 device arrays.
    """

    def __init__(self, comm: Any, nccl: ModuleType, cp: ModuleType) -> None:
        super().__init__(comm)
        self._nccl, self._cp = nccl, cp
        self._types = {
            np.dtype(np.float32): nccl.NCCL_FLOAT32,
            np.dtype(np.float64): nccl.NCCL_FLOAT64,
            np.dtype(np.int64): nccl.NCCL_INT64,
        }
        uid = self.bcast(nccl.get_unique_id() if self.rank == 0 else None)
        self.nccl_comm = nccl.NcclCommunicator(self.size, uid, self.rank)

    def allreduce(self, buf: Array) -> Array:
        """Sum the device buffer ``buf`` over the ranks with NCCL, in place; returns it."""
        kind = self._types.get(np.dtype(buf.dtype))
        if kind is None or buf.ndim != 1 or not buf.flags.c_contiguous:
            raise DTypeError(
                f"NCCL allreduce takes a 1-D contiguous float32, float64 or int64 buffer; "
                f"got {buf.dtype} of shape {buf.shape}"
            )
        stream = self._cp.cuda.get_current_stream()
        ptr = buf.data.ptr
        t0 = time.perf_counter()
        self.nccl_comm.allReduce(ptr, ptr, buf.size, kind, self._nccl.NCCL_SUM, stream.ptr)
        self.busy_s += time.perf_counter() - t0
        return buf


@functools.cache
def _world_mpi() -> MPIComm:
    rank, size = launched()
    try:
        from mpi4py import MPI
    except ImportError:
        raise BackendUnavailableError(
            f"launched as rank {rank} of {size} (mpiexec), but mpi4py is not installed: "
            f"{INSTALL_HINT}"
        ) from None
    comm = MPIComm(MPI.COMM_WORLD)
    if comm.size != size:
        raise BackendUnavailableError(
            f"the launcher started {size} ranks but MPI sees {comm.size}: mpiexec belongs to "
            f"another MPI than mpi4py's ({MPI.Get_library_version().splitlines()[0]})"
        )
    return comm


@functools.cache
def _world_nccl() -> NcclComm:
    from mpi4py import MPI

    from .backend import _import_cupy

    mpi = _world_mpi().comm  # first: its checks
    cp = _import_cupy()
    from cupy.cuda import nccl

    local = mpi.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    cp.cuda.Device(local % cp.cuda.runtime.getDeviceCount()).use()  # one GPU per local rank
    return NcclComm(mpi, nccl, cp)


Comm = SingleComm | MPIComm
SINGLE = SingleComm()  # the communicator of one process (a default argument; busy_s stays 0)


def world(backend: str) -> Comm:
    """The job's communicator; a :class:`SingleComm` for one process (mpi4py never imported).

    ``backend`` "cupy": an :class:`NcclComm`, each rank on GPU (local rank mod GPUs).
    Call :func:`check_same` with the MPI communicator first (``world("numpy")``): ranks that
    disagree on the backend would wait forever in NCCL's set-up.
    """
    if launched()[1] <= 1:
        return SingleComm()
    return _world_nccl() if backend == "cupy" else _world_mpi()


def check_same(comm: Comm, settings: dict[str, Any]) -> None:
    """Refuse settings that differ across ranks: ConfigError on every rank, naming the
    first rank that differs from rank 0 and the keys. One allgather (pickled)."""
    every = comm.allgather(settings)
    for r, s in enumerate(every):
        diff = sorted(k for k in set(s) | set(every[0]) if s.get(k) != every[0].get(k))
        if diff:
            raise _all_ranks(
                ConfigError(
                    f"the ranks disagree: rank {r} has other {', '.join(diff)} than rank 0 "
                    f"({', '.join(f'{k} {s.get(k)!r} vs {every[0].get(k)!r}' for k in diff)}); "
                    "every rank must get the same config"
                )
            )


def shard(n: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous part of ``n`` items: ``n // size`` items, one more for the
    first ``n % size`` ranks (possibly none)."""
    q, extra = divmod(n, size)
    lo = rank * q + min(rank, extra)
    return slice(lo, lo + q + (rank < extra))


def reduce_grads(comm: MPIComm, grads: dict[str, Array], weight: float) -> dict[str, Array]:
    """``sum_r weight_r grads_r`` over the ranks, through one flat buffer (one allreduce).

    Shapes: grads {name: any shape} -> same keys and shapes, on the same backend.
    """
    xp = get_xp(*grads.values())
    flat = xp.concatenate([g.reshape(-1) for g in grads.values()])
    flat *= flat.dtype.type(weight)
    comm.allreduce(flat)
    out, lo = {}, 0
    for k, g in grads.items():
        out[k] = flat[lo : lo + g.size].reshape(g.shape)
        lo += g.size
    return out


def _all_ranks(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised alike on every rank (so :func:`abort_on_error` lets it pass)."""
    exc.all_ranks = True  # type: ignore[attr-defined]
    return exc


@contextlib.contextmanager
def together(comm: Comm) -> Iterator[None]:
    """Run a block on every rank; if it raised on any, raise on every rank: a rank's own
    exception where it has one, else :class:`PeerError` with the first failing rank's message.
    One allgather at the end of the block."""
    failure: Exception | None = None
    try:
        yield
    except Exception as exc:
        failure = exc
    errs = comm.allgather(None if failure is None else " ".join(str(failure).split()))
    bad = [r for r, e in enumerate(errs) if e is not None]
    if failure is not None:
        raise _all_ranks(failure)
    if bad:
        raise _all_ranks(PeerError(f"rank {bad[0]}: {errs[bad[0]]}"))


@contextlib.contextmanager
def abort_on_error(comm: Comm, debug: bool = False) -> Iterator[None]:
    """An exception on one rank alone (not from :func:`together`) prints one line naming the
    rank on the process's stderr (with ``debug``, the traceback too) and aborts the whole job
    (``MPI_Abort``): the other ranks would otherwise wait in their next collective forever.
    One process has no one waiting: its exceptions pass unchanged."""
    if comm.size == 1:
        yield
        return
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "all_ranks", False) or isinstance(exc, SystemExit):
            raise
        what = " ".join(str(exc).split())
        text = f"{type(exc).__name__}: {what}" if what else type(exc).__name__
        if debug:
            os.write(2, "".join(traceback.format_exception(exc)).encode())
        os.write(
            2,
            f"spikegrad: rank {comm.rank} of {comm.size} failed: {text}; "
            "aborting the job\n".encode(),
        )
        comm.abort(1)


def silence_followers() -> None:
    """In a launched job, ranks other than 0 print nothing (stdout and stderr of Python go to
    the null device for the rest of the process; fd 2 stays, for :func:`abort_on_error`)."""
    if launched()[0] > 0:
        sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")
