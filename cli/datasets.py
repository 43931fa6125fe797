"""``spikegrad datasets``: list, download, verify and describe the data sets."""

from __future__ import annotations

import json

import click

from spikegrad import datasets as sg_data
from spikegrad.train.config import paper_training

from . import cli

_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Data root.  [default: $SPIKEGRAD_DATA, else the user cache folder]",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
_NAME = click.argument("name", type=click.Choice(sg_data.NAMES))


@cli.group(
    epilog="\b\nExamples:\n  spikegrad datasets list\n  spikegrad datasets download fmnist"
    "\n  spikegrad datasets verify nmnist --data-dir ~/data\n  spikegrad datasets info shd"
)
def datasets() -> None:
    """List, download, verify and describe the data sets."""


@datasets.command("list", epilog="\b\nExample:\n  spikegrad datasets list --json")
@_DIR
@_JSON
def list_(data_dir: str | None, as_json: bool) -> None:
    """Names, sizes, where each data set is looked for and whether it is there."""
    rows = [{**sg_data.describe(n), **sg_data.locate(n, data_dir)} for n in sg_data.NAMES]
    root = sg_data.data_root(data_dir)
    if as_json:
        click.echo(json.dumps({"data_root": str(root), "datasets": rows}))
        return
    click.echo(f"data root {root}")
    for d in rows:
        click.echo(
            f"  {d['name']:10s} {d['n_inputs']:5d} inputs {d['n_classes']:3d} classes "
            f"T {d['T']:4d} x {d['dt'] * 1e3:g} ms   {_presence(d)}"
        )


def _presence(d: dict) -> str:
    if d["generated"]:
        return "built in (generated)"
    found = [s for s, where in d["splits"].items() if where]
    if not found:
        return f"missing (looked in {d['looks_in']})"
    where = sorted({d["splits"][s] for s in found})
    missing = [s for s in d["splits"] if s not in found]
    return f"{' + '.join(found)} present in {', '.join(where)}" + (
        f"; {', '.join(missing)} missing" if missing else ""
    )


@datasets.command(
    epilog="\b\nExamples:\n  spikegrad datasets download fmnist\n"
    "  spikegrad datasets download shd --data-dir /data/spikes -q"
)
@_NAME
@_DIR
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def download(name: str, data_dir: str | None, quiet: bool) -> None:
    """Fetch a data set from its official source (checksummed, resumable)."""
    for path in sg_data.download(name, data_dir, progress=not quiet):
        click.echo(f"ok {path}")


@datasets.command(
    epilog="\b\nExamples:\n  spikegrad datasets verify fmnist\n"
    "  spikegrad datasets verify shd --data-dir /data/spikes --json"
)
@_NAME
@_DIR
@_JSON
def verify(name: str, data_dir: str | None, as_json: bool) -> None:
    """Check the downloaded files against their checksums (exit 1 if one is bad or missing)."""
    if not sg_data.describe(name)["folders"]:
        click.echo(
            "{}" if as_json else f"{name}: built in (generated on the fly); no files to verify"
        )
        return
    files = sg_data.verify(name, data_dir)
    bad = [
        f
        for f, v in files.items()
        if not v["present"] or v["md5_ok"] is False or v.get("bad_sizes")
    ]
    if as_json:
        click.echo(json.dumps(files, default=str))
    elif not files:
        click.echo(f"{name}: generated on the fly, no files to verify")
    else:
        for v in files.values():
            click.echo(f"{_state(v):28s} {v['path']}")
    if bad:
        raise click.ClickException(f"{name}: {len(bad)} of {len(files)} files missing or bad")


def _state(v: dict) -> str:
    if not v["present"]:
        return "missing"
    if "layout" in v:  # N-MNIST extracted: no archive to checksum
        n, bad = v["n_files"], v["bad_sizes"]
        return f"{n} files ({v['layout']})" + (f", {bad} BAD SIZES" if bad else ", sizes ok")
    return {True: "ok", False: "CHECKSUM MISMATCH", None: "present (no checksum known)"}[
        v["md5_ok"]
    ]


@datasets.command(
    epilog="\b\nExamples:\n  spikegrad datasets info fmnist\n  spikegrad datasets info shd --json"
)
@_NAME
@_JSON
def info(name: str, as_json: bool) -> None:
    """Geometry, default encoding, files, URLs and the paper's settings of a data set."""
    d = sg_data.describe(name)
    d["paper"] = {**paper_training(name), **d["paper"]}
    if as_json:
        click.echo(json.dumps(d))
        return
    click.echo(
        f"{d['name']}: {d['n_inputs']} inputs, {d['n_classes']} classes, T {d['T']} steps "
        f"of {d['dt'] * 1e3:g} ms"
    )
    click.echo(f"classes   {', '.join(d['class_names'])}")
    click.echo(f"encoding  {', '.join(f'{k}={v}' for k, v in d['encoding'].items())}")
    if d["folders"]:
        click.echo(f"folders   {', '.join(d['folders'])} (under the data root)")
    for f in d["files"]:
        click.echo(f"file      {f}  md5 {d['md5'][f] or 'from md5sums.txt'}  {d['urls'][f][0]}")
    for k, v in d["paper"].items():
        click.echo(f"paper     {k}: {v}")
