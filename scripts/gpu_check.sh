#!/usr/bin/env bash
# gpu_check.sh: verify the CuPy backend on a GPU machine in one command (< 5 minutes).
#
#   OUT=/some/dir scripts/gpu_check.sh        (OUT defaults to ./gpu_check_out)
#
# Works offline where cupy-cuda13x (or 12x), numpy, scipy, h5py, click and pytest are already
# installed; torch is optional (without it the PyTorch baseline is skipped and the report says
# so). Steps: install spikegrad without dependencies or build isolation (no network), record
# versions and the GPU, run the GPU parity tests (tests/kernels/test_gpu.py: every kernel vs
# its NumPy twin, CuPy vs NumPy loss_and_grad dense and sparse, deterministic mode), then the
# GPU benchmark (python -m spikegrad.bench_gpu). Everything goes to $OUT/gpu_check_report.txt,
# plus $OUT/pytest_gpu.txt and $OUT/bench_gpu.json. Exit status: 0 only if the tests and the
# benchmark both ran clean.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
REPORT="$OUT/gpu_check_report.txt"
: >"$REPORT"
say() { echo "$@" | tee -a "$REPORT"; }

say "# spikegrad gpu_check  $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! python -c "import spikegrad" 2>/dev/null; then
    pip install -q --no-deps --no-build-isolation -e . >>"$REPORT" 2>&1 || say "pip install -e . failed"
fi
say "## versions"
python - <<'PY' 2>&1 | tee -a "$REPORT"
import importlib, platform
print("python", platform.python_version())
for m in ("spikegrad", "numpy", "scipy", "cupy", "torch", "pytest"):
    try:
        print(m, importlib.import_module(m).__version__)
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
PY
if ! python -c "from spikegrad.backend import cupy_available as c; raise SystemExit(not c())"; then
    say "no usable GPU/CuPy here: nothing verified (see the versions above)"
    exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$REPORT" 2>&1

say "## GPU parity tests (pytest -m gpu tests/kernels)"
timeout 150 python -m pytest -q -m gpu -rs -p no:cacheprovider tests/kernels >"$OUT/pytest_gpu.txt" 2>&1
TEST_RC=$?
tail -n 40 "$OUT/pytest_gpu.txt" | tee -a "$REPORT"
say "pytest exit status: $TEST_RC"

say "## GPU benchmark (python -m spikegrad.bench_gpu)"
TORCH_FLAG=""
python -c "import torch; assert torch.cuda.is_available()" 2>/dev/null || {
    TORCH_FLAG="--no-torch"
    say "torch with CUDA unavailable: PyTorch BPTT baseline skipped"
}
timeout 200 python -m spikegrad.bench_gpu $TORCH_FLAG --json "$OUT/bench_gpu.json" 2>&1 | tee -a "$REPORT"
BENCH_RC=${PIPESTATUS[0]}
say "benchmark exit status: $BENCH_RC"
[ "$TEST_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
