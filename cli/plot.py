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
  spikegrad plot data/fsdd/recordings/3_theo_7.wav   # cochlea raster of one recording
"""


@cli.command(epilog=EXAMPLES)
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path), metavar="DIR|WAV")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image file.  [default: DIR/run.png, or the wav's name with .png]",
)
@click.option(
    "--sample",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Validation sample of the raster.",
)
def plot(run_dir: Path, out: Path | None, sample: int) -> None:
    """Plot loss/accuracy, active fraction per layer and a spike raster of a run (DIR), or
    the cochlea spikes of one recording (a .wav file)."""
    if run_dir.is_file():
        if run_dir.suffix.lower() != ".wav":
            raise click.BadParameter(f"{run_dir}: neither a run folder nor a .wav file")
        from spikegrad.audio.plot import plot_recording

        with option_values(("out",)):
            path = plot_recording(run_dir, out)
        click.echo(f"wrote {path}")
        return
    from spikegrad.plot import plot_run

    with option_values(("out", "sample")):
        path = plot_run(run_dir, out, sample)
    click.echo(f"wrote {path}")
