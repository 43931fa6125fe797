"""Dense vs sparse benchmark on the CPU: ``python -m spikegrad.bench`` (or ``spikegrad bench``).

For each case: build the network with the paper's initialisation, scale each layer's weights
so that its active fraction sits at the paper's level (calibration, printed), **validate**
that sparse and dense gradients agree (and, with ``with_torch``, that a PyTorch
dense-BPTT step computes the same gradients), then time ``loss_and_grad`` forward and
backward and the whole step (with Adam) for both modes side by side, and report the bytes
each mode keeps from the forward for the backward and the peak growth of host memory (RSS) of
one step. Every figure is a median of ``repeats``. Every row takes its input in the form it
consumes, made once outside the timed steps: spikegrad the engine's SpikeMatrix (as the
trainer prepares it in a background thread while the previous step runs), PyTorch and the
peers the dense time-major tensor; what each preparation costs is reported beside the table
(``{row}_prepare_s``). The PyTorch baseline is timed eager and, when T is short enough to
compile, compiled (``torch.compile``, before timing) and the faster is its row. With
``--peers``: snnTorch, SpikingJelly and Norse on the same weights and inputs
(:mod:`.peers`), when installed. Each case ends with the bytes and adds its sparse step cannot
avoid and the step's fraction of that limit at the machine's measured bandwidth
(:mod:`.limits`); the table starts with the date, the command and the CPU (:mod:`.machine`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import native
from ..checks import WEIGHT_DTYPES
from ..spikes import as_spike_matrix
from . import limits, machine, peers, report, torch_baseline
from .cases import (
    CASES,
    Case,
    build_network,
    calibrate,
    case_fields,
    default_cases,
    grad_err,
    make_inputs,
    spike_rate_halves,
    twin_ops,
)
from .timing import WallClock, device_sync, median_time, time_mode


def run_case(
    case: Case,
    backend: str = "numpy",
    repeats: int = 5,
    with_torch: bool = True,
    with_peers: bool = False,
    compile_max_steps: int = torch_baseline.COMPILE_MAX_STEPS,
    weight_dtype: str = "float32",
) -> dict[str, Any]:
    """Calibrate, validate, then time one case. Returns a flat dict of every figure.

    ``with_torch``: the PyTorch baseline (the faster of eager and ``torch.compile`` when
    T <= ``compile_max_steps``; 0: eager only); ``with_peers``: snnTorch, SpikingJelly and
    Norse (:mod:`.peers`), each when installed. On the host, ``limit``: the bytes and adds the
    sparse step cannot avoid and its fraction of the machine's limit (:mod:`.limits`), at the
    measured ``bandwidth`` (:func:`.machine.bandwidth`). Every row's ``peak_bytes`` is the host
    RSS growth of one step. ``weight_dtype``: the network's (float16, bfloat16: its kernels read
    a 16-bit weight copy; the PyTorch rows take the copy's values in float32)."""
    x, y = make_inputs(case)
    net = build_network(case, backend, weight_dtype=weight_dtype)
    active = calibrate(net, x, y, case.target_active, r_gain=case.r_gain)
    _, gd, sd = net.loss_and_grad(x, y, mode="dense")
    _, gs, ss = net.loss_and_grad(x, y, mode="sparse")
    res: dict[str, Any] = {
        **case_fields(case, net),
        "cpu_ops": native.describe(path=False) if net.backend.name == "numpy" else None,
        "twin_ops": twin_ops(net) if net.backend.name == "numpy" else [],
        "active_fraction": active,
        "spike_rate": sd["spike_rate"],
        "spike_rate_halves": spike_rate_halves(net, x),
        "input_rate": x.n_events / (case.B * case.T * case.sizes[0]),
        "sparse_vs_dense_rel_err": grad_err(gs, gd),
        "targets": [list(t) for t in case.cpu_targets],
    }
    clock = WallClock(device_sync(net))
    host = net.backend.name == "numpy"
    prepare = lambda: as_spike_matrix(net.backend.xp, x, case.sizes[0])  # noqa: E731
    res["sparse_prepare_s"] = median_time(prepare, clock, 1, repeats)
    xm = prepare()
    for mode in ("dense", "sparse"):
        for k, v in time_mode(net, xm, y, mode, clock, 1, repeats, peak=host).items():
            res[f"{mode}_{k}"] = v
    if host:  # the host's limit; the GPU report has its own
        counts = limits.unavoidable(
            net, x, [int(ev.t.size) for ev in net.hidden_spikes(x)], list(ss["n_active"])
        )
        measured = {p: res[f"sparse_{p}_s"] for p in ("forward", "backward", "step")}
        res["bandwidth"] = machine.bandwidth()
        res["limit"] = limits.fractions(
            counts, measured, res["bandwidth"], machine.cpu_info()["caches"]
        )
    if with_torch:
        t = torch_baseline.time_step(
            net,
            x,
            y,
            1,
            repeats,
            compile=compile_max_steps > 0,
            compile_max_steps=compile_max_steps,
        )
        res["torch_rel_err"] = grad_err(t.pop("grads"), gd)
        t.pop("device")
        res.update({f"torch_{k}": v for k, v in t.items()})
    if with_peers:
        res.update(peers.time_peers(net, x, y, gd, 1, repeats))
    return report.add_ratios(res)


