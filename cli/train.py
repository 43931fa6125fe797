"""``spikegrad train``: options -> TrainConfig -> ``spikegrad.train.run.fit``."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from spikegrad import distributed, neurons
from spikegrad.backend import BACKENDS
from spikegrad.checks import DTYPES, MODES, WEIGHT_DTYPES
from spikegrad.datasets.augment import Augment
from spikegrad.errors import ConfigError
from spikegrad.ops.readout import READOUTS
from spikegrad.optim import SCHEDULES
from spikegrad.train.config import DATASETS, PRESETS, make_config
from spikegrad.train.folder import default_out_dir
from spikegrad.train.neuron import Option, options
from spikegrad.train.run import RESUMABLE, fit, resume_config

from . import PerLayer, cli, option_values, setting_option


class _GreedyCommand(click.Command):
    """Lets ``--hidden 200 200`` take every value up to the next option."""

    greedy = ("--hidden",)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out, i = [], 0
        while i < len(args):
            out.append(args[i])
            i += 1
            if out[-1] in self.greedy:
                j = i
                while j < len(args) and not args[j].startswith("-"):
                    j += 1
                out.append(" ".join(args[i:j]))
                i = j
        return super().parse_args(ctx, out)


class _TrainCommand(_GreedyCommand):
    """Adds, after ``--neuron``, an option per neuron option of the kinds registered when the
    command runs (:func:`spikegrad.train.neuron.options`): ``--<key>`` with the kind's help
    and range, one value or one per hidden layer."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._made: dict[str, tuple[Option, click.Option]] = {}

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        i = next(i for i, p in enumerate(params) if p.name == "neuron") + 1
        return [*params[:i], *(self._option(o) for o in options().values()), *params[i:]]

    def _option(self, o: Option) -> click.Option:
        """The Click option of ``o`` (the same object on every call while ``o`` is unchanged:
        Click matches parsed values to options by identity)."""
        made = self._made.get(o.key)
        if made is None or made[0] != o:
            text = f"{o.help} One value, or one per hidden layer (a,b)."
            note = f"{', '.join(o.kinds)}; {o.range.describe()}; default {o.default:g}"
            flag = "--" + o.key.replace("_", "-")
            made = o, click.Option([flag], type=PerLayer(o.key, o.range), help=f"{text}  [{note}]")
            self._made[o.key] = made
        return made[1]


class _Kinds(click.ParamType):
    """A registered neuron kind for every hidden layer, or one per layer (``lif,alif``)."""

    name = "kind"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return f"[{'|'.join(neurons.KINDS)}][,...]"

    def convert(self, value: Any, param: Any, ctx: Any) -> str | tuple[str, ...]:
        if not isinstance(value, str):
            return value
        names = [v.strip() for v in value.split(",")]
        known = tuple(neurons.KINDS)
        if not all(n in known for n in names):
            need = f"one of {', '.join(known)}, or one per hidden layer like lif,lif"
            self.fail(f"must be {need}; got {value!r}", param, ctx)
        return names[0] if len(names) == 1 else tuple(names)


class _Sizes(click.ParamType):
    name = "N [N ...]"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            sizes = tuple(int(v) for v in str(value).replace(",", " ").split())
        except ValueError:
            self.fail(f"expected layer sizes like '200 200'; got {value!r}", param, ctx)
        return sizes


