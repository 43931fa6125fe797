"""Step time beside a busy neighbour process: ``python tools/contention.py``.

For each thread setting under test (``--threads``, ``--wait-policy``, ``--spincount``; comma
lists give every combination), a **worker** process started with that setting in its
environment (so OpenMP reads it when the kernel library loads) builds the case (default: the
CPU report's calibrated SHD-like one; the weights are scaled to the paper's activity once and
shared) and times the sparse training step (``loss_and_grad`` on the batch as host events, plus
Adam) in blocks of ``--repeats`` steps, each after ``--warmup`` untimed steps:
alone, beside neighbour 1, alone, beside neighbour 2, ..., alone. Each neighbour is a process
this tool starts, waits for (it says when it is busy) and stops after its block:

* ``spin``: a pure-Python busy loop (one core);
* ``numpy``: a loop of 512 x 512 float64 matrix products (BLAS, its default threads);
* ``train``: another spikegrad process running the same sparse step (same weights and batch) in
  a loop, with this environment's thread settings (what a second job would get).

Reported per setting: the thread count and its source, the OpenMP wait variables, and per block
the median and range of the step times; per neighbour the ratio of its block's median to the
median of every alone step of that setting (alone blocks before and after each neighbour
show drift). Timings on a shared machine vary: read the ranges.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

import spikegrad
from spikegrad import native
from spikegrad.bench import machine
from spikegrad.bench.cases import CASES, Case, build_network, calibrate, case_fields, make_inputs
from spikegrad.native import threads
from spikegrad.optim import Adam

NEIGHBOURS = ("spin", "numpy", "train")
WAIT_POLICIES = ("default", "active", "passive")
TARGET_RATIO = 1.3  # issue #11: beside one busy process, at most this times the time alone
SETTLE_S = 0.3  # after a neighbour says it is busy, before timing starts
READY = "ready"
_NEIGHBOUR_CODE = {
    "spin": f"print({READY!r}, flush=True)\nwhile True:\n    pass\n",
    "numpy": (
        "import numpy as np\na = np.random.default_rng(0).random((512, 512))\n"
        f"a @ a\nprint({READY!r}, flush=True)\nwhile True:\n    a @ a\n"
    ),
}


def settings_grid(
    threads_list: list[int | None], policies: list[str], spincounts: list[int | None]
) -> list[dict[str, str]]:
    """The environment overrides of each combination (None / "default": left as it is)."""
    grid = []
    for n, policy, spin in itertools.product(threads_list, policies, spincounts):
        env = {}
        if n is not None:
            env["SPIKEGRAD_THREADS"] = str(n)
        if policy != "default":
            env["OMP_WAIT_POLICY"] = policy
        if spin is not None:
            env["GOMP_SPINCOUNT"] = str(spin)
        grid.append(env)
    return grid


# ---------------------------------------------------------------- child processes


def _load_case(text: str) -> Case:
    d = json.loads(text)
    return Case(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _prepare(case: Case, weights: Path) -> tuple[Any, Any, Any, list[float] | None]:
    """The case's network, batch and labels; weights loaded from ``weights`` when it exists,
    else calibrated and saved there. Returns (net, x, y, active fractions or None)."""
    x, y = make_inputs(case)
    net = build_network(case)
    active = None
    if weights.exists():
        with np.load(weights) as f:
            net.params.update({k: f[k] for k in f.files})
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            active = calibrate(net, x, y, case.target_active, r_gain=case.r_gain)
        tmp = weights.with_suffix(".tmp.npz")
        np.savez(tmp, **net.params)
        os.replace(tmp, weights)
    return net, x, y, active


def _stepper(net: Any, x: Any, y: Any) -> Any:
    opt = Adam(net.params, lr=1e-6)  # tiny: the activity stays at the calibrated level

    def step() -> None:
        _, g, _ = net.loss_and_grad(x, y, mode="sparse")
        opt.step(g, check_finite=False)  # as train_epoch: no device read

    return step


def _send(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def _worker(case: Case, weights: Path) -> None:
    """Set up, say ready (with the settings in effect), then answer ``block N WARMUP`` lines
    with the N step times; ``quit`` or end of input stops."""
    net, x, y, active = _prepare(case, weights)
    step = _stepper(net, x, y)
    step()  # builds the kernel library if needed
    _send(
        {
            READY: True,
            "case": case_fields(case, net),
            "active_fraction": active,
            "cpu_ops": native.describe(path=False),
            "threads": native.thread_status(),
        }
    )
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        n, warmup = int(words[1]), int(words[2])
        for _ in range(warmup):
            step()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        _send({"times": times})


def _train_neighbour(case: Case, weights: Path) -> None:
    """The ``train`` neighbour: the same sparse step in a loop until stopped."""
    net, x, y, _ = _prepare(case, weights)
    step = _stepper(net, x, y)
    step()
    print(READY, flush=True)
    while True:
        step()


# ---------------------------------------------------------------- the parent


def _child_cmd(role: str, case: Case, weights: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--role",
        role,
        "--case-json",
        json.dumps(dataclasses.asdict(case)),
        "--weights",
        str(weights),
    ]


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment plus ``extra``, with the folder of the spikegrad this process imported
    first on PYTHONPATH (so a child imports the same one, installed or a checkout's)."""
    here = str(Path(spikegrad.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _read_json(stream: IO[str], who: str) -> dict[str, Any]:
    """The next JSON line from a child (other output is skipped); error at end of stream."""
    for line in stream:
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"the {who} process ended early (its error is printed above)")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _neighbour(kind: str, case: Case, weights: Path) -> Iterator[subprocess.Popen[str]]:
    """A running neighbour process, busy when the block is entered, stopped at its end."""
    if kind == "train":
        cmd = _child_cmd("train", case, weights)
    else:
        cmd = [sys.executable, "-c", _NEIGHBOUR_CODE[kind]]
    proc = subprocess.Popen(
        cmd, env=_child_env({}), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == READY:
                break
        else:
            raise RuntimeError(f"the {kind} neighbour ended before it was busy")
        time.sleep(SETTLE_S)
        yield proc
    finally:
        _stop(proc)


def _block(label: str, neighbour: str | None, times: list[float]) -> dict[str, Any]:
    return {
        "block": label,
        "neighbour": neighbour,
        "times_s": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
    }


def run_setting(
    case: Case,
    env: dict[str, str],
    neighbours: list[str],
    repeats: int,
    warmup: int,
    weights: Path,
) -> dict[str, Any]:
    """Alone / beside each neighbour / alone blocks of one worker started with ``env`` added
    to this environment. Returns the worker's settings, the blocks and the ratios."""
    proc = subprocess.Popen(
        _child_cmd("worker", case, weights),
        env=_child_env(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        info = _read_json(proc.stdout, "worker")

        def timed() -> list[float]:
            proc.stdin.write(f"block {repeats} {warmup}\n")
            proc.stdin.flush()
            return _read_json(proc.stdout, "worker")["times"]

        blocks = [_block("alone", None, timed())]
        for kind in neighbours:
            with _neighbour(kind, case, weights):
                blocks.append(_block(f"beside {kind}", kind, timed()))
            blocks.append(_block("alone", None, timed()))
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    finally:
        _stop(proc)
    alone = statistics.median(t for b in blocks if b["neighbour"] is None for t in b["times_s"])
    return {
        "env": env,
        "threads": info["threads"],
        "cpu_ops": info["cpu_ops"],
        "case": info["case"],
        "active_fraction": info["active_fraction"],
        "blocks": blocks,
        "alone_s": alone,
        "ratios": {b["neighbour"]: b["median_s"] / alone for b in blocks if b["neighbour"]},
    }


def run(
    case: Case,
    settings: list[dict[str, str]],
    neighbours: list[str],
    repeats: int = 20,
    warmup: int = 2,
) -> dict[str, Any]:
    """Every setting in turn (one worker each; the first calibrates the weights)."""
    bad = [n for n in neighbours if n not in NEIGHBOURS]
    if bad or repeats < 1 or warmup < 0:
        raise ValueError(f"neighbours from {NEIGHBOURS}, repeats >= 1, warmup >= 0; got {bad}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spikegrad-contention-") as tmp:
        weights = Path(tmp) / "weights.npz"
        results = [run_setting(case, env, neighbours, repeats, warmup, weights) for env in settings]
    return {
        "machine": "\n".join(machine.header()),
        "affinity_cores": threads.affinity_cores(),
        "load_before": load,
        "wall_s": time.perf_counter() - t0,
        "repeats": repeats,
        "warmup": warmup,
        "neighbours": neighbours,
        "settings": results,
    }


def _ms(b: dict[str, Any]) -> str:
    return f"{b['median_s'] * 1e3:9.1f}  {b['min_s'] * 1e3:7.1f}-{b['max_s'] * 1e3:<7.1f}"


def format_report(r: dict[str, Any]) -> str:
    """Plain text: one header, then one block table per setting."""
    first = r["settings"][0]
    c = first["case"]
    act = first["active_fraction"]
    lines = [
        f"contention: case {c['case']} {c['shape']} B={c['B']} T={c['T']} {c['dtype']}, sparse "
        f"step (loss_and_grad + Adam), {r['repeats']} timed steps per block after "
        f"{r['warmup']} untimed",
        f"{r['machine']}; {r['affinity_cores']} cores allowed; load average before "
        f"{'?' if r['load_before'] is None else format(r['load_before'], '.2f')}; "
        f"{r['wall_s']:.0f} s in all"
        + (f"; calibrated active fraction {' / '.join(f'{a:.2%}' for a in act)}" if act else ""),
    ]
    for s in r["settings"]:
        t = s["threads"]
        waits = ", ".join(f"{k}={v or '-'}" for k, v in t["omp_env"].items())
        env = " ".join(f"{k}={v}" for k, v in s["env"].items()) or "(this environment)"
        lines += [
            "",
            f"setting {env}: {t['threads']} thread{'s' if t['threads'] != 1 else ''} "
            f"({t['source']}), {waits}; {s['cpu_ops']}",
            f"  {'block':16s} {'median ms':>9s}  {'range ms':15s} {'x alone':>7s}",
        ]
        for b in s["blocks"]:
            ratio = f"{s['ratios'][b['neighbour']]:7.2f}" if b["neighbour"] else ""
            lines.append(f"  {b['block']:16s} {_ms(b)} {ratio}")
        lines.append(f"  {'alone (all)':16s} {s['alone_s'] * 1e3:9.1f}")
        if s["ratios"]:
            worst = max(s["ratios"], key=s["ratios"].get)
            lines.append(
                f"  worst beside / alone: {s['ratios'][worst]:.2f} ({worst}); "
                f"target <= {TARGET_RATIO} (issue #11)"
            )
    return "\n".join(lines)


def _count_list(text: str) -> list[int | None]:
    """``"1,2"`` -> [1, 2]; "default" entries -> None."""
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        try:
            out.append(None if part == "default" else threads.parse_count("a count", part))
        except ValueError:
            msg = f"positive integers or 'default'; got {part!r}"
            raise argparse.ArgumentTypeError(msg) from None
    return out


def _policy_list(text: str) -> list[str]:
    out = [p.strip() for p in text.split(",")]
    if bad := [p for p in out if p not in WAIT_POLICIES]:
        raise argparse.ArgumentTypeError(f"wait policies are {', '.join(WAIT_POLICIES)}: {bad}")
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (``--help`` lists the options)."""
    ap = argparse.ArgumentParser(
        prog="python tools/contention.py", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument("--case", default="shd", choices=sorted(CASES), help="default shd")
    ap.add_argument("--batch-size", type=int, help="default: the case's")
    ap.add_argument("--T", type=int, help="time steps (default: the case's)")
    ap.add_argument("--sizes", type=int, nargs="+", help="layer sizes (default: the case's)")
    ap.add_argument(
        "--neighbour",
        action="append",
        choices=NEIGHBOURS,
        help="repeatable; default: spin, numpy, train",
    )
    ap.add_argument(
        "--threads",
        type=_count_list,
        default=[None],
        help="SPIKEGRAD_THREADS of the timed process; comma list, e.g. 1,2 (default: as here)",
    )
    ap.add_argument(
        "--wait-policy",
        type=_policy_list,
        default=["default"],
        help="OMP_WAIT_POLICY of the timed process: default (as here), active, passive; comma list",
    )
    ap.add_argument(
        "--spincount",
        type=_count_list,
        default=[None],
        help="GOMP_SPINCOUNT of the timed process (libgomp); comma list (default: as here)",
    )
    ap.add_argument("--repeats", type=int, default=20, help="timed steps per block (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before each block")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--role", choices=["worker", "train"], help=argparse.SUPPRESS)
    ap.add_argument("--case-json", help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.role is not None:
        child = _worker if a.role == "worker" else _train_neighbour
        child(_load_case(a.case_json), Path(a.weights))
        return
    if a.repeats < 1 or a.warmup < 0:
        ap.error("--repeats needs >= 1 and --warmup >= 0")
    case = CASES[a.case]
    if a.sizes and len(a.sizes) != len(case.sizes):
        ap.error(f"--sizes needs {len(case.sizes)} numbers")
    case = dataclasses.replace(
        case,
        B=a.batch_size or case.B,
        T=a.T or case.T,
        sizes=tuple(a.sizes) if a.sizes else case.sizes,
    )
    settings = settings_grid(a.threads, a.wait_policy, a.spincount)
    r = run(case, settings, a.neighbour or list(NEIGHBOURS), a.repeats, a.warmup)
    print(format_report(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
