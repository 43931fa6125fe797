"""``spikegrad export``: a trained network as a model file and/or a NIR graph."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from spikegrad.export import export_run

from . import cli, setting_option

EXAMPLES = """
\b
A run folder means its best.npz (else last.npz). The model file keeps the run's
settings, so `spikegrad evaluate MODEL` encodes inputs as in training; load it in
Python with spikegrad.Network.load(MODEL). The NIR file (needs
pip install 'spikegrad[nir]') maps one step onto --dt seconds (default: the run's
dt); spikegrad.nir's documentation gives the mapping.

\b
Examples:
  spikegrad export runs/fm --model fm.npz
  spikegrad export runs/fm/last.npz --nir fm.nir
  spikegrad export runs/shd --model shd.npz --nir shd.nir --dt 0.002
  spikegrad export runs/alif --nir alif.nir --approximate
"""


@cli.command(epilog=EXAMPLES)
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path), metavar="RUN_OR_CKPT")
@click.option(
    "--model", type=click.Path(dir_okay=False, path_type=Path), help="Model file to write."
)
@click.option("--nir", type=click.Path(dir_okay=False, path_type=Path), help="NIR file to write.")
@setting_option("dt", "Seconds per step in the NIR graph (default: the run's dt).")
@click.option(
    "--approximate",
    is_flag=True,
    help="NIR: write a layer kind NIR has no node for (ALIF) as the nearest node (a LIF with "
    "the base threshold), with a note; without it such a layer is refused.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def export(
    checkpoint: Path,
    model: Path | None,
    nir: Path | None,
    dt: float | None,
    approximate: bool,
    as_json: bool,
) -> None:
    """Write a trained network as a model file and/or a NIR graph."""
    if model is None and nir is None:
        raise click.UsageError("name a --model file, a --nir file, or both")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = export_run(checkpoint, model, nir, dt, approximate)
    r["notes"] = sorted({" ".join(str(w.message).split()) for w in caught})
    if as_json:
        click.echo(json.dumps(r))
        return
    sizes = "-".join(map(str, r["sizes"]))
    if r["model"]:
        click.echo(f"model {sizes} from {r['source']} -> {r['model']}")
    if r["nir"]:
        click.echo(f"NIR graph {sizes} from {r['source']}, dt {r['dt']:g} s -> {r['nir']}")
    for note in r["notes"]:
        click.echo(f"note: {note}")