class _Augment(click.ParamType):
    """``none``, or ``key=value`` pairs of the augmentation (``shift=40,drop=0.1``)."""

    name = "none|shift=N,time_shift=N,drop=P"

    def convert(self, value: Any, param: Any, ctx: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        text = str(value).strip().lower()
        if text == "none":
            return {}
        out: dict[str, Any] = {}
        for pair in filter(None, text.replace(" ", ",").split(",")):
            key, eq, v = pair.partition("=")
            try:
                out[key] = float(v) if key == "drop" else int(v)
            except ValueError:
                eq = ""
            if not eq:
                need = f"expected 'none' or key=value pairs like 'shift=40'; got {pair!r}"
                self.fail(need, param, ctx)
        try:
            return Augment.from_dict(out).as_dict()
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


class _Recurrent(click.ParamType):
    """``all``, ``none``, or one 0/1 per hidden layer (``0,1``: the second one recurrent)."""

    name = "all|none|0,1,..."

    def convert(self, value: Any, param: Any, ctx: Any) -> bool | tuple[bool, ...]:
        if isinstance(value, (bool, tuple)):
            return value
        text = str(value).strip().lower()
        if text in ("all", "none"):
            return text == "all"
        flags = text.replace(",", " ").split()
        if not flags or any(f not in ("0", "1") for f in flags):
            self.fail(
                f"expected all, none or one 0/1 per hidden layer like 0,1; got {value!r}",
                param,
                ctx,
            )
        return tuple(f == "1" for f in flags)


class _Bar:
    """An epoch progress bar on stderr showing the last loss and samples per second."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def start(self, epoch: int, total: int, done: int) -> None:
        self.bar = click.progressbar(
            length=total,
            label=f"epoch {epoch}",
            file=sys.stderr,
            item_show_func=lambda s: s,
            width=24,
        )
        self.bar.__enter__()
        self.bar.update(done)
        self.first, self.t0 = done, time.perf_counter()

    def update(self, done: int, loss: float) -> None:
        rate = (done - self.first) * self.batch_size / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.update(done - self.bar.pos, f"loss {loss:.4f} {rate:.0f} samples/s")

    def end(self) -> None:
        self.bar.__exit__(None, None, None)


EXAMPLES = """
\b
Defaults are the paper's settings for the chosen data set (Perez-Nieves & Goodman
2021; see spikegrad datasets info NAME), printed at the start. Precedence: options >
--config file > preset. Without --out the run goes to runs/<dataset>-<YYYYmmdd-HHMMSS>
in the current folder. Ctrl-C (SIGTERM) saves last.npz after the current update and
exits with code 130 (143); continue with --resume.

\b
Examples:
  spikegrad train                                  # synthetic task, ~10 s on 2 CPU cores
  spikegrad train --dataset fmnist --data-dir ~/data/fashion_mnist --epochs 5 --out runs/fm
  spikegrad train --dataset nmnist --epochs 1 --limit 512 --grad dense
  spikegrad train --hidden 400 400 --b-th 0.1 --seed 3 --json -q
  spikegrad train --lr-schedule cosine --weight-decay 1e-4 --patience 5 --tau-mem 20e-3
  spikegrad train --recurrent --tau-mem-spread 0.5        # recurrent, heterogeneous taus
  spikegrad train --hidden 200 200 --recurrent 0,1        # only the second layer recurrent
  spikegrad train --hidden 200 200 --neuron lif --tau-mem 20e-3,10e-3  # a tau_mem per layer
  spikegrad train --dataset shd --preset recurrent --data-dir ~/data/shd
  spikegrad train --dataset fsdd --data-dir ~/data --val-speaker theo   # spoken digits
  spikegrad train --dataset shd --print-config > shd.toml
  spikegrad train --config shd.toml --out runs/shd
  spikegrad train --resume runs/fm --epochs 10     # continue (and extend) a run
