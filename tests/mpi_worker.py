"""One rank of the 2-rank tests of tests/test_distributed.py (run under mpiexec).

    mpiexec -n 2 python tests/mpi_worker.py SCENARIO [spikegrad train options...]

Scenarios: ``train`` and ``evaluate`` (the CLI as it is), ``fail`` (rank 1 raises in its 2nd step),
``sigterm`` (rank 1 gets SIGTERM in its 3rd step), ``drift`` (rank 1's
parameters change in its 2nd step), ``differ`` (rank 1 gets another --lr),
``nccl`` (NcclComm over a fake ``cupy.cuda.nccl`` that reduces host memory with MPI),
``stepwise`` (a whole epoch, gradients compared step by step), ``one-rank`` (plain
process: fit through a one-rank MPIComm equals fit without one, bitwise).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import types
from pathlib import Path

import numpy as np

from spikegrad.distributed import launched, shard


def _on_step(k: int, act) -> None:
    """Run ``act(network)`` on rank 1 in its k-th call of loss_and_grad."""
    from spikegrad.network import Network

    real, calls = Network.loss_and_grad, [0]

    def patched(self, *a, **kw):
        calls[0] += 1
        if calls[0] == k:
            act(self)
        return real(self, *a, **kw)

    if launched()[0] == 1:
        Network.loss_and_grad = patched


def _boom(net) -> None:
    raise RuntimeError("boom")


def _nudge(net) -> None:
    net.params["W_out"][0, 0] += 1e-12


def _fake_nccl() -> None:
    """NcclComm on 2 ranks over fake cupy arrays: uid from rank 0, sums in place."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "compat"))
    import fake_cupy
    from mpi4py import MPI

    from spikegrad.distributed import NcclComm, reduce_grads

    cp = sys.modules["cupy"] = fake_cupy.make()
    cp.cuda.get_current_stream = lambda: types.SimpleNamespace(ptr=1234)  # the NCCL stream
    made, calls = [], []

    class Communicator:
        def __init__(self, size: int, uid: bytes, rank: int) -> None:
            made.append((size, uid, rank))

        def allReduce(self, send, recv, count, dtype, op, stream):
            calls.append((count, dtype, op, stream))
            kind = {nccl.NCCL_FLOAT32: np.float32, nccl.NCCL_FLOAT64: np.float64}[dtype]
            size = count * np.dtype(kind).itemsize
            buf = np.frombuffer((ctypes.c_char * size).from_address(recv), dtype=kind)
            MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

    nccl = types.SimpleNamespace(
        NCCL_FLOAT32=7,
        NCCL_FLOAT64=8,
        NCCL_INT64=4,
        NCCL_SUM=0,
        get_unique_id=lambda: b"uid-of-rank-%d" % MPI.COMM_WORLD.Get_rank(),
        NcclCommunicator=Communicator,
    )
    comm = NcclComm(MPI.COMM_WORLD, nccl, cp)
    r = comm.rank
    g = {"W1": cp.asarray(np.full((2, 3), r + 1.0)), "W_out": cp.asarray(np.arange(4.0) * r)}
    out = reduce_grads(comm, g, 0.5)
    assert made == [(2, b"uid-of-rank-0", r)], made
    assert calls == [(10, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, 1234)], calls
    assert type(out["W1"]).__module__ == "cupy" and out["W1"].shape == (2, 3)
    np.testing.assert_array_equal(out["W1"].get(), np.full((2, 3), 1.5))
    np.testing.assert_array_equal(out["W_out"].get(), np.arange(4.0) * 0.5)
    try:
        comm.allreduce(cp.asarray(np.zeros(3, dtype=np.int8)))
    except TypeError:
        print(f"nccl ok on rank {r}")


def _one_rank() -> None:
    from mpi4py import MPI

    from spikegrad.distributed import MPIComm
    from spikegrad.train import run as runs
    from spikegrad.train.config import make_config

    cfg = make_config(None, None, dtype="float64", limit=200, epochs=1, hidden=(32,))
    out = Path(sys.argv[2])
    runs.fit(cfg, out / "plain", log=lambda s: None)
    runs.fit(cfg, out / "comm", log=lambda s: None, comm=MPIComm(MPI.COMM_WORLD))
    with np.load(out / "plain/last.npz") as a, np.load(out / "comm/last.npz") as b:
        assert [k for k in a.files if k != "meta"] and all(
            (a[k] == b[k]).all() for k in a.files if k != "meta"
        )
    print("one rank ok")


def _stepwise() -> None:
    """A whole epoch of the built-in task (float64), step by step: at the parameters of the
    one-process run, the 2-rank gradients and loss equal the whole batch's to 1e-12."""
    from spikegrad.distributed import world
    from spikegrad.train import build
    from spikegrad.train.config import make_config
    from spikegrad.train.loop import epoch_seed, step

    cfg = make_config(None, None, dtype="float64")
    data, _ = build.load_data(cfg)
    net = build.build_network(cfg, data.n_inputs, data.n_classes)
    opt = build.make_optimizer(cfg, net, 1)
    comm, worst = world("numpy"), 0.0
    order = data.batch_order(cfg.batch_size, seed=epoch_seed(cfg.seed, 0))
    for idx in order:
        loss, grads, _ = net.loss_and_grad(*data.batch_matrix(idx), mode=cfg.grad)
        part = data.batch_matrix(idx[shard(idx.size, comm.rank, comm.size)])
        got = step(net, *part, cfg.grad, comm, idx.size)
        worst = max(worst, abs(got[0] - loss) / abs(loss))
        for k, g in grads.items():
            worst = max(worst, float(np.abs(got[1][k] - g).max() / np.abs(g).max()))
        opt.step(grads)
    assert len(order) == 47 and order[-1].size == 56 and worst <= 1e-12, worst
    print(f"stepwise ok on rank {comm.rank}: {len(order)} steps, worst {worst:.1e}")


def main() -> None:
    scenario, args = sys.argv[1], sys.argv[2:]
    if scenario == "nccl":
        return _fake_nccl()
    if scenario == "one-rank":
        return _one_rank()
    if scenario == "stepwise":
        return _stepwise()
    if scenario == "fail":
        _on_step(2, _boom)
    elif scenario == "sigterm":
        _on_step(3, lambda net: os.kill(os.getpid(), signal.SIGTERM))
    elif scenario == "drift":
        _on_step(2, _nudge)
    elif scenario == "differ" and launched()[0] == 1:
        args += ["--lr", "0.001"]
    from spikegrad.cli import cli

    cli(["evaluate" if scenario == "evaluate" else "train", *args], prog_name="spikegrad")


if __name__ == "__main__":
    main()
