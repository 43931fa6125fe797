"""The NCCL path of data-parallel training on real GPUs (spikegrad/distributed.py).

    python tools/nccl_check.py OUT                  # one GPU: a one-rank NCCL communicator
    mpiexec -n 2 python tools/nccl_check.py OUT     # then, with 2 GPUs: two ranks

Needs CuPy with NCCL (cupy.cuda.nccl), mpi4py and an MPI (the "mpi" extra). Checks, one
line each, exit status 1 if any fails: (1) NcclComm sums float32, float64 and int64 device
buffers in place over the ranks; (2) one epoch of the built-in task (float64, CuPy, 385
samples, 7 updates and a last batch of 1) trained data-parallel ends within 1e-9
(relative, max-norm) of one process without a communicator. The one-process reference is
trained into OUT/reference by the first (plain) call and reused by the mpiexec call.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _max_rel_diff(a: Path, b: Path) -> float:
    with np.load(a) as x, np.load(b) as y:
        keys = [k for k in x.files if k != "meta"]
        return max(float(np.abs(x[k] - y[k]).max() / np.abs(x[k]).max()) for k in keys)


def main(out: Path) -> int:
    import cupy as cp
    from mpi4py import MPI

    from spikegrad.distributed import launched, world
    from spikegrad.train import run as runs
    from spikegrad.train.config import make_config

    rank, size = launched()
    comm = world("cupy") if size > 1 else None  # picks the GPU of the local rank
    if comm is None:  # one process: a one-rank NCCL communicator made by hand
        from cupy.cuda import nccl

        from spikegrad.distributed import NcclComm

        comm = NcclComm(MPI.COMM_WORLD, nccl, cp)
    ok = True
    for dtype in (np.float32, np.float64, np.int64):
        buf = cp.arange(1000, dtype=dtype) * (rank + 1)
        comm.allreduce(buf)
        good = bool((buf.get() == np.arange(1000, dtype=dtype) * (size * (size + 1) // 2)).all())
        ok &= good
        print(f"rank {rank} of {size}: NCCL allreduce {np.dtype(dtype).name}: {good}")
    cfg = make_config(None, None, backend="cupy", dtype="float64", limit=513, epochs=1)
    quiet = lambda s: None  # noqa: E731
    ref = out / "reference"
    if size == 1 and not (ref / "last.npz").exists():
        runs.fit(cfg, ref, log=quiet)
    run = out / f"nccl-{size}"
    runs.fit(cfg, run, log=quiet, comm=comm if size == 1 else None)
    if rank == 0:
        err = _max_rel_diff(ref / "last.npz", run / "last.npz")
        good = err <= 1e-9
        ok &= good
        print(f"{size} rank(s) on NCCL vs one process, one epoch: max rel diff {err:.2e}: {good}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
