"""A training run: :func:`fit` trains a config into a run folder; :class:`Run` holds the
run's state and does one part per method (set up, announce, one epoch, validate, record,
stop, diagnose)."""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..backend import get_backend, to_numpy
from ..datasets.augment import Augment
from ..distributed import Comm, abort_on_error, check_same, launched, together, world
from ..errors import BadValueError, ConfigError, TrainingError
from . import checkpoint as ckpt_io
from .build import build_network, load_data, make_optimizer
from .config import TrainConfig, layer_sizes
from .diagnosis import first_nonfinite
from .evaluate import evaluate
from .folder import RunFolder, epoch_line, read_metrics
from .loop import EpochStats, n_batches, train_epoch
from .neuron import unused
from .signals import deferred_signals

# settings that may change when a run is resumed (they do not change the arithmetic on one device)
RESUMABLE = ("epochs", "backend", "data_dir")


class Progress(Protocol):
    """What :func:`fit` reports while an epoch runs (e.g. a progress bar)."""

    def start(self, epoch: int, total: int, done: int) -> None: ...
    def update(self, done: int, loss: float) -> None: ...
    def end(self) -> None: ...


@dataclass
class RunResult:
    """What :func:`fit` did: ``status`` is "finished", "stopped early" (``patience``) or
    "interrupted" (by the signal number ``signal``: SIGINT or SIGTERM)."""

    status: str
    out_dir: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    epoch: int = 0
    batch: int = 0
    signal: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "out_dir": str(self.out_dir) if self.out_dir else None,
            "epoch": self.epoch,
            "batch": self.batch,
            "signal": self.signal,
            "notes": self.notes,
            "best": self.best,
            "history": self.history,
        }


def _silent(_line: str) -> None:
    """A log that prints nothing."""


# ------------------------------------------------------------------------------- resume
def resume_config(resume: str | Path, **changes: Any) -> tuple[TrainConfig, Path]:
    """The saved config of checkpoint (or run folder) ``resume`` with ``changes`` (only the
    ``RESUMABLE`` settings), and the run folder it belongs to."""
    ck = ckpt_io.load(ckpt_io.resolve(resume))
    cfg = ck.config.replace(**changes)
    check_resume(cfg, ck)
    return cfg, ck.path.parent


def check_resume(config: TrainConfig, ck: ckpt_io.Checkpoint) -> None:
    """Refuse to resume checkpoint ``ck`` with ``config``: a setting outside ``RESUMABLE``
    changed, a cosine schedule would change length, or nothing is left to train."""
    saved = ck.config
    diff = [
        k for k in saved.to_dict() if k not in RESUMABLE and getattr(config, k) != getattr(saved, k)
    ]
    if diff:
        raise ConfigError(
            f"resume: the config differs from the checkpoint's in {', '.join(diff)}; "
            f"only {', '.join(RESUMABLE)} may change"
        )
    if config.lr_schedule == "cosine" and config.epochs != saved.epochs:
        raise ConfigError(
            f"resume: epochs {config.epochs} would change the cosine schedule's length "
            f"(the run's epochs, {saved.epochs}); a cosine run resumes with its own epochs"
        )
    if ck.epoch >= config.epochs:  # a finished run: resuming it would do nothing
        need = f"> {ck.epoch} to train on: {ck.path} has already trained {ck.epoch} epochs"
        raise BadValueError("epochs", config.epochs, need)


def _check_updates(config: TrainConfig, n_train: int) -> None:
    """Refuse a run whose epochs would make no update (no full batch with drop_last)."""
    if n_batches(n_train, config.batch_size, config.drop_last) == 0:
        limit = f"limit {config.limit}, " if config.limit else ""
        raise ConfigError(
            f"{config.dataset}: {n_train} training samples ({limit}validation fraction "
            f"{config.val_fraction:g} held out) fill no batch of {config.batch_size}"
            f"{' (drop_last skips an incomplete one)' if config.drop_last else ''}, so an epoch "
            "would make no update; lower batch_size or raise limit"
        )