def run(
    cases: list[str] | None = None,
    backend: str = "numpy",
    repeats: int = 5,
    with_torch: bool = True,
    with_peers: bool = False,
    compile_max_steps: int = torch_baseline.COMPILE_MAX_STEPS,
    weight_dtype: str = "float32",
) -> list[dict[str, Any]]:
    """Run the named cases (default: the CPU report's, shd, fmnist and shd-recurrent); see
    :func:`run_case`."""
    names = cases or default_cases("cpu")
    return [
        run_case(
            CASES[c], backend, repeats, with_torch, with_peers, compile_max_steps, weight_dtype
        )
        for c in names
    ]


def format_table(results: list[dict[str, Any]]) -> str:
    """A plain-text table of the results, one block per case, after the date, the command
    and the machine (:func:`.machine.header`)."""
    return "\n".join(
        machine.header() + [ln for r in results for ln in report.case_block(r, peak=True)]
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m spikegrad.bench [--case NAME ...] [--json] [--out FILE]`` (``--gpu``: the
    GPU report, :mod:`spikegrad.bench.gpu`)."""
    ap = argparse.ArgumentParser(
        prog="python -m spikegrad.bench", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument(
        "--case",
        action="append",
        choices=sorted(CASES),
        help=f"repeatable; default {', '.join(default_cases('cpu'))}",
    )
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "auto"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch dense-BPTT baseline")
    ap.add_argument(
        "--compile-max-steps",
        type=int,
        default=torch_baseline.COMPILE_MAX_STEPS,
        metavar="T",
        help="PyTorch baseline: also try torch.compile when T <= this (0: eager only; "
        "default %(default)s)",
    )
    ap.add_argument(
        "--peers", action="store_true", help="also time snnTorch, SpikingJelly, Norse if installed"
    )
    ap.add_argument(
        "--weight-dtype",
        default="float32",
        choices=WEIGHT_DTYPES,
        help="float16/bfloat16: the kernels read a 16-bit copy of the weights (default float32)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object per case")
    ap.add_argument("--out", metavar="FILE", help="also write the results as one JSON file")
    ap.add_argument("--gpu", action="store_true", help="the GPU report instead (its own options)")
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--gpu" in argv:
        from . import gpu

        gpu.main([v for v in argv if v != "--gpu"])
        return
    a = ap.parse_args(argv)
    if not a.no_torch and (why := torch_baseline.unavailable(cuda=False)):
        ap.error(f"the PyTorch baseline cannot run: {why}; or pass --no-torch")
    res = run(
        a.case, a.backend, a.repeats, not a.no_torch, a.peers, a.compile_max_steps, a.weight_dtype
    )
    print(report.json_lines(res) if a.json else format_table(res))
    if a.out:
        report.write_json(a.out, res, report.machine_info())
