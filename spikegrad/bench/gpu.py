"""GPU benchmark of the CuPy backend: ``python -m spikegrad.bench.gpu [--json] [--out FILE]``.

Cases come from the shared table (:mod:`.cases`; default ``shd-large``: 700-400-400-20 and
``fmnist``: 784-200-200-10, both B = 256), with its inputs and its weight calibration to the
paper's active fraction. Per case, in float32 on the current device:

1. validate: sparse vs dense gradients on the GPU (band-truncated surrogate: equal up to
   float rounding), and the PyTorch baseline's gradients vs spikegrad dense;
2. like with like: spikegrad and PyTorch are both timed from the batch **already on the
   device** (spikegrad: the prepared input its step consumes; PyTorch: the dense time-major
   cuda tensor); the preparation of the batch from host events is timed separately, for
   both, and reported on its own line;
3. time with CUDA events, medians of ``repeats`` after ``warmup`` rounds: forward, backward
   and the whole step (loss_and_grad + Adam; PyTorch: forward, backward, torch Adam), dense,
   sparse and PyTorch;
4. peak device memory of one step per mode (spikegrad: a CuPy memory hook over the default
   pool, bytes in use; PyTorch: its allocator's ``max_memory_allocated``);
5. bytes each mode keeps from the forward for the backward (spikegrad's tape; PyTorch's
   autograd saved tensors, parameters excluded);
6. each hidden layer's sparse backward op alone (both dW modes) and its achieved bandwidth
   for a compulsory-traffic model: the zero-filled (T, B, N) buffer written, read and written
   by the scan and read by the weight product (4 T B N s), the active set read and scattered
   (A (3 s + i)), the input spikes (CSR) read, dW written (N_in N s) and the previous layer's
   active set read and its gradient written (A_prev (i + s)); against the device-to-device
   copy bandwidth measured in the same run (1 GiB, 2 x bytes / time).

The issue's targets (at B_th = 0.2) are printed beside the ratios as met / not met; nothing
is claimed beyond the measured numbers. ``backend="numpy"`` runs the same steps on the host
(wall clock, no pool or bandwidth figures): that is how the tests exercise this module.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import kernels
from ..backend import call, get_backend
from ..network import Network
from ..optim import Adam
from ..spikes import SpikeEvents, as_spike_matrix
from . import hooks, machine, report, torch_baseline
from .cases import (
    CASES,
    Case,
    build_network,
    calibrate,
    case_fields,
    default_cases,
    grad_err,
    make_inputs,
)
from .timing import CupyClock, WallClock, device_sync, median_time, time_mode

TARGETS = (  # issue 4, at B_th = 0.2 (report.targets_met)
    ("torch_backward_vs_sparse_backward", ">=", 150.0),
    ("torch_step_vs_sparse_step", ">=", 20.0),
    ("backward_speedup", ">=", 5.0),
    ("retained_ratio", "<=", 0.10),
)
LIKE_WITH_LIKE = (
    "like with like: spikegrad and PyTorch are both timed from the batch already on the "
    "device; preparing it from host events is timed on its own (next line), for both"
)


def copy_bandwidth(nbytes: int = 1 << 30, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in GB/s (read + write counted)."""
    import cupy as cp

    src = cp.ones(nbytes // 4, dtype=np.float32)
    dst = cp.empty_like(src)
    s = median_time(lambda: cp.copyto(dst, src), CupyClock(), 3, repeats)
    return 2 * nbytes / s / 1e9


def _peak_hook() -> Any:
    """A cupy MemoryHook recording the largest number of pool bytes in use while active."""
    import cupy as cp

    class PeakHook(cp.cuda.MemoryHook):
        name = "spikegrad_peak"

        def __init__(self) -> None:
            self.cur = self.peak = cp.get_default_memory_pool().used_bytes()

        def malloc_postprocess(self, **kw: Any) -> None:
            self.cur += kw["mem_size"]
            self.peak = max(self.peak, self.cur)

        def free_postprocess(self, **kw: Any) -> None:
            self.cur -= kw["mem_size"]

    return PeakHook()


def peak_bytes(net: Network, x: Any, y: Any, mode: str) -> int:
    """Peak bytes in use in CuPy's default pool during one step (loss_and_grad + Adam)."""
    import cupy as cp

    saved = {k: v.copy() for k, v in net.params.items()}
    opt = Adam(net.params, lr=1e-6)
    cp.cuda.Device().synchronize()
    cp.get_default_memory_pool().free_all_blocks()
    hook = _peak_hook()
    with hook:
        _, g, _ = net.loss_and_grad(x, y, mode=mode)
        opt.step(g, check_finite=False)  # as train_epoch: no device read
        cp.cuda.Device().synchronize()
    net.params.update(saved)
    return int(hook.peak)


def spikegrad_input(net: Network) -> tuple[Callable[[SpikeEvents], Any], str]:
    """How a batch reaches spikegrad's step from the device: the function that prepares it
    from host events (a SpikeMatrix (CSR) moved to the device), and its description."""
    xp, n_in = net.backend.xp, net.sizes[0]

    def matrix(x: SpikeEvents) -> Any:
        return as_spike_matrix(xp, x, n_in)

    return matrix, "prepared SpikeMatrix (CSR) on the device"


def _layer_kernels(
    net: Network, x: Any, clock: Any, warmup: int, repeats: int, copy_gbs: float | None
) -> list[dict[str, Any]]:
    """Each hidden layer's sparse backward alone (``lif_backward_sparse``, or
    ``rlif_backward_sparse`` for a recurrent layer; both dW modes on the GPU): time, modelled
    bytes, GB/s; and its dL/dx gather (both variants on the GPU)."""
    gpu = net.backend.name == "cupy"
    xp = net.backend.xp
    tape, T, B = hooks.sparse_tape(net, x)
    out = []
    rng = np.random.default_rng(0)
    old = kernels.is_deterministic()
    for layer, (spec, lt) in enumerate(zip(net.layers, tape.layers, strict=True), start=1):
        w = net.params[f"W{layer}"]
        n_in, N = w.shape
        prev_tape = tape.layers[layer - 2] if layer > 1 else None
        prev = prev_tape.act if prev_tape is not None else None
        recurrent = f"R{layer}" in net.params
        A = int(lt.act.idx.size)
        g = xp.asarray(rng.normal(size=A).astype(net.dtype))
        sz, isz = net.dtype.itemsize, lt.act.idx.dtype.itemsize
        a_prev = int(prev.idx.size) if prev is not None else 0
        xs = lt.x
        nbytes = (
            4 * T * B * N * sz
            + A * (3 * sz + isz)
            + xs.indptr.nbytes
            + xs.indices.nbytes
            + n_in * N * sz
            + a_prev * (isz + sz)
        )
        if recurrent:  # R and the own spikes are read too
            nbytes += N * N * sz + lt.s.indptr.nbytes + lt.s.indices.nbytes
        row: dict[str, Any] = {
            "layer": layer,
            "recurrent": recurrent,
            "A": A,
            "A_prev": a_prev,
            "input_spikes": int(xs.nnz),
            "model_bytes": nbytes,
        }

        def op(g: Any = g, spec: Any = spec, lt: Any = lt, prev: Any = prev_tape) -> Any:
            return spec.backward(net.params, lt, g, prev)

        try:
            for det in (False, True) if gpu else (None,):
                tag = "host" if det is None else ("deterministic" if det else "atomic")
                if det is not None:
                    kernels.set_deterministic(det)
                s = median_time(op, clock, warmup, repeats)
                row[f"{tag}_s"] = s
                row[f"{tag}_GB_s"] = nbytes / s / 1e9
                if copy_gbs:
                    row[f"{tag}_fraction_of_copy_bw"] = row[f"{tag}_GB_s"] / copy_gbs
        finally:
            kernels.set_deterministic(old)
        if prev is not None:
            e1 = xp.asarray(rng.normal(size=(T * B, N)).astype(net.dtype))
            rows, cols = prev.idx // n_in, prev.idx % n_in
            for variant in (1, 2) if gpu else (None,):
                kw = {} if variant is None else {"variant": variant}

                def gather(e1: Any = e1, rows: Any = rows, w: Any = w, cols: Any = cols) -> Any:
                    return call("gather_rowdot", e1, rows, w, cols, **kw)  # noqa: B023

                s = median_time(gather, clock, warmup, repeats)
                row[f"gather_variant{variant or ''}_s"] = s
        out.append(row)
    return out


def run_case(
    case: Case,
    warmup: int = 3,
    repeats: int = 20,
    with_torch: bool = True,
    copy_gbs: float | None = None,
    backend: str = "cupy",
) -> dict[str, Any]:
    """Calibrate, validate and time one case on the GPU (see the module docstring)."""
    x, y = make_inputs(case)
    net = build_network(case, backend)
    gpu = net.backend.name == "cupy"
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        active = calibrate(net, x, y, case.target_active, r_gain=case.r_gain)
    calib_s = time.perf_counter() - t0
    _, gd, sd = net.loss_and_grad(x, y, mode="dense")
    _, gs, _ = net.loss_and_grad(x, y, mode="sparse")
    prepare, input_form = spikegrad_input(net)
    host_clock = WallClock(device_sync(net))
    res: dict[str, Any] = {
        **case_fields(case, net),
        "b_th": net.b_th,
        "active_fraction": active,
        "spike_rate": sd["spike_rate"],
        "input_rate": x.n_events / (case.B * case.T * case.sizes[0]),
        "calibration_s": calib_s,
        "sparse_vs_dense_rel_err": grad_err(gs, gd),
        "copy_GB_s": copy_gbs,
        "warmup": warmup,
        "repeats": repeats,
        "spikegrad_input": input_form,
        "spikegrad_prepare_s": median_time(lambda: prepare(x), host_clock, 1, repeats),
        "targets": [list(t) for t in TARGETS],
    }
    xd = prepare(x)
    clock = CupyClock() if gpu else host_clock
    for mode in ("dense", "sparse"):
        for k, v in time_mode(net, xd, y, mode, clock, warmup, repeats).items():
            res[f"{mode}_{k}"] = v
        res[f"{mode}_peak_bytes"] = peak_bytes(net, xd, y, mode) if gpu else None
    res["sparse_backward_kernels"] = _layer_kernels(net, xd, clock, warmup, repeats, copy_gbs)
    if with_torch:
        t = torch_baseline.time_step(net, x, y, warmup, repeats)
        res["torch_rel_err"] = grad_err(t.pop("grads"), gd)
        res["torch_input"] = f"dense (T, B, N) {t.pop('device')} tensor, time-major"
        res.update({f"torch_{k}": v for k, v in t.items()})
    report.add_ratios(res)
    res["targets_met"] = {key: ok for key, _, _, ok in report.targets_met(res)}
    if gpu:
        net.backend.xp.get_default_memory_pool().free_all_blocks()
    return res


def device_info() -> dict[str, Any]:
    """Versions and the GPU's name."""
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    info = {
        "gpu": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
        "compute_capability": f"{props['major']}.{props['minor']}",
        "cupy": cp.__version__,
        "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "cuda_driver": cp.cuda.runtime.driverGetVersion(),
        "nvrtc": ".".join(map(str, cp.cuda.nvrtc.getVersion())),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def _case_lines(r: dict[str, Any]) -> list[str]:
    """One case: the shared block (with the targets), then preparation, bandwidth and
    kernels."""
    ms = 1e3
    prep = "  batch preparation (host events -> device), ms: "
    prep += f"spikegrad {r['spikegrad_prepare_s'] * ms:.3f}"
    if "torch_prepare_s" in r:
        prep += f", PyTorch {r['torch_prepare_s'] * ms:.3f}"
    notes = [
        f"  {LIKE_WITH_LIKE}",
        prep,
        f"  spikegrad input: {r['spikegrad_input']}"
        + (
            f"; PyTorch input: {r['torch_input']}"
            if "torch_input" in r
            else "; PyTorch baseline not run"
        ),
    ]
    lines = report.case_block(r, ms_decimals=3, peak=True, notes=notes)
    if r["copy_GB_s"]:
        lines.append(f"  device copy bandwidth {r['copy_GB_s']:.0f} GB/s")
    for k in r["sparse_backward_kernels"]:
        lines.append(
            f"  sparse backward layer {k['layer']}{' (recurrent)' if k['recurrent'] else ''}: "
            f"A={k['A']}, A_prev={k['A_prev']}, "
            f"input spikes {k['input_spikes']}, {k['model_bytes'] / report.MB:.1f} MB modelled"
        )
        for tag in ("atomic", "deterministic", "host"):
            if f"{tag}_s" in k:
                frac = k.get(f"{tag}_fraction_of_copy_bw")
                lines.append(
                    f"    dW {tag:13s} {k[tag + '_s'] * ms:.3f} ms, {k[tag + '_GB_s']:.0f} GB/s"
                    + (f" = {frac:.0%} of copy" if frac is not None else "")
                )
        gathers = [
            (v, k[f"gather_variant{v}_s"]) for v in ("1", "2", "") if f"gather_variant{v}_s" in k
        ]
        if gathers:
            lines.append(
                "    dL/dx gather: "
                + ", ".join(f"variant {v or 'default'} {s * ms:.3f} ms" for v, s in gathers)
            )
    return lines


def format_report(info: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """Plain-text report: date, command and host CPU (:func:`.machine.header`), device, then
    one block per case with every figure."""
    lines = [
        *machine.header(),
        "spikegrad GPU benchmark (CUDA events; medians)",
        *(f"  {k}: {v}" for k, v in info.items()),
    ]
    return "\n".join(lines + [ln for r in results for ln in _case_lines(r)])


def run(
    cases: list[str] | None = None,
    warmup: int = 3,
    repeats: int = 20,
    with_torch: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The GPU report: device information (with why the PyTorch baseline was skipped, if it
    was) and one result per case (default: the GPU report's cases); see :func:`run_case`."""
    get_backend("cupy")  # one clear BackendUnavailableError without CuPy or a GPU
    info = device_info()
    skip = None if with_torch else "--no-torch"
    skip = skip or torch_baseline.unavailable(cuda=True)
    if skip:
        info["torch_baseline"] = f"skipped: {skip}"
    copy_gbs = copy_bandwidth()
    results = [
        run_case(CASES[c], warmup, repeats, not skip, copy_gbs)
        for c in cases or default_cases("gpu")
    ]
    return info, results


def main(argv: list[str] | None = None) -> None:
    """``python -m spikegrad.bench.gpu [--case NAME ...] [--no-torch] [--json] [--out FILE]``."""
    ap = argparse.ArgumentParser(
        prog="python -m spikegrad.bench.gpu", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument(
        "--case", action="append", choices=sorted(CASES), help="default: shd-large, fmnist"
    )
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    ap.add_argument("--json", action="store_true", help="print one JSON object per case")
    ap.add_argument("--out", metavar="FILE", help="also write the results as one JSON file")
    a = ap.parse_args(argv)
    info, results = run(a.case, a.warmup, a.repeats, not a.no_torch)
    print(report.json_lines(results) if a.json else format_report(info, results))
    if a.out:
        report.write_json(a.out, results, info)


if __name__ == "__main__":
    main()
