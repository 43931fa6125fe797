#!/usr/bin/env bash
# gpu_check.sh: everything that needs a GPU, in one command, offline, in under 5 minutes.
#
#   OUT=/some/dir tools/gpu_check.sh          (OUT defaults to ./gpu_check_out)
#
# Works offline where cupy-cuda13x (or 12x), numpy, scipy, h5py, click and pytest are already
# installed; torch is optional (without torch with CUDA the PyTorch baseline is skipped and the
# report says so). Steps, each under its own timeout (with the kill grace: 290 s in all):
#   1. install spikegrad from this checkout without dependencies, index or build isolation
#      (falls back to PYTHONPATH if that fails)                                          20 s
#   2. versions, the GPU (no usable GPU: stop with exit status 2), nvidia-smi          20+5 s
#   3. GPU parity tests: pytest -m gpu tests/kernels (every kernel vs its NumPy twin, the
#      recurrent rlif.cu and per-neuron alpha included, CuPy vs NumPy loss_and_grad dense and
#      sparse, deterministic mode)                                                          80 s
#   4. the GPU benchmark: python -m spikegrad.bench.gpu (shd-large 700-400-400-20 and fmnist
#      784-200-200-10 at B = 256; spikegrad and PyTorch both timed from inputs already on
#      the device; CUDA events; peak memory; sparse backward bandwidth vs copy)            80 s
#   5. recurrent layer timing: python tools/gpu_rlif_timing.py (700-200r, B = 64, T = 500,
#      float32: rlif.cu sparse forward / backward vs the dense twins on cuBLAS)            20 s
#   6. training speed: python tools/train_speed.py --steps 50 (SHD-shaped synthetic
#      data, steps/s and the projected time of 6,200 updates)                              30 s
#   7. NCCL (tools/nccl_check.py, if mpi4py and cupy.cuda.nccl are there): allreduce on
#      the device and one data-parallel epoch vs one process, one GPU                     25 s
#      (with two GPUs, run `mpiexec -n 2 python tools/nccl_check.py DIR` by hand)
# Output, all under $OUT: gpu_check_report.txt (everything), pytest_gpu.txt, bench_gpu.json,
# train_speed.json. Exit status: 0 only if every step ran clean; 2 if there is no usable GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
REPORT="$OUT/gpu_check_report.txt"
: >"$REPORT"
say() { echo "$@" | tee -a "$REPORT"; }
FAILED=()
step() {  # step NAME SECONDS CMD...: run CMD under a timeout, output to the report
    local name=$1 limit=$2 rc
    shift 2
    say "## $name (timeout ${limit}s): $*"
    timeout -k 2 "$limit" "$@" 2>&1 | tee -a "$REPORT"
    rc=${PIPESTATUS[0]}
    say "$name exit status: $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')"
    [ "$rc" -eq 0 ] || FAILED+=("$name")
}
export PYTHONUNBUFFERED=1

say "# spikegrad gpu_check  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! timeout 20 python -m pip install -q --no-deps --no-index --no-build-isolation -e . >>"$REPORT" 2>&1; then
    say "pip install -e . failed: using this checkout through PYTHONPATH"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
say "## versions"
timeout 20 python - <<'PY' 2>&1 | tee -a "$REPORT"
import importlib, platform
print("python", platform.python_version())
for m in ("spikegrad", "numpy", "scipy", "cupy", "torch", "pytest"):
    try:
        mod = importlib.import_module(m)
        print(m, mod.__version__, "" if m != "spikegrad" else mod.__file__)
    except Exception as exc:  # report, do not stop
        print(m, "unavailable:", type(exc).__name__, exc)
try:
    import cupy
    p = cupy.cuda.runtime.getDeviceProperties(0)
    print("gpu", p["name"].decode(), f"sm_{p['major']}{p['minor']}",
          f"{p['totalGlobalMem'] / 2**30:.1f} GiB")
    print("cuda runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "driver", cupy.cuda.runtime.driverGetVersion(), "nvrtc", cupy.cuda.nvrtc.getVersion())
except Exception as exc:
    print("no usable GPU:", type(exc).__name__, exc)
from spikegrad.backend import cupy_available
raise SystemExit(0 if cupy_available() else 3)
PY
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    say "no usable GPU/CuPy here: nothing verified (see the versions above)"
    exit 2
fi
timeout 5 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
    >>"$REPORT" 2>&1

say "## GPU parity tests"
timeout -k 2 80 python -m pytest -q -m gpu -rs -p no:cacheprovider tests/kernels >"$OUT/pytest_gpu.txt" 2>&1
rc=$?
tail -n 40 "$OUT/pytest_gpu.txt" | tee -a "$REPORT"
say "pytest exit status: $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')"
[ "$rc" -eq 0 ] || FAILED+=("parity tests")

# without torch (or without its CUDA build) the benchmark skips the baseline and says so
step "GPU benchmark" 80 python -m spikegrad.bench.gpu --out "$OUT/bench_gpu.json"
step "recurrent timing" 20 python tools/gpu_rlif_timing.py
step "training speed" 30 python tools/train_speed.py --backend cupy --steps 50 \
    --json "$OUT/train_speed.json"

# data-parallel training on NCCL (needs the "mpi" extra: mpi4py and mpich): a one-rank NCCL
# communicator on one GPU
if python -c "import mpi4py, cupy.cuda.nccl" >/dev/null 2>&1; then
    step "NCCL, one GPU" 25 python tools/nccl_check.py "$OUT/nccl"
else
    say "## NCCL: skipped (no mpi4py or no cupy.cuda.nccl: pip install '.[mpi]')"
fi

if [ ${#FAILED[@]} -eq 0 ]; then
    say "gpu_check: all steps ran clean"
else
    say "gpu_check: FAILED: ${FAILED[*]}"
    exit 1
fi
