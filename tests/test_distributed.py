"""Data-parallel training (spikegrad/distributed.py): 2 MPI ranks equal one process.

The 2-rank tests launch ``mpiexec -n 2`` (the ``mpich`` wheel of the ``mpi`` extra) on
tests/mpi_worker.py and skip when mpi4py or mpiexec is missing. The built-in task is chaotic
under training: a relative change of 1e-15 in the initial weights grows about 2.5x per Adam
step (measured: 2e-2 after 30 steps, in one process), so the end-to-end runs here are short
(7 updates), where the reduction order's rounding stays far below 1e-9, and a whole epoch
(47 updates) is checked step by step, each 2-rank step against the whole batch's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikegrad.distributed import LAUNCH_ENV, MPIComm, SingleComm, shard, world
from spikegrad.train import checkpoint as ck

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
# 385 training samples (limit 513, a quarter held out): 7 batches of 64 and a last one of 1,
# which leaves rank 1 with no sample in the last step
TASK = ["--dtype", "float64", "--limit", "513", "--epochs", "1", "-q"]


def _env() -> dict[str, str]:
    """This environment without any launcher's variables (a plain process)."""
    names = {n for pair in LAUNCH_ENV for n in pair}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    return env


def _run(args: list[str], ranks: int = 0, timeout: float = 240) -> subprocess.CompletedProcess:
    """The CLI (through tests/mpi_worker.py) in one process, or under mpiexec with ``ranks``."""
    cmd = [sys.executable, str(HERE / "mpi_worker.py"), *args]
    if ranks:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=_env(), timeout=timeout, check=False
    )


needs_mpi = pytest.mark.skipif(
    MPIEXEC is None or not __import__("importlib").util.find_spec("mpi4py"),
    reason="needs mpi4py and mpiexec (pip install 'spikegrad[mpi]')",
)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k != "meta"}


def _assert_close(a: Path, b: Path, rtol: float = 1e-9) -> None:
    """Every parameter and Adam moment of checkpoints a and b within rtol (max-norm)."""
    x, y = _arrays(a), _arrays(b)
    assert sorted(x) == sorted(y) and any(k.startswith("param.") for k in x)
    for k in x:
        err = np.abs(x[k] - y[k]).max() / np.abs(x[k]).max()
        assert err <= rtol, (k, err)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("n", [0, 1, 5, 64, 65])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_shard_covers_every_item_once_in_order(n, size):
    parts = [shard(n, r, size) for r in range(size)]
    assert [i for p in parts for i in range(n)[p]] == list(range(n))
    lens = [len(range(n)[p]) for p in parts]
    assert max(lens) - min(lens) <= 1 and lens == sorted(lens, reverse=True)


def test_one_process_gets_the_single_process_communicator():
    """Same interface as MPIComm, every collective the identity: one code path for all."""
    public = {n for n in vars(MPIComm) if not n.startswith("_")}
    assert public <= set(dir(SingleComm)), public - set(dir(SingleComm))
    comm = world("numpy")  # a plain process (pytest is not launched by mpiexec)
    assert isinstance(comm, SingleComm) and (comm.rank, comm.size, comm.busy_s) == (0, 1, 0.0)
    buf, grads = np.arange(3.0), {"w": np.ones((2, 2))}
    assert comm.allreduce(buf) is buf and comm.allreduce_host(buf) is buf
    assert comm.reduce_grads(grads, 1.0) is grads
    assert comm.allgather("x") == ["x"] and comm.bcast({"a": 1}) == {"a": 1}
    assert comm.flagged(0) == {} and comm.flagged(15) == {0: 15}


