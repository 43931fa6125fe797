"""The spikegrad command line (installed as ``spikegrad`` and ``python -m spikegrad``).

Thin over the library: each command (one module each) parses its options, calls one library
function and prints. Library warnings become one-line notes on stderr after the output
(``train`` shows them as they come, with the epoch; an error is its one line alone). Errors: a
SpikegradError (bad data, bad config, corrupt checkpoint...) or an OSError becomes a one-line
message and exit code 1; ``--debug`` shows the traceback instead. Usage errors (bad options)
exit with 2, as everywhere in Click.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from spikegrad import __version__
from spikegrad.checks import RANGES, Range
from spikegrad.errors import BadValueError, SpikegradError


class _Group(click.Group):
    """Keeps commands in definition order and turns library errors into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context):
        notes: list[str] = []
        try:
            with warnings.catch_warnings():
                warnings.showwarning = lambda message, *a, **kw: notes.append(str(message))
                result = super().invoke(ctx)
        except (SpikegradError, OSError) as exc:
            if isinstance(exc, BrokenPipeError) or (ctx.obj and ctx.obj.get("debug")):
                raise
            msg = str(exc) if isinstance(exc, SpikegradError) else f"{type(exc).__name__}: {exc}"
            raise click.ClickException(" ".join(msg.split())) from None
        for text in dict.fromkeys(notes):  # once each, after the command's output
            click.echo(f"note: {' '.join(text.split())}", err=True)
        return result


@contextlib.contextmanager
def option_values(given: Iterable[str]) -> Iterator[None]:
    """A bad value of a setting given on the command line (a name in ``given``) becomes a
    usage error naming its option and value (exit 2); other errors pass unchanged."""
    try:
        yield
    except BadValueError as exc:
        if exc.key not in given:
            raise
        hint = f"'--{exc.key.replace('_', '-')}'"
        raise click.BadParameter(
            f"must be {exc.need}; got {exc.value!r}", param_hint=hint
        ) from None


class Setting(click.ParamType):
    """The type of the option of numeric setting ``setting``: parsed as an integer or a
    number and checked against the setting's one declared range (``spikegrad.checks.RANGES``),
    so a bad value is a usage error ``must be <range>; got <value>``."""

    def __init__(self, setting: str) -> None:
        self.setting, self.range = setting, RANGES[setting]
        self.name = "integer" if self.range.integer else "float"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | float:
        if isinstance(value, str):
            try:
                value = int(value) if self.range.integer else float(value)
            except ValueError:
                self.fail(f"must be {self.range.describe()}; got {value!r}", param, ctx)
        try:
            return self.range.check(self.setting, value)
        except BadValueError as exc:
            self.fail(f"must be {exc.need}; got {exc.value!r}", param, ctx)


def setting_option(setting: str, text: str = "", **kw: Any) -> Callable[[Any], Any]:
    """``--<setting>`` (underscores as dashes) of type :class:`Setting`; its help ends with
    the range."""
    r = RANGES[setting]
    help_text = f"{text}  [{r.describe()}]".strip()
    return click.option(
        "--" + setting.replace("_", "-"), type=Setting(setting), help=help_text, **kw
    )


class PerLayer(click.ParamType):
    """The type of a neuron option (:func:`spikegrad.train.neuron.options`): one number, or
    one per hidden layer separated by commas (``20e-3,10e-3``), each checked against the
    option's range."""

    name = "float[,float...]"

    def __init__(self, setting: str, range_: Range) -> None:
        self.setting, self.range = setting, range_

    def convert(self, value: Any, param: Any, ctx: Any) -> float | tuple[float, ...]:
        if not isinstance(value, str):
            return value
        try:
            values = [self.range.check(self.setting, float(v)) for v in value.split(",")]
        except BadValueError as exc:
            self.fail(f"must be {exc.need}; got {exc.value!r}", param, ctx)
        except ValueError:
            need = f"{self.range.describe()}, or one per hidden layer like 0.1,0.2"
            self.fail(f"must be {need}; got {value!r}", param, ctx)
        return values[0] if len(values) == 1 else tuple(values)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="spikegrad")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train spiking neural networks with sparse spiking gradient descent.

    \b
    Examples:
      spikegrad train                         # quick run on the built-in synthetic task
      spikegrad train --dataset fmnist --epochs 5 --out runs/fm
      spikegrad evaluate runs/fm --split val
      spikegrad export runs/fm --model fm.npz --nir fm.nir
      spikegrad plot runs/fm
      spikegrad info                          # versions, GPU, why a backend was chosen
    """
    ctx.obj = {"debug": debug}


from . import bench, datasets, evaluate, export, info, plot, train  # noqa: E402,F401  (register commands)

# help order: the everyday commands first
cli.commands = {
    k: cli.commands[k] for k in ("train", "evaluate", "export", "plot", "bench", "datasets", "info")
}


def main() -> None:
    """Console-script entry point (a closed pipe, as in ``| head``, ends it quietly)."""
    try:
        cli(prog_name="spikegrad")
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
