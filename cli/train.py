"""``spikegrad train``: train on the embedded synthetic task (more data sets come later)."""

from __future__ import annotations

import click

from spikegrad.workflow import TrainSetup, run_training

from . import cli


@cli.command()
@click.option("--epochs", default=TrainSetup.epochs, show_default=True, type=click.IntRange(1))
@click.option("--grad", "mode", default="sparse", show_default=True, type=click.Choice(["sparse", "dense"]))
@click.option("--b-th", default=TrainSetup.b_th, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Half-width of the active band |V - theta| < b_th.")
@click.option("--backend", default="numpy", show_default=True, type=click.Choice(["auto", "numpy", "cupy"]))
@click.option("--seed", default=0, show_default=True, type=int)
def train(epochs: int, mode: str, b_th: float, backend: str, seed: int) -> None:
    """Train a 2-hidden-layer SNN on the built-in Randman task and print per-epoch metrics.

    \b
    Example:
      spikegrad train --epochs 5 --grad dense
    """
    setup = TrainSetup(epochs=epochs, mode=mode, b_th=b_th, backend=backend, seed=seed)
    click.echo(setup.describe())
    run_training(setup, log=click.echo)