def test_one_process_does_not_import_mpi4py():
    code = (
        "import sys; from spikegrad.train.run import fit\n"
        "from spikegrad.train.config import make_config\n"
        "cfg = make_config(None, None, limit=96, epochs=1, hidden=(16,))\n"
        "fit(cfg, None, log=lambda s: None)\n"
        "print('mpi4py' in sys.modules, 'spikegrad.distributed' in sys.modules)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    assert r.stdout.split() == ["False", "True"], r.stderr


def test_a_launch_without_mpi4py_says_what_to_install():
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "from spikegrad.distributed import world\n"
        "try:\n    world('numpy')\nexcept Exception as exc:\n    print(type(exc).__name__, exc)"
    )
    env = {**_env(), "PMI_SIZE": "2", "PMI_RANK": "1"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert r.stdout.strip() == (
        "BackendUnavailableError launched as rank 1 of 2 (mpiexec), but mpi4py is not "
        "installed: pip install 'spikegrad[mpi]'"
    )


@needs_mpi
def test_two_ranks_equal_one_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = _run(["train", *TASK, "--out", str(one)])
    assert r1.returncode == 0, r1.stderr
    r2 = _run(["train", *TASK[:-1], "--out", str(two)], ranks=2)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.count("done: best val accuracy") == 1  # rank 0 alone prints
    assert "x 2 ranks (data-parallel)" in r2.stdout
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    _assert_close(one / "last.npz", two / "last.npz")
    (m1,), (m2,) = _metrics(one), _metrics(two)
    assert (m1["world_size"], m2["world_size"], m1["comm_s"]) == (1, 2, 0.0) and m2["comm_s"] > 0
    assert m1["samples"] == m2["samples"] == 385
    assert m1["val_accuracy"] == m2["val_accuracy"]  # evaluation: sharded and reduced
    for k in ("loss", "val_loss", "train_accuracy"):
        assert abs(m1[k] - m2[k]) <= 1e-9 * abs(m1[k]), k
    for k in ("active_fraction", "spike_rate"):
        np.testing.assert_allclose(m2[k], m1[k], rtol=1e-9)
    ev1, ev2 = (_run(["evaluate", str(two), "--split", "val", "--json"], n) for n in (0, 2))
    assert ev2.returncode == 0 and len(ev2.stdout.splitlines()) == 1, ev2.stderr  # rank 0
    e1, e2 = json.loads(ev1.stdout), json.loads(ev2.stdout)
    assert e1["confusion"] == e2["confusion"] and abs(e1["loss"] - e2["loss"]) <= 1e-9 * e1["loss"]


@needs_mpi
def test_every_step_of_a_whole_epoch_reduces_to_the_whole_batch():
    """The reduction itself over the built-in task's full epoch (47 updates, a last batch of
    56), free of the chaos that a whole training run amplifies (see the module docstring)."""
    r = _run(["stepwise"], ranks=2)
    assert r.returncode == 0, r.stderr
    for rank in (0, 1):
        assert r.stdout.count(f"stepwise ok on rank {rank}: 47 steps") == 1, r.stdout


@needs_mpi
def test_sigterm_on_one_rank_stops_all_and_resumes_in_one_process(tmp_path):
    full, run = tmp_path / "full", tmp_path / "run"
    assert _run(["train", *TASK, "--out", str(full)]).returncode == 0
    r = _run(["sigterm", *TASK[:-1], "--out", str(run)], ranks=2)
    assert r.returncode == 143, r.stderr
    assert r.stderr.count("rank 1 got SIGTERM: every rank stops") == 1, r.stderr
    assert r.stderr.count("terminated (SIGTERM) at epoch 1, batch 3") == 1, r.stderr
    r = _run(["train", "--resume", str(run), "-q"])  # the rest of the epoch: one process
    assert r.returncode == 0, r.stderr
    _assert_close(full / "last.npz", run / "last.npz")
    assert [m["world_size"] for m in _metrics(run)] == [1]


@needs_mpi
def test_sigterm_to_mpiexec_stops_every_rank_at_the_same_update(tmp_path):
    """What a scheduler does: SIGTERM to mpiexec, which forwards it to every rank."""
    run = tmp_path / "run"
    cmd = [MPIEXEC, "-n", "2", sys.executable, str(HERE / "mpi_worker.py"), "train"]
    cmd += ["--limit", "600", "--epochs", "200", "--out", str(run)]
    env = {**_env(), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as p:
        try:
            for line in p.stdout:
                if line.startswith("epoch   1 "):
                    p.send_signal(signal.SIGTERM)
                    break
            _, err = p.communicate(timeout=120)
        finally:
            p.kill()
    assert p.returncode == 143, err
    # the ranks that had the signal by the first agreement after it: 0, 1 or both
    assert len(re.findall(r"ranks? [0-9, ]+ got SIGTERM: every rank stops", err)) == 1, err
    assert err.count("terminated (SIGTERM)") == 1, err
    assert 1 <= ck.load(run / "last.npz").epoch < 200


@needs_mpi
def test_resume_with_two_ranks_after_one_process(tmp_path):
    full, run = tmp_path / "full", tmp_path / "run"
    small = ["--dtype", "float64", "--limit", "300", "-q"]  # 4 batches an epoch
    assert _run(["train", *small, "--epochs", "2", "--out", str(full)]).returncode == 0
    assert _run(["train", *small, "--epochs", "1", "--out", str(run)]).returncode == 0
    r = _run(["train", "--resume", str(run), "--epochs", "2", "-q"], ranks=2)
    assert r.returncode == 0, r.stderr
    _assert_close(full / "last.npz", run / "last.npz")
    assert [m["world_size"] for m in _metrics(run)] == [1, 2]


@needs_mpi
def test_failing_rank_ends_the_job_with_one_message(tmp_path):
    r = _run(["fail", *TASK, "--out", str(tmp_path / "run")], ranks=2, timeout=120)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert out.count("spikegrad: rank 1 of 2 failed: RuntimeError: boom") == 1, out


@needs_mpi
def test_configs_that_differ_across_ranks_are_refused(tmp_path):
    r = _run(["differ", *TASK, "--out", str(tmp_path / "run")], ranks=2, timeout=120)
    assert r.returncode == 1
    assert r.stderr.count("Error: the ranks disagree: rank 1 has other lr than rank 0") == 1
    assert not (tmp_path / "run").exists()


@needs_mpi
def test_parameters_that_drift_apart_are_caught_at_the_epoch_end(tmp_path):
    r = _run(["drift", *TASK, "--out", str(tmp_path / "run")], ranks=2, timeout=120)
    assert r.returncode == 1
    want = "Error: the ranks disagree: rank 1 has other parameters after the epoch than rank 0"
    assert r.stderr.count(want) == 1, r.stderr


@needs_mpi
def test_one_rank_communicator_changes_nothing(tmp_path):
    r = _run(["one-rank", str(tmp_path)])
    assert r.returncode == 0 and r.stdout.strip() == "one rank ok", r.stderr


@needs_mpi
def test_nccl_communicator_logic_on_fake_cupy():
    r = _run(["nccl"], ranks=2, timeout=120)
    assert r.returncode == 0, r.stderr
    for rank in (0, 1):
        assert r.stdout.count(f"nccl ok on rank {rank}") == 1, r.stdout + r.stderr
