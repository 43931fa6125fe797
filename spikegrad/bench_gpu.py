"""GPU benchmark of the CuPy backend: ``python -m spikegrad.bench_gpu [--json] [--out FILE]``.

Cases come from :mod:`spikegrad.bench` (``shd-large``: 700-400-400-20, B=256, T=500;
``fmnist``: 784-200-200-10, B=256, T=100), with its inputs and its weight calibration to the
paper's active fraction. Per case, in float32 on the current device:

1. validate: sparse vs dense gradients on the GPU (band-truncated surrogate: equal up to
   float rounding);
2. time with CUDA events, median of ``repeats`` (>= 20) after ``warmup`` rounds: the backward
   of ``loss_and_grad`` (events around ``Network._backward``) and the whole step
   (loss_and_grad + Adam), dense and sparse;
3. peak device memory of one step per mode (a CuPy memory hook over the default pool: bytes
   in use, its maximum during the step);
4. bytes each mode keeps from the forward for the backward (``stats["retained_bytes"]``);
5. the sparse backward op of every hidden layer alone (CUDA events) and its achieved
   bandwidth for a compulsory-traffic model: the zero-filled (T, B, N) buffer written, read
   and written by the scan and read by the weight product (4 T B N s), the active set read and
   scattered (A (3 s + i)), the input spikes (CSR) read, dW written (N_in N s) and the
   previous layer's active set read and its gradient written (A_prev (i + s)); against the
   device's copy bandwidth (a 1 GiB device-to-device copy, 2 x bytes / time);
6. the PyTorch dense-BPTT step of the same network on the same GPU
   (:mod:`spikegrad.bench_torch`), the paper's baseline.

The issue's targets (at B_th = 0.2) are printed beside the ratios as met / not met; nothing
is claimed beyond the measured numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import time
import warnings
from typing import Any

import numpy as np

from . import bench
from .backend import get_backend, to_numpy
from .network import Network
from .optim import Adam

GPU_CASES = ("shd-large", "fmnist")
TARGETS = {  # issue 4, at B_th = 0.2
    "torch_backward_vs_sparse_backward": 150.0,
    "torch_step_vs_sparse_step": 20.0,
    "dense_backward_vs_sparse_backward": 5.0,
}
MAX_RETAINED_RATIO = 0.10


def _cupy():
    import cupy

    return cupy


def _median_ms(pairs: list) -> float:
    cp = _cupy()
    for _, end in pairs:
        end.synchronize()
    return statistics.median(cp.cuda.get_elapsed_time(s, e) for s, e in pairs)


def _events() -> tuple[Any, Any]:
    cp = _cupy()
    return cp.cuda.Event(), cp.cuda.Event()


def copy_bandwidth(nbytes: int = 1 << 30, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in GB/s (read + write counted)."""
    cp = _cupy()
    a = cp.ones(nbytes // 4, dtype=np.float32)
    b = cp.empty_like(a)
    pairs = []
    for i in range(repeats + 3):
        s, e = _events()
        s.record()
        b[...] = a
        e.record()
        if i >= 3:
            pairs.append((s, e))
    ms = _median_ms(pairs)
    del a, b
    return 2 * nbytes / (ms * 1e-3) / 1e9


def _peak_hook() -> Any:
    """A cupy MemoryHook recording the largest number of pool bytes in use while active."""
    cp = _cupy()

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


def _time_mode(net: Network, x: Any, y: Any, mode: str, warmup: int, repeats: int) -> dict:
    """CUDA-event medians of the backward and of the whole step, and the step's peak memory."""
    cp = _cupy()
    saved = {k: v.copy() for k, v in net.params.items()}
    opt = Adam(net.params, lr=1e-6)
    bwd: list = []
    orig = net._backward

    def timed_backward(*a: Any, **k: Any) -> Any:
        s, e = _events()
        s.record()
        out = orig(*a, **k)
        e.record()
        bwd.append((s, e))
        return out

    net._backward = timed_backward  # instance attribute: shadows the method for this run
    steps, stats = [], {}
    try:
        for i in range(warmup + repeats):
            s, e = _events()
            s.record()
            _, g, stats = net.loss_and_grad(x, y, mode=mode)
            opt.step(g)
            e.record()
            if i >= warmup:
                steps.append((s, e))
        bwd = bwd[warmup:]
    finally:
        del net._backward
    pool = cp.get_default_memory_pool()
    cp.cuda.Device().synchronize()
    pool.free_all_blocks()
    hook = _peak_hook()
    with hook:
        _, g, _ = net.loss_and_grad(x, y, mode=mode)
        opt.step(g)
        cp.cuda.Device().synchronize()
    net.params.update(saved)
    return {
        "backward_ms": _median_ms(bwd),
        "step_ms": _median_ms(steps),
        "peak_bytes": int(hook.peak),
        "retained_bytes": int(stats["retained_bytes"]),
    }


def _event_median(fn: Any, warmup: int, repeats: int) -> float:
    """Median milliseconds of ``fn()`` between two CUDA events, after ``warmup`` calls."""
    pairs = []
    for i in range(warmup + repeats):
        s, e = _events()
        s.record()
        fn()
        e.record()
        if i >= warmup:
            pairs.append((s, e))
    return _median_ms(pairs)


def _layer_kernels(net: Network, x: Any, warmup: int, repeats: int, copy_gbs: float) -> list[dict]:
    """Each hidden layer's sparse backward op alone, in both dW modes (atomic, deterministic):
    time, modelled bytes, GB/s; and its dL/dx gather in both variants."""
    from . import kernels
    from .kernels import launch

    cp = _cupy()
    _, tape, (T, B) = net._run(x, "sparse")
    out = []
    rng = np.random.default_rng(0)
    old = kernels.is_deterministic()
    for layer, lt in enumerate(tape.layers, start=1):
        w = net.params[f"W{layer}"]
        n_in, N = w.shape
        prev = tape.layers[layer - 2].act if layer > 1 else None
        A = int(lt.act.idx.size)
        g = cp.asarray(rng.normal(size=A).astype(net.dtype))
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
        row: dict[str, Any] = {
            "layer": layer,
            "A": A,
            "A_prev": a_prev,
            "input_spikes": int(xs.nnz),
            "model_bytes": nbytes,
        }
        try:
            for det in (False, True):
                kernels.set_deterministic(det)
                op = functools.partial(
                    launch.lif_backward_sparse, g, lt.act, lt.x, w, net.alpha, prev, (T, B, N)
                )
                ms = _event_median(op, warmup, repeats)
                tag = "deterministic" if det else "atomic"
                row[f"{tag}_ms"] = ms
                row[f"{tag}_GB_s"] = nbytes / (ms * 1e-3) / 1e9
                row[f"{tag}_fraction_of_copy_bw"] = row[f"{tag}_GB_s"] / copy_gbs
        finally:
            kernels.set_deterministic(old)
        if prev is not None:
            e1 = cp.asarray(rng.normal(size=(T * B, N)).astype(net.dtype))
            rows, cols = prev.idx // n_in, prev.idx % n_in
            for variant in (1, 2):
                op = functools.partial(launch.gather_rowdot, e1, rows, w, cols, variant)
                row[f"gather_variant{variant}_ms"] = _event_median(op, warmup, repeats)
        out.append(row)
    return out


def run_case(
    name: str,
    warmup: int = 3,
    repeats: int = 20,
    torch_baseline: bool = True,
    copy_gbs: float | None = None,
) -> dict:
    """Calibrate, validate and time one case of :data:`spikegrad.bench.CASES` on the GPU."""
    cp = _cupy()
    case = bench.CASES[name]
    x, y = bench.make_inputs(case)
    net = Network(
        list(case.sizes),
        alpha=case.alpha,
        alpha_out=case.alpha_out,
        readout=case.readout,
        init=case.init,
        backend="cupy",
        seed=0,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        active = bench.calibrate(net, x, y, case.target_active)
    calib_s = time.perf_counter() - t0
    _, gd, sd = net.loss_and_grad(x, y, mode="dense")
    _, gs, _ = net.loss_and_grad(x, y, mode="sparse")
    err = max(_rel(gs[k], gd[k]) for k in gd)
    copy_gbs = copy_gbs or copy_bandwidth()
    res: dict[str, Any] = {
        "case": name,
        "shape": "-".join(map(str, case.sizes)),
        "B": case.B,
        "T": case.T,
        "dtype": str(net.dtype),
        "b_th": net.b_th,
        "active_fraction": active,
        "spike_rate": sd["spike_rate"],
        "calibration_s": calib_s,
        "sparse_vs_dense_rel_err": err,
        "copy_GB_s": copy_gbs,
        "warmup": warmup,
        "repeats": repeats,
    }
    for mode in ("dense", "sparse"):
        for k, v in _time_mode(net, x, y, mode, warmup, repeats).items():
            res[f"{mode}_{k}"] = v
    res["dense_backward_vs_sparse_backward"] = res["dense_backward_ms"] / res["sparse_backward_ms"]
    res["dense_step_vs_sparse_step"] = res["dense_step_ms"] / res["sparse_step_ms"]
    res["retained_ratio"] = res["sparse_retained_bytes"] / res["dense_retained_bytes"]
    res["sparse_backward_kernels"] = _layer_kernels(net, x, warmup, repeats, copy_gbs)
    if torch_baseline:
        from . import bench_torch

        tb = bench_torch.time_step(net, x, y, repeats)
        res["torch_rel_err"] = max(_rel(tb["grads"][k], gd[k]) for k in gd)
        res["torch_backward_ms"], res["torch_step_ms"] = tb["backward_s"] * 1e3, tb["step_s"] * 1e3
        res["torch_backward_vs_sparse_backward"] = (
            res["torch_backward_ms"] / res["sparse_backward_ms"]
        )
        res["torch_step_vs_sparse_step"] = res["torch_step_ms"] / res["sparse_step_ms"]
    res["targets_met"] = {k: res[k] >= v for k, v in TARGETS.items() if k in res}
    res["targets_met"]["retained_ratio"] = res["retained_ratio"] <= MAX_RETAINED_RATIO
    cp.get_default_memory_pool().free_all_blocks()
    return res


def _rel(a: Any, b: Any) -> float:
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def device_info() -> dict[str, Any]:
    """Versions and the GPU's name."""
    cp = _cupy()
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


def format_report(info: dict, results: list[dict]) -> str:
    """Plain-text report: device, then one block per case with every figure."""
    lines = [
        "spikegrad GPU benchmark (CUDA events; medians)",
        *(f"  {k}: {v}" for k, v in info.items()),
    ]
    for r in results:
        act = " / ".join(f"{a:.2%}" for a in r["active_fraction"])
        lines += [
            "",
            f"{r['case']}  {r['shape']}  B={r['B']} T={r['T']}  {r['dtype']}  b_th={r['b_th']}",
            f"  active fraction {act}; "
            f"sparse vs dense grad rel. err {r['sparse_vs_dense_rel_err']:.1e}",
            f"  {'':12s}{'backward ms':>12s}{'step ms':>10s}{'peak MB':>10s}{'kept MB':>10s}",
        ]
        for m in ("dense", "sparse"):
            lines.append(
                f"  {m:12s}{r[m + '_backward_ms']:12.3f}{r[m + '_step_ms']:10.3f}"
                f"{r[m + '_peak_bytes'] / 2**20:10.1f}{r[m + '_retained_bytes'] / 2**20:10.2f}"
            )
        if "torch_step_ms" in r:
            lines.append(
                f"  {'torch BPTT':12s}{r['torch_backward_ms']:12.3f}{r['torch_step_ms']:10.3f}"
                f"   (grad rel. err vs dense {r['torch_rel_err']:.1e})"
            )
        lines.append(f"  device copy bandwidth {r['copy_GB_s']:.0f} GB/s")
        for k in r["sparse_backward_kernels"]:
            lines.append(
                f"  sparse backward layer {k['layer']}: A={k['A']}, A_prev={k['A_prev']}, "
                f"input spikes {k['input_spikes']}, {k['model_bytes'] / 2**20:.1f} MB modelled"
            )
            for tag in ("atomic", "deterministic"):
                lines.append(
                    f"    dW {tag:13s} {k[tag + '_ms']:.3f} ms, {k[tag + '_GB_s']:.0f} GB/s = "
                    f"{k[tag + '_fraction_of_copy_bw']:.0%} of copy"
                )
            if "gather_variant1_ms" in k:
                lines.append(
                    f"    dL/dx gather: variant 1 (thread/entry) {k['gather_variant1_ms']:.3f} ms, "
                    f"variant 2 (warp/entry) {k['gather_variant2_ms']:.3f} ms"
                )
        for k, met in r["targets_met"].items():
            val = r[k]
            want = (
                f"<= {MAX_RETAINED_RATIO:.0%}" if k == "retained_ratio" else f">= {TARGETS[k]:g}x"
            )
            shown = f"{val:.1%}" if k == "retained_ratio" else f"{val:.1f}x"
            lines.append(f"  {k}: {shown} (target {want}): {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m spikegrad.bench_gpu``."""
    ap = argparse.ArgumentParser(
        prog="python -m spikegrad.bench_gpu", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--case", action="append", choices=sorted(bench.CASES), help="default: shd-large, fmnist"
    )
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args(argv)
    get_backend("cupy")  # one clear BackendUnavailableError without CuPy or a GPU
    info = device_info()
    copy_gbs = copy_bandwidth()
    results = [
        run_case(c, a.warmup, a.repeats, not a.no_torch, copy_gbs) for c in a.case or GPU_CASES
    ]
    print(format_report(info, results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": info, "results": results}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
