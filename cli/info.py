"""``spikegrad info``: versions, backend chosen by "auto" and why, GPU, NVRTC, caches, CPU
threads."""

from __future__ import annotations

import json

import click

from spikegrad.info import collect, format_info

from . import cli


@cli.command(epilog="\b\nExamples:\n  spikegrad info\n  spikegrad info --json")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(as_json: bool) -> None:
    """Show versions, the backend "auto" picks (and why), GPU, driver, NVRTC and how many
    threads the CPU kernels use (change: SPIKEGRAD_THREADS=N)."""
    d = collect()
    click.echo(json.dumps(d) if as_json else format_info(d))
