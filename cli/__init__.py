"""The spikegrad command line (installed as ``spikegrad`` and ``python -m spikegrad``).

Thin over the library: commands parse options, call one library function and print.
"""

from __future__ import annotations

import sys

import click

from spikegrad import __version__
from spikegrad.errors import SpikegradError


class _Group(click.Group):
    """Turns SpikegradError into a one-line message and exit code 1 (``--debug`` re-raises)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SpikegradError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train spiking neural networks with sparse spiking gradient descent."""
    ctx.obj = {"debug": debug}


from . import train  # noqa: E402,F401  (registers the command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="spikegrad")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
