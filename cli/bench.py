"""``spikegrad bench``: the dense-vs-sparse table (validated, then timed)."""

from __future__ import annotations

import importlib.util

import click

from spikegrad.backend import BACKENDS
from spikegrad.bench import CASES, default_cases
from spikegrad.bench.torch_baseline import COMPILE_MAX_STEPS

from . import cli

EXAMPLES = """
\b
Each case is validated (sparse vs dense gradients, and against PyTorch unless --no-torch)
before it is timed; figures are medians of --repeats; peak MB is the host RSS growth of one
step. The PyTorch row is the faster of eager and torch.compile, tried where T <=
--compile-max-steps (its compile time grows with T: minutes at T = 100). --peers adds
snnTorch, SpikingJelly and Norse rows (pip install 'spikegrad[peers]', then spikingjelly,
norse and nirtorch with --no-deps). The GPU report (CUDA events, inputs already on the
device, peak memory, kernel bandwidth): python -m spikegrad.bench --gpu.

\b
Examples:
  spikegrad bench --case fmnist --repeats 3 --no-torch
  spikegrad bench --case shd-recurrent
  spikegrad bench --peers --json
  spikegrad bench --backend cupy --case shd --case shd-large --json
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
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True)
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
    "--json", "as_json", is_flag=True, help="Print one JSON object per case (one per line)."
)
def bench(
    cases: tuple[str, ...],
    backend: str,
    repeats: int,
    no_torch: bool,
    compile_max_steps: int,
    peers: bool,
    as_json: bool,
) -> None:
    """Time dense vs sparse gradients on the paper's shapes."""
    from spikegrad import bench as sg_bench
    from spikegrad.bench import report

    if not no_torch and importlib.util.find_spec("torch") is None:
        raise click.UsageError(
            "the PyTorch baseline needs torch (pip install 'spikegrad[bench]'); or pass --no-torch"
        )
    results = sg_bench.run(
        list(cases) or None, backend, repeats, not no_torch, peers, compile_max_steps
    )
    click.echo(report.json_lines(results) if as_json else sg_bench.format_table(results))
