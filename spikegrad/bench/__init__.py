"""Benchmarks of the engine: dense vs sparse gradients vs a PyTorch dense-BPTT baseline.

* ``python -m spikegrad.bench`` (or ``spikegrad bench``): the CPU report (:mod:`.cpu`);
* ``python -m spikegrad.bench --gpu`` (or ``python -m spikegrad.bench.gpu``): the GPU report
  (:mod:`.gpu`: CUDA events, both sides timed from inputs already on the device, peak memory,
  bandwidth of the sparse backward kernels);
* ``python -m spikegrad.bench.train_speed``: training steps per second on SHD-shaped data.
* ``python -m spikegrad.bench.contention``: the sparse step's time alone and beside a busy
  process, per thread setting (:mod:`.contention`).
* ``python -m spikegrad.bench.band_sweep``: the sparse and dense backward against the band
  B_th (default case ``shd-recurrent``): the sparse cost follows the active set
  (:mod:`.band_sweep`).

Shared: the case table (:mod:`.cases`), clocks and the timed step (:mod:`.timing`), the report
code (:mod:`.report`) and the PyTorch baseline (:mod:`.torch_baseline`, torch optional).
"""

from .cases import CASES, Case, calibrate, default_cases, make_inputs
from .cpu import format_table, main, run, run_case

__all__ = [
    "CASES",
    "Case",
    "calibrate",
    "default_cases",
    "format_table",
    "main",
    "make_inputs",
    "run",
    "run_case",
]
