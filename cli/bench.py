"""``spikegrad bench``: the dense-vs-sparse table (validated, then timed)."""

from __future__ import annotations

import importlib.util

import click

from spikegrad.backend import BACKENDS
from spikegrad.bench import CASES, default_cases
from spikegrad.bench.torch_baseline import COMPILE_MAX_STEPS
from spikegrad.checks import WEIGHT_DTYPES

from . import cli

EXAMPLES = """
\b
Each case is validated (sparse vs dense gradients, and against PyTorch unless --no-torch)
before it is timed; figures are medians of --repeats; peak MB is the host RSS growth of one
step. Each table states the date, the command, the CPU model, its caches and SIMD flags; each
CPU case adds the bytes and adds its sparse step cannot avoid and the step's fraction of that
limit at the machine's measured L2 / L3 / DRAM bandwidth. shd-recurrent-alif and
shd-recurrent-cuba (ALIF and CuBa neurons) run when named. The PyTorch row is the faster of
eager and torch.compile, tried where T <= --compile-max-steps (its compile time grows with T:
minutes at T = 100). --peers adds snnTorch, SpikingJelly and Norse rows (pip install
'spikegrad[peers]', then spikingjelly, norse and nirtorch with --no-deps). --gpu runs the GPU
report instead (CUDA events, inputs already on the device, peak memory, kernel bandwidth;
default cases shd-large and fmnist at B = 256, 20 repeats).

\b
Examples:
  spikegrad bench --case fmnist --repeats 3 --no-torch
  spikegrad bench --case shd-recurrent
  spikegrad bench --case shd-recurrent-alif --case shd-recurrent-cuba --repeats 3
  spikegrad bench --peers --json
  spikegrad bench --backend cupy --case shd --case shd-large --json
  spikegrad bench --gpu --json
"""


@cli.command(epilog=EXAMPLES)
@click.option(
    "--case",
    "cases",
    type=click.Choice(sorted(CASES)),
    multiple=True,
    help=f"Repeatable.  [default: {', '.join(default_cases('cpu'))}]",
)
@click.option("--backend", type=click.Choice(BACKENDS), default="numpy", show_default=True)
@click.option(
    "--repeats", type=click.IntRange(1), help="Timed calls per figure.  [default: 5; --gpu: 20]"
)
@click.option("--no-torch", is_flag=True, help="Skip the PyTorch dense-BPTT baseline.")
@click.option(
    "--compile-max-steps",
    type=click.IntRange(0),
    default=COMPILE_MAX_STEPS,
    show_default=True,
    help="PyTorch baseline: also try torch.compile when T <= this (0: eager only).",
)
@click.option(
    "--peers", is_flag=True, help="Also time snnTorch, SpikingJelly and Norse (when installed)."
)
@click.option(
    "--gpu", is_flag=True, help="The GPU report (needs CuPy and a GPU; --backend does not apply)."
)
@click.option(
    "--weight-dtype",
    type=click.Choice(WEIGHT_DTYPES),
    default="float32",
    show_default=True,
    help="float16/bfloat16: the kernels read a 16-bit copy of the float32 weights.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per case (one per line)."
)
def bench(
    cases: tuple[str, ...],
    backend: str,
    repeats: int | None,
    no_torch: bool,
    compile_max_steps: int,
    peers: bool,
    gpu: bool,
    weight_dtype: str,
    as_json: bool,
) -> None:
    """Time dense vs sparse gradients on the paper's shapes."""
    from spikegrad import bench as sg_bench
    from spikegrad.bench import report

    if gpu:
        if peers:
            raise click.UsageError("--peers runs in the CPU report only (drop --gpu)")
        from spikegrad.bench import gpu as gpu_report

        info, results = gpu_report.run(list(cases) or None, 3, repeats or 20, not no_torch)
        out = gpu_report.format_report(info, results)
        click.echo(report.json_lines(results) if as_json else out)
        return
    if not no_torch and importlib.util.find_spec("torch") is None:
        raise click.UsageError(
            "the PyTorch baseline needs torch (pip install 'spikegrad[bench]'); or pass --no-torch"
        )
    results = sg_bench.run(
        list(cases) or None,
        backend,
        repeats or 5,
        not no_torch,
        peers,
        compile_max_steps,
        weight_dtype,
    )
    click.echo(report.json_lines(results) if as_json else sg_bench.format_table(results))