def _digest(params: dict[str, Any]) -> str:
    """A hash of the parameter values (their bytes, on the host)."""
    h = hashlib.sha256()
    for k in sorted(params):
        h.update(k.encode())
        h.update(np.ascontiguousarray(to_numpy(params[k])).tobytes())
    return h.hexdigest()


# -------------------------------------------------------------------------------- notes
class Notes:
    """Python warnings as short notes: once per kind (category and message), with the epoch;
    a :class:`Progress` that tells the running epoch and forwards to ``inner``."""

    def __init__(self, note: Callable[[str], None], inner: Progress | None = None) -> None:
        self.note, self.inner, self.epoch = note, inner, 0
        self.notes: list[str] = []
        self.seen: set[tuple[str, str]] = set()

    def show(self, message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
        """A ``warnings.showwarning`` that emits a note instead of the message and source line."""
        text = " ".join(str(message).split())
        if (category.__name__, text) in self.seen:
            return
        self.seen.add((category.__name__, text))
        when = f"epoch {self.epoch}" if self.epoch else "before training"
        self.notes.append(f"note: {when}: {text}")
        self.note(self.notes[-1])

    def start(self, epoch: int, total: int, done: int) -> None:
        self.epoch = epoch
        if self.inner is not None:
            self.inner.start(epoch, total, done)

    def update(self, done: int, loss: float) -> None:
        if self.inner is not None:
            self.inner.update(done, loss)

    def end(self) -> None:
        if self.inner is not None:
            self.inner.end()


class _Stop(Exception):
    """Raised from the batch hook to end the epoch early (a stop signal)."""


# ---------------------------------------------------------------------------------- run
class Run:
    """One training run of ``config`` (set up on construction, on every rank of ``comm``).

    ``folder`` is written by rank 0 only (the caller passes an empty one elsewhere);
    ``resume``: a checkpoint file or run folder to continue.
    """

    def __init__(
        self,
        config: TrainConfig,
        folder: RunFolder,
        resume: str | Path | None,
        log: Callable[[str], None],
        progress: Progress,
        comm: Comm,
    ) -> None:
        self.config, self.folder, self.log = config, folder, log
        self.progress, self.comm = progress, comm
        with together(comm):  # a failure on any rank here is a failure of every rank
            self._set_up(resume)
        # the same state everywhere: also a resume with another rank count
        position = (self.epoch, self.start, self.opt.step_count)
        check_same(comm, {"position": position, "state": self.state})
        self.result = RunResult("finished", folder.path, self.history, self.state["best"])

    def _set_up(self, resume: str | Path | None) -> None:
        """Data, network, optimiser and position: fresh, or from the checkpoint ``resume``."""
        config = self.config
        self.saved = ckpt_io.load(ckpt_io.resolve(resume)) if resume is not None else None
        if self.saved is not None:
            check_resume(config, self.saved)
        else:
            self.folder.refuse_overwrite()
        self.train_data, self.val_data = load_data(config)
        _check_updates(config, len(self.train_data))
        layers = self.saved.layers if self.saved is not None else None
        d = self.train_data
        self.net = build_network(config, d.n_inputs, d.n_classes, layers)
        self.total = n_batches(len(d), config.batch_size, config.drop_last)
        self.opt = make_optimizer(config, self.net, self.total)
        self.epoch, self.start, self.state = 0, 0, {"best": None, "stats": None}
        self.history: list[dict[str, Any]] = []
        if self.saved is not None:
            ckpt_io.restore(self.saved, self.net, self.opt)
            self.epoch, self.start, self.state = (
                self.saved.epoch,
                self.saved.batch,
                self.saved.state,
            )
            past = read_metrics(self.saved.path.parent)
            self.history = [r for r in past if r["epoch"] <= self.epoch]

    def announce(self) -> None:
        """Log the settings and the run's shape; write the config and metrics so far."""
        c, net, val = self.config, self.net, self.val_data
        ranks = f" x {self.comm.size} ranks (data-parallel)" if self.comm.size > 1 else ""
        self.log(c.describe())
        for text in unused(c):
            warnings.warn(text, stacklevel=1)
        where = (
            f"run folder {self.folder}" if self.folder.path else "no run folder: nothing is saved"
        )
        self.log(where)
        self.log(
            f"{len(self.train_data)} training samples, {len(val) if val else 0} validation; "
            f"network {net.sizes[0]}-{layer_sizes(c.hidden, c.recurrent_layers)}-"
            f"{net.sizes[-1]} on {net.backend.name}{ranks}"
        )
        if self.saved is not None:
            self.log(
                f"resumed from {self.saved.path} at epoch {self.epoch + 1}, batch {self.start}"
            )
        self.folder.start(c, self.history)

    def train(self) -> RunResult:
        """Train the remaining epochs; stop early, on a signal, or raise on a non-finite value."""
        self.announce()
        with deferred_signals(self.comm) as self.stops:
            while self.epoch < self.config.epochs:
                if self._patience_spent():
                    return self._stop_early()
                summary = self._epoch()
                if summary is None:
                    return self.result
                self._end_epoch(summary)
                if self.stops.requested():
                    self.result.status, self.result.signal = "interrupted", self.stops.signal
                    return self.result
        return self.result

    def _patience_spent(self) -> bool:
        """Early stopping: ``patience`` epochs done since the best score (also when resuming)."""
        best, patience = self.state["best"], self.config.patience
        return bool(patience and best and self.epoch - best["epoch"] >= patience)

    def _stop_early(self) -> RunResult:
        best, n = self.state["best"], self.epoch - self.state["best"]["epoch"]
        what = "val" if self.val_data is not None else "train"
        self.log(
            f"early stop: no better {what} accuracy in {n} epoch{'s' * (n != 1)} "
            f"(patience {self.config.patience}); best {best['score']:.2%} at epoch {best['epoch']}"
        )
        self.result.status, self.result.epoch = "stopped early", self.epoch
        return self.result

    def _epoch(self) -> dict[str, Any] | None:
        """One epoch from the current position: its summary, or None when a signal stopped
        it (``last`` saved at the batch reached)."""
        c = self.config
        stats = EpochStats(**self.state["stats"]) if self.state.get("stats") else EpochStats()
        self.progress.start(self.epoch + 1, self.total, self.start)
        snap = ckpt_io.capture(c, self.net, self.opt, self.epoch, self.start, {})  # NaN replay
        try:
            return train_epoch(
                self.net,
                self.opt,
                self.train_data,
                c.batch_size,
                c.grad,
                c.seed,
                self.epoch,
                self._on_batch,
                start=self.start,
                stats=stats,
                drop_last=c.drop_last,
                augment=Augment.from_dict(c.augment),
                # forward/backward seconds: free on the host, a device read per batch on a GPU
                timing=self.net.backend.name == "numpy",
                comm=self.comm,
            )
        except _Stop as stop:
            self._save("last", self.epoch, stop.args[0], stats)
            self.result.status, self.result.epoch = "interrupted", self.epoch
            self.result.batch, self.result.signal = stop.args[0], self.stops.signal
            return None
        except TrainingError as exc:  # a non-finite loss or parameter
            raise self._nonfinite(exc, snap) from None
        finally:
            self.progress.end()

    def _on_batch(self, done: int, loss: float) -> None:
        self.progress.update(done, loss)
        if self.stops.requested():
            raise _Stop(done)

    def _nonfinite(self, exc: TrainingError, snap: ckpt_io.Checkpoint) -> TrainingError:
        """The error to raise: the first non-finite quantity, named by replaying the epoch."""
        what = first_nonfinite(self.config, self.net, self.opt, self.train_data, snap, self.comm)
        err = TrainingError(f"{what or exc}; stopped, {self.folder.kept()}")
        err.all_ranks = True  # type: ignore[attr-defined]  # the same batch on every rank
        return err

    def _validate(self) -> dict[str, Any]:
        if self.val_data is None:
            return {}
        t0 = time.perf_counter()
        ev = evaluate(self.net, self.val_data, comm=self.comm)
        return {
            "val_accuracy": ev["accuracy"],
            "val_loss": ev["loss"],
            "eval_s": time.perf_counter() - t0,
        }

    def _end_epoch(self, summary: dict[str, Any]) -> None:
        """Validate, record, check the ranks agree, save ``last`` (and ``best``), log."""
        opt = self.opt
        r = {"epoch": self.epoch + 1, "step": opt.step_count, "lr": opt.lr_at(opt.step_count)}
        r.update(summary, world_size=self.comm.size, **self._validate())
        score = r.get("val_accuracy", r["train_accuracy"])
        r["best"] = self.state["best"] is None or score > self.state["best"]["score"]
        if r["best"]:
            self.state["best"] = {"epoch": self.epoch + 1, "score": score}
        self.epoch, self.start, self.state["stats"] = self.epoch + 1, 0, None
        self.history.append(r)
        self.result.best, self.result.epoch = self.state["best"], self.epoch
        self.folder.append(r)
        # every rank made the same updates: check, once an epoch
        check_same(self.comm, {"parameters after the epoch": _digest(self.net.params)})
        self._save("last", self.epoch, 0, None)
        if r["best"]:
            self._save("best", self.epoch, 0, None)
        self.log(epoch_line(r))

    def _save(self, name: str, epoch: int, batch: int, stats: EpochStats | None) -> None:
        st = {"best": self.state["best"], "stats": stats.to_dict() if stats else None}
        if self.folder.path is not None:
            self.folder.save(
                name, ckpt_io.capture(self.config, self.net, self.opt, epoch, batch, st)
            )


def job_comm(config: TrainConfig, resume: str | Path | None) -> Comm:
    """The communicator of this process's job; the ranks of a launched job first check over
    MPI that they agree on the config and the resolved backend (NCCL's set-up would wait
    forever otherwise)."""
    if launched()[1] > 1:
        settings = {k: v for k, v in config.to_dict().items() if k != "data_dir"}
        backend = get_backend(config.backend).name
        check_same(
            world("numpy"), {**settings, "resolved backend": backend, "resume": bool(resume)}
        )
        return world(backend)
    return world("numpy")


def fit(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    log: Callable[[str], None] = print,
    progress: Progress | None = None,
    note: Callable[[str], None] | None = None,
    comm: Comm | None = None,
) -> RunResult:
    """Train ``config``; write the run folder ``out_dir`` (None: write nothing).

    Python warnings raised meanwhile (e.g. "layer 2 has no active neuron") are not shown raw:
    each kind goes once to ``note`` (default ``log``) as ``note: epoch N: <message>`` and is
    kept in ``RunResult.notes``.

    ``resume``: a checkpoint file or run folder (its ``last.npz``); training continues at the
    saved epoch and batch, so on one CPU the final parameters equal those of an
    uninterrupted run bit for bit. Only the settings in ``RESUMABLE`` may differ from the
    checkpoint's config. Ctrl-C or SIGTERM saves ``last`` after the current update and
    returns status "interrupted"; a non-finite loss or parameter raises TrainingError naming
    the first non-finite quantity (the loss, a gradient or a parameter, found by replaying the
    epoch) and leaves the last good checkpoint in place.

    Data-parallel (spikegrad.distributed): launched with more than one MPI rank (or given a
    ``comm``), every rank trains on its share of each global batch and makes the same update;
    configs that differ across ranks are refused; rank 0 alone logs and writes ``out_dir``;
    a stop signal on any rank stops every rank after the same update; an error on one rank
    alone prints one line naming it and aborts the job.
    """
    notes = Notes(log if note is None else note, progress)
    with warnings.catch_warnings():
        warnings.showwarning = notes.show
        comm = comm or job_comm(config, resume)
        if comm.rank != 0:
            out_dir, log, notes.note, notes.inner = None, _silent, _silent, None
        with abort_on_error(comm):
            result = Run(config, RunFolder(out_dir), resume, log, notes, comm).train()
    result.notes = notes.notes
    return result
