"""``spikegrad plot``: curves, active fraction per layer and a spike raster of a run."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli, option_values

EXAMPLES = """
\b
Needs matplotlib: pip install 'spikegrad[plot]'.

\b
Examples:
  spikegrad plot runs/fm                 # writes runs/fm/run.png
  spikegrad plot runs/fm --out fm.png --sample 7
"""


@cli.command(epilog=EXAMPLES)
@click.argument(
    "run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image file.  [default: DIR/run.png]",
)
@click.option(
    "--sample",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Validation sample of the raster.",
)
def plot(run_dir: Path, out: Path | None, sample: int) -> None:
    """Plot loss/accuracy, active fraction per layer and a spike raster of a run."""
    from spikegrad.plot import plot_run

    with option_values(("out", "sample")):
        path = plot_run(run_dir, out, sample)
    click.echo(f"wrote {path}")
