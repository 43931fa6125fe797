"""The thread controls: SPIKEGRAD_THREADS / OMP_NUM_THREADS / affinity, set_threads, the
OpenMP environment at load (spikegrad/native/threads.py), the NumPy pool, ``spikegrad info``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spikegrad import native
from spikegrad.errors import ConfigError
from spikegrad.native import threads
from spikegrad.ops import threads as pool_mod

CORES = threads.affinity_cores()
OTHER = CORES + 1  # a count that no default produces


@pytest.fixture
def restore_threads():
    yield
    native.set_threads(None)


def _native_or_skip() -> None:
    st = native.status()
    if not st["active"]:
        pytest.skip(f"native kernels unavailable: {st['reason']}")
    if not st["openmp"]:
        pytest.skip("kernels built without OpenMP: always 1 thread")


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` with ``env`` added to a copy of this environment without the thread
    variables."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("SPIKEGRAD_THREADS", "OMP_NUM_THREADS")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_affinity_counts_allowed_cores():
    if hasattr(os, "sched_getaffinity"):
        assert CORES == len(os.sched_getaffinity(0))
    assert 1 <= CORES <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (5, "affinity")),
        ({"SPIKEGRAD_THREADS": "3"}, (3, "SPIKEGRAD_THREADS")),
        ({"SPIKEGRAD_THREADS": " 3 ", "OMP_NUM_THREADS": "2"}, (3, "SPIKEGRAD_THREADS")),
        ({"OMP_NUM_THREADS": "2"}, (2, "OMP_NUM_THREADS")),
        ({"OMP_NUM_THREADS": "4,2"}, (4, "OMP_NUM_THREADS")),  # nested levels: the outer one
        ({"SPIKEGRAD_THREADS": "", "OMP_NUM_THREADS": " "}, (5, "affinity")),  # empty = unset
    ],
)
def test_resolve_precedence(env, expected):
    assert threads.resolve(env, 5) == expected


@pytest.mark.parametrize("name", ["SPIKEGRAD_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize("value", ["0", "-2", "two", "2.5", "x,2"])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        threads.resolve({name: value}, 4)
    msg = str(err.value)
    assert name in msg and repr(value) in msg and "\n" not in msg


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_set_threads_refuses_non_positive_integers(bad, restore_threads):
    before = threads.current()
    with pytest.raises(ConfigError, match="set_threads"):
        native.set_threads(bad)
    assert threads.current() == before


def test_set_threads_changes_the_c_side_and_the_pool(restore_threads):
    _native_or_skip()
    default = threads.current()
    for n in (1, OTHER):
        native.set_threads(n)
        assert threads.current() == (n, "set_threads()")
        assert native.status()["threads"] == n
        assert native.thread_status()["kernel_threads"] == n
        assert pool_mod.n_workers() == min(n, pool_mod.MAX_WORKERS)
        assert pool_mod.pool()._max_workers == pool_mod.n_workers()
    native.set_threads(None)
    assert threads.current() == default and native.status()["threads"] == default.n


def test_pool_follows_set_threads_without_the_library(restore_threads):
    with native.mode("0"):
        native.set_threads(1)
        assert pool_mod.row_blocks(10_000) == [(0, 10_000)]
        native.set_threads(2)
        assert pool_mod.row_blocks(10_000) == [(0, 5_000), (5_000, 10_000)]
        assert pool_mod.row_blocks(10) == [(0, 10)]  # small: one block


def test_load_env_sets_then_restores(monkeypatch):
    monkeypatch.setattr(threads, "OMP_DEFAULTS", {"GOMP_SPINCOUNT": "77", "OMP_WAIT_POLICY": "x"})
    monkeypatch.setattr(threads, "_override", OTHER)
    for var in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = dict(os.environ)
    with threads.load_env():  # the user set no wait variable: the library's defaults
        assert os.environ["GOMP_SPINCOUNT"] == "77" and os.environ["OMP_WAIT_POLICY"] == "x"
        assert os.environ["OMP_NUM_THREADS"] == str(OTHER)
    assert dict(os.environ) == before
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")  # the user's choice: no default mixed in
    with threads.load_env():
        assert "GOMP_SPINCOUNT" not in os.environ and os.environ["OMP_WAIT_POLICY"] == "active"
    assert threads.omp_env() == {"OMP_WAIT_POLICY": "active", "GOMP_SPINCOUNT": None}


_PROBE = """
import json, os, threading
from spikegrad import native
from spikegrad.native import threads
{setup}
st = native.status()
seen = []
t = threading.Thread(target=lambda: seen.append(native.library().sg_num_threads()))
t.start(); t.join()
env = {{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "GOMP_SPINCOUNT")}}
out = {{"main": st["threads"], "other_thread": seen[0], "source": threads.current().source}}
print(json.dumps({{**out, "env_after": env}}))
"""


@pytest.mark.parametrize("var", ["SPIKEGRAD_THREADS", "OMP_NUM_THREADS"])
def test_environment_reaches_every_thread_and_is_restored(var):
    _native_or_skip()
    job = _run(_PROBE.format(setup=""), **{var: str(OTHER)})
    assert job.returncode == 0, job.stderr
    r = json.loads(job.stdout)
    assert r["main"] == r["other_thread"] == OTHER and r["source"] == var
    expected_env = str(OTHER) if var == "OMP_NUM_THREADS" else None
    assert r["env_after"] == {"OMP_NUM_THREADS": expected_env, "GOMP_SPINCOUNT": None}


@pytest.mark.parametrize(("user", "shown"), [(None, "1234"), ("99", "99")])
def test_omp_defaults_hook_reaches_the_runtime(user, shown):
    _native_or_skip()
    setup = 'threads.OMP_DEFAULTS["GOMP_SPINCOUNT"] = "1234"'
    env = {"OMP_DISPLAY_ENV": "VERBOSE", "SPIKEGRAD_THREADS": str(OTHER)}
    if user is not None:
        env["GOMP_SPINCOUNT"] = user
    job = _run(_PROBE.format(setup=setup), **env)
    assert job.returncode == 0, job.stderr
    if "GOMP_SPINCOUNT = " not in job.stderr:
        pytest.skip("not libgomp: its settings are not displayed")
    assert f"GOMP_SPINCOUNT = '{shown}'" in job.stderr
    assert f"OMP_NUM_THREADS = '{OTHER}'" in job.stderr
    r = json.loads(job.stdout.splitlines()[-1])
    assert r["env_after"]["GOMP_SPINCOUNT"] == user  # the default was not left behind


def test_info_line_says_count_source_and_how_to_change():
    _native_or_skip()
    code = "from spikegrad.cli import cli; cli(['info', '--json'])"
    job = _run(code, SPIKEGRAD_THREADS=str(OTHER), OMP_WAIT_POLICY="passive")
    t = json.loads(job.stdout)["cpu_threads"]
    assert (t["threads"], t["source"], t["kernel_threads"]) == (OTHER, "SPIKEGRAD_THREADS", OTHER)
    assert t["omp_env"]["OMP_WAIT_POLICY"] == "passive" and t["affinity_cores"] == CORES
    job = _run("from spikegrad.cli import cli; cli(['info'])", OMP_NUM_THREADS="1")
    line = next(ln for ln in job.stdout.splitlines() if ln.startswith("cpu threads"))
    assert line.startswith("cpu threads  1 (from OMP_NUM_THREADS") and "SPIKEGRAD_THREADS=N" in line


def test_info_bad_variable_is_one_line_error():
    job = _run("from spikegrad.cli import cli; cli(['info'])", SPIKEGRAD_THREADS="lots")
    assert job.returncode == 1
    err = [ln for ln in job.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "SPIKEGRAD_THREADS" in err[0] and "'lots'" in err[0]
