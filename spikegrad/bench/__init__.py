"""``spikegrad bench``: dense vs sparse gradients vs a PyTorch dense-BPTT baseline.

* ``spikegrad bench`` (or ``python -m spikegrad.bench``): the CPU report (:mod:`.cpu`), with
  ``--peers`` the snnTorch, SpikingJelly and Norse rows (:mod:`.peers`);
* ``spikegrad bench --gpu`` (or ``python -m spikegrad.bench.gpu``): the GPU report
  (:mod:`.gpu`: CUDA events, both sides timed from inputs already on the device, peak memory,
  bandwidth of the sparse backward kernels).

Shared: the case table (:mod:`.cases`), clocks and the timed step (:mod:`.timing`), the report
code (:mod:`.report`), the PyTorch baseline (:mod:`.torch_baseline`, torch optional), the
machine read at run time with its measured bandwidth (:mod:`.machine`) and the step's
unavoidable bytes against it (:mod:`.limits`). Lab
tools run by hand (training speed, contention, band sweep, width scaling) live in the
repository's ``tools/`` folder and are not installed.
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