"""


@cli.command(cls=_TrainCommand, epilog=EXAMPLES)
@click.option(
    "--dataset", type=click.Choice(DATASETS), help="Data set and preset.  [default: synthetic]"
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="tuned: the paper's settings with a recipe measured to do better where there is one "
    "(Fashion-MNIST, FSDD); paper: the paper's settings exactly; recurrent (SHD: one "
    "recurrent layer with Gamma-distributed tau_mem, Perez-Nieves et al. 2021; FSDD).  "
    "[default: tuned]",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, resolve_path=True),
    help="Data root or the data set's folder (stored as an absolute path).",
)
@click.option("--hidden", type=_Sizes(), help="Hidden layer sizes, e.g. --hidden 200 200.")
@click.option(
    "--recurrent",
    type=_Recurrent(),
    is_flag=False,
    flag_value="all",
    help="Recurrent hidden layers (weights R_l): alone or 'all' for every one, 'none', or one "
    "0/1 per hidden layer, e.g. --recurrent 0,1.",
)
@click.option(
    "--neuron",
    type=_Kinds(),
    help="Neuron kind of every hidden layer, or one per layer (e.g. lif,lif); each kind's "
    "options follow (every option takes one value, or one per hidden layer).  [default: lif]",
)
@setting_option("epochs", "Epochs to train (in total, also when resuming).")
@setting_option("batch_size")
@setting_option("lr", "Adam learning rate.")
@click.option(
    "--lr-schedule",
    type=click.Choice(SCHEDULES),
    help="cosine: down to --lr-min over the run; step: x --lr-gamma every --lr-step-epochs.",
)
@setting_option("lr_min", "Final learning rate of cosine (below --lr).")
@setting_option("lr_step_epochs", "Epochs between step decays.")
@setting_option("lr_gamma", "Factor of each step decay.")
@setting_option("warmup_epochs", "Epochs of linear lr warm-up.")
@setting_option("weight_decay", "Decoupled weight decay (AdamW).")
@setting_option("clip_grad_norm", "Clip the global gradient norm (0: off).")
@click.option(
    "--augment",
    type=_Augment(),
    help="Augment the training samples, drawn afresh each epoch: shift=N (channel offset per "
    "sample in -N..N), time_shift=N (steps), drop=P (delete each spike), e.g. "
    "--augment shift=40,drop=0.1; none: off.",
)
@setting_option("patience", "Stop after N epochs without a better validation accuracy (0: off).")
@setting_option("dt", "Time step in seconds (the encoding's dt follows it).")
@setting_option("tau_out", "Readout time constant in seconds.")
@setting_option("b_th", "Half-width of the active band |V - theta| < b_th (inf: dense surrogate).")
@click.option("--grad", type=click.Choice(MODES), help="Sparse (S3GD) or dense BPTT gradients.")
@click.option("--readout", type=click.Choice(READOUTS), help="Class score from the readout trace.")
@click.option(
    "--backend", type=click.Choice(BACKENDS), help="auto: CuPy if a GPU is usable, else NumPy."
)
@click.option("--dtype", type=click.Choice(DTYPES))
@click.option(
    "--weight-dtype",
    type=click.Choice(WEIGHT_DTYPES),
    help="float16/bfloat16: the kernels read a 16-bit copy of the float32 weights (mixed "
    "precision; --dtype float32 only).  [default: float32]",
)
@click.option(
    "--seed", type=int, help="Seed of the initial weights, shuffles and validation split."
)
@setting_option("val_fraction", "Fraction of the training split held out for validation.")
@setting_option("limit", "Use a seeded random subset of N training samples (0: all).")
@click.option(
    "--val-speaker",
    help="FSDD: validate on every recording of this speaker (e.g. theo) instead of a seeded slice.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder to write."
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file with any subset of the settings (see --print-config).",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, path_type=Path),
    help="Continue a run: its folder or a checkpoint file.",
)
@click.option("--print-config", is_flag=True, help="Print the resolved config as TOML and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No banner, progress bar or per-epoch lines.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object (implies -q).")
@click.pass_context
def train(
    ctx: click.Context,
    config_file: Path | None,
    resume: Path | None,
    out: Path | None,
    print_config: bool,
    quiet: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Train an SNN and write config.toml, metrics.jsonl, last.npz and best.npz.

    Under mpiexec with several ranks the training is data-parallel (--batch-size stays the
    global batch); rank 0 alone prints and writes the run folder.
    """
    distributed.silence_followers()
    given = {k: v for k, v in options.items() if v is not None}
    if resume is not None:
        extra = sorted(set(given) - set(RESUMABLE)) + (["config"] if config_file else [])
        if extra:
            raise click.UsageError(
                f"--resume continues with the run's saved config; only "
                f"{', '.join('--' + k.replace('_', '-') for k in RESUMABLE)} may be given "
                f"(got {', '.join('--' + k.replace('_', '-') for k in extra)})"
            )
        with option_values(given):
            config, run_dir = resume_config(resume, **given)
        out = out or run_dir
    else:
        with option_values(given):
            config = make_config(given.pop("dataset", None), config_file, **given)
        out = out or default_out_dir(config.dataset)
    if print_config:
        click.echo(config.to_toml(), nl=False)
        return
    quiet = quiet or as_json
    log = (lambda s: None) if quiet else click.echo
    bar = _Bar(config.batch_size) if not quiet and sys.stderr.isatty() else None
    try:
        # library warnings: one short note per kind on stderr, also with -q (never raw)
        note = lambda s: click.echo(s, err=True)  # noqa: E731
        result = fit(config, out, resume, log=log, progress=bar, note=note)
    except KeyboardInterrupt:
        click.echo("interrupted: checkpoints left as they were", err=True)
        ctx.exit(130)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    if result.status == "interrupted":
        how = "terminated (SIGTERM)" if result.signal == signal.SIGTERM else "interrupted"
        click.echo(
            f"{how} at epoch {result.epoch + 1}, batch {result.batch}: "
            f"saved {out / 'last.npz'}; continue with: spikegrad train --resume {out}",
            err=True,
        )
        ctx.exit(128 + (result.signal or signal.SIGINT))  # the shell's convention: 130, 143
    if not quiet and result.best is not None:
        what = "val" if config.val_fraction else "train"
        click.echo(
            f"done: best {what} accuracy {result.best['score']:.2%} "
            f"(epoch {result.best['epoch']}); next: spikegrad evaluate {out} --split {what}"
        )
