"""``spikegrad evaluate``: accuracy, loss, per-class accuracy and confusion of a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spikegrad import distributed
from spikegrad.train.config import DATASETS
from spikegrad.train.evaluate import SPLITS, evaluate_run

from . import cli, setting_option

EXAMPLES = """
\b
A run folder means its best.npz (else last.npz); a model file (spikegrad export
--model, or net.save) works too. Inputs are encoded exactly as in training (the
run's saved encoding options); "train" and "val" are the run's own training and
validation parts. A model file saved without its run needs --dataset.

\b
Examples:
  spikegrad evaluate runs/fm --split val
  spikegrad evaluate runs/fm/last.npz --split test --data-dir ~/data/fashion_mnist
  spikegrad evaluate runs/syn --json | jq .accuracy
  spikegrad evaluate model.npz --dataset fmnist --data-dir ~/data/fashion_mnist
"""


@cli.command(epilog=EXAMPLES)
@click.argument(
    "checkpoint", type=click.Path(exists=True, path_type=Path), metavar="DIR_CKPT_OR_MODEL"
)
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    help="Evaluate on another data set.  [default: the run's]",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Where the data lies now.  [default: the run's]",
)
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@setting_option("limit", "Only the first N samples (0: all).", default=0)
@setting_option("batch_size", default=256, show_default=True)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (accuracy, loss, per_class_accuracy, confusion...).",
)
def evaluate(
    checkpoint: Path,
    dataset: str | None,
    data_dir: str | None,
    split: str,
    limit: int,
    batch_size: int,
    as_json: bool,
) -> None:
    """Evaluate a trained network (checkpoint, run folder or model file) on a data split
    (under mpiexec: sharded, rank 0 prints)."""
    distributed.silence_followers()
    r = evaluate_run(checkpoint, split, dataset, data_dir, limit, batch_size)
    if as_json:
        click.echo(json.dumps(r))
        return
    after = f" (after epoch {r['epoch']})" if r["epoch"] is not None else ""
    click.echo(f"{r['checkpoint']}{after} on {r['dataset']} {r['split']}: {r['n']} samples")
    click.echo(f"accuracy {r['accuracy']:.2%}  loss {r['loss']:.4f}")
    names = r["class_names"]
    w = max(len(n) for n in names)
    click.echo("per-class accuracy:")
    for n, a in zip(names, r["per_class_accuracy"], strict=True):
        click.echo(f"  {n:<{w}s} {a:7.2%}")
    click.echo("confusion matrix (rows: true class, columns: predicted):")
    width = max(len(str(v)) for row in r["confusion"] for v in row) + 1
    for n, row in zip(names, r["confusion"], strict=True):
        click.echo(f"  {n:<{w}s}" + "".join(f"{v:>{width}d}" for v in row))
