"""Runs: data and network from a TrainConfig, epochs with checkpoints and metrics, evaluation.

A run folder holds ``config.toml`` (the full config), ``metrics.jsonl`` (one JSON line per
epoch) and the checkpoints ``last.npz`` (end of the latest epoch, or where the run was
interrupted) and ``best.npz`` (best validation accuracy; training accuracy when the run has
no validation slice).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import checkpoint as ckpt_io
from . import modelfile
from .backend import cupy_available, to_numpy
from .config import TrainConfig, layer_sizes, preset
from .datasets import load
from .datasets.base import EventDataset
from .datasets.batching import prefetch
from .distributed import (
    MPIComm,
    abort_on_error,
    check_same,
    launched,
    shard,
    together,
    world,
)
from .errors import BadValueError, ConfigError, TrainingError
from .network import Network
from .neuron import heterogeneous_alpha
from .npzfile import file_format
from .optim import Adam, LRSchedule
from .train import (
    EpochStats,
    batch_len,
    data_parallel_step,
    epoch_seed,
    evaluate,
    n_batches,
    train_epoch,
)

CONFIG_FILE, METRICS_FILE = "config.toml", "metrics.jsonl"
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


# --------------------------------------------------------------------------- building blocks
def resolve_backend(name: str) -> str:
    """ "auto" -> "cupy" when a usable GPU is present, else "numpy"."""
    return ("cupy" if cupy_available() else "numpy") if name == "auto" else name


def load_data(
    config: TrainConfig, split: str = "train"
) -> tuple[EventDataset, EventDataset | None]:
    """(train, validation) for split "train"; (test, None) for "test".

    Training data: the data set's training split, a seeded random ``limit`` of it, then a
    seeded validation slice. Every split is encoded with the same ``config.encoding``.
    """
    root = config.data_dir or None
    if split == "test":
        return load(config.dataset, root=root, split="test", **config.encoding), None
    data = load(config.dataset, root=root, split="train", **config.encoding)
    if config.limit and config.limit < len(data):
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
        data = data.subset(np.sort(rng.permutation(len(data))[: config.limit]))
    if config.val_fraction == 0:
        return data, None
    if config.val_speaker:
        from .datasets.fsdd import speaker_split

        return speaker_split(data, config.val_speaker)
    train, val = data.split(config.val_fraction, seed=config.seed)
    return train, val


def draw_alphas(config: TrainConfig) -> float | list[np.ndarray]:
    """The hidden layers' decay: ``config.alpha``, or with ``tau_mem_spread`` > 0 one array of
    per-neuron alphas per hidden layer, drawn from the run's seed (a stream of its own: the
    weights' initial values do not change). Shapes: -> float or [(N_l,) float64]."""
    if not config.tau_mem_spread:
        return config.alpha
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    return [
        heterogeneous_alpha(config.tau_mem, config.tau_mem_spread, config.dt, n, rng)
        for n in config.hidden
    ]


def build_network(
    config: TrainConfig,
    n_inputs: int,
    n_classes: int,
    alphas: list[float | np.ndarray] | None = None,
) -> Network:
    """The network of ``config`` for data with ``n_inputs`` units and ``n_classes`` classes;
    ``alphas`` (one float or (N_l,) array per hidden layer, e.g. a checkpoint's) replaces
    the alphas drawn from ``config`` (:func:`draw_alphas`)."""
    return Network(
        [n_inputs, *config.hidden, n_classes],
        alpha=draw_alphas(config) if alphas is None else alphas,
        recurrent=list(config.recurrent_layers),
        alpha_out=config.alpha_out,
        threshold=config.threshold,
        b_th=config.b_th,
        surrogate_scale=config.surrogate_scale,
        readout=config.readout,
        reg=config.reg,
        init=config.init,
        dtype=config.dtype,
        backend=resolve_backend(config.backend),
        seed=config.seed,
    )


def network_from_checkpoint(ck: ckpt_io.Checkpoint, n_inputs: int, n_classes: int) -> Network:
    """The network of checkpoint ``ck`` (its config and saved alphas) holding its parameters."""
    net = build_network(ck.config, n_inputs, n_classes, ck.alphas)
    ckpt_io.restore(ck, net)
    return net


def make_optimizer(config: TrainConfig, net: Network, steps_per_epoch: int) -> Adam:
    """Adam over ``net.params`` with the config's schedule, weight decay and clipping; the
    schedule is a function of Adam's step count, so it resumes with the checkpoint."""
    schedule = LRSchedule(
        config.lr,
        config.lr_schedule,
        steps_per_epoch,
        config.epochs * steps_per_epoch,
        config.lr_step_epochs,
        config.lr_gamma,
        config.lr_min,
        config.warmup_epochs * steps_per_epoch,
    )
    return Adam(
        net.params,
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
        schedule=schedule,
        max_grad_norm=config.clip_grad_norm,
    )


def resume_config(resume: str | Path, **changes: Any) -> tuple[TrainConfig, Path]:
    """The saved config of checkpoint (or run folder) ``resume`` with ``changes`` (only the
    ``RESUMABLE`` settings), and the run folder it belongs to."""
    ck = ckpt_io.load(ckpt_io.resolve(resume))
    cfg = ck.config.replace(**changes)
    _check_resume(cfg, ck)
    return cfg, ck.path.parent


def default_out_dir(dataset: str, root: str | Path = "runs") -> Path:
    """A fresh folder ``<root>/<dataset>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken)."""
    base = Path(root) / f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


STOP_SIGNALS = ("SIGINT", "SIGTERM")  # Ctrl-C, and what cluster schedulers send before a kill


@contextlib.contextmanager
def _deferred_signals() -> Iterator[dict[str, Any]]:
    """While active, Ctrl-C (SIGINT) or SIGTERM only sets ``flag["stop"]`` and records the
    signal number in ``flag["signal"]``; a second one interrupts at once (KeyboardInterrupt)."""
    flag: dict[str, Any] = {"stop": False, "signal": 0}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"], flag["signal"] = True, signum

    sigs = [getattr(signal, n) for n in STOP_SIGNALS if hasattr(signal, n)]
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _Stop(Exception):
    """Raised from the batch hook to end the epoch early (Ctrl-C)."""


def _check_resume(config: TrainConfig, ck: ckpt_io.Checkpoint) -> None:
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


def _digest(params: dict[str, Any]) -> str:
    """A hash of the parameter values (their bytes, on the host)."""
    h = hashlib.sha256()
    for k in sorted(params):
        h.update(k.encode())
        h.update(np.ascontiguousarray(to_numpy(params[k])).tobytes())
    return h.hexdigest()


def _patience_spent(config: TrainConfig, best: dict[str, Any] | None, epoch: int) -> bool:
    """Early stopping: ``patience`` epochs done since the best score (also when resuming)."""
    return bool(config.patience and best and epoch - best["epoch"] >= config.patience)


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


def _write_metrics(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run folder (``metrics.jsonl``)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def epoch_line(r: dict[str, Any]) -> str:
    """One human line for an epoch record."""
    act = " ".join(f"{a:.2%}" for a in r["active_fraction"])
    val = f"  val acc {r['val_accuracy']:.2%}" if r.get("val_accuracy") is not None else ""
    return (
        f"epoch {r['epoch']:3d}  loss {r['loss']:.4f}  train acc {r['train_accuracy']:.2%}{val}"
        f"  active {act}  time {r['epoch_s']:.1f}s{'  *best' if r.get('best') else ''}"
    )


class _Notes:
    """Python warnings as short notes: once per kind (category and message), with the epoch."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self.note, self.epoch = note, 0
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


class _EpochTracking:
    """A :class:`Progress` that tells ``notes`` the running epoch, then forwards to ``inner``."""

    def __init__(self, inner: Progress | None, notes: _Notes) -> None:
        self.inner, self.notes = inner, notes

    def start(self, epoch: int, total: int, done: int) -> None:
        self.notes.epoch = epoch
        if self.inner is not None:
            self.inner.start(epoch, total, done)

    def update(self, done: int, loss: float) -> None:
        if self.inner is not None:
            self.inner.update(done, loss)

    def end(self) -> None:
        if self.inner is not None:
            self.inner.end()


def _first_nonfinite(
    config: TrainConfig,
    net: Network,
    opt: Adam,
    data: EventDataset,
    snap: ckpt_io.Checkpoint,
    comm: MPIComm | None = None,
) -> str | None:
    """Replay the epoch of ``snap`` batch by batch (same order, same arithmetic, on every
    rank of ``comm``) from that state; name the first non-finite quantity: the loss, a
    gradient, or a parameter after the update. None when the replay meets none."""
    ckpt_io.restore(snap, net, opt)
    xp, epoch, bs = net.backend.xp, snap.epoch, config.batch_size
    bad = lambda a: not bool(xp.isfinite(a).all())  # noqa: E731
    seed = epoch_seed(config.seed, epoch)
    kw = {"drop_last": config.drop_last, "start": snap.batch, "backend": net.backend}
    if comm is not None:
        kw["part"] = lambda n: shard(n, comm.rank, comm.size)
    with prefetch(data, bs, seed, **kw) as batches:
        for done, (x, y) in enumerate(batches, start=snap.batch + 1):
            at = f"epoch {epoch + 1}, batch {done}"
            if comm is None:
                loss, grads, _ = net.loss_and_grad(x, y, mode=config.grad)
            else:  # loss and gradients of the global batch: the same on every rank
                n = batch_len(len(data), bs, done)
                loss, grads, *_ = data_parallel_step(net, x, y, config.grad, {}, comm, n)
            if bad(loss):
                return f"non-finite loss ({float(loss)}) at {at}"
            for k in grads:
                if bad(grads[k]):
                    return f"non-finite gradient of {k} at {at} (loss {float(loss):.6g})"
            opt.step(grads)
            for k in net.params:
                if bad(net.params[k]):
                    return (
                        f"parameter {k} became non-finite in the update at {at} (loss "
                        f"{float(loss):.6g} and every gradient finite; lr {config.lr:g})"
                    )
    return None


# ------------------------------------------------------------------------------------ fit
def fit(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    log: Callable[[str], None] = print,
    progress: Progress | None = None,
    note: Callable[[str], None] | None = None,
    comm: MPIComm | None = None,
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
    if comm is None and launched()[1] > 1:
        backend, mpi = resolve_backend(config.backend), world("numpy")
        settings = {k: v for k, v in config.to_dict().items() if k != "data_dir"}
        check_same(mpi, {**settings, "resolved backend": backend, "resume": bool(resume)})
        comm = world(backend)
    if comm is not None and comm.rank != 0:
        out_dir, log, progress, note = None, lambda s: None, None, lambda s: None
    notes = _Notes(log if note is None else note)
    with abort_on_error(comm), warnings.catch_warnings():
        warnings.showwarning = notes.show
        result = _fit(config, out_dir, resume, log, _EpochTracking(progress, notes), comm)
    result.notes = notes.notes
    return result


def _fit(
    config: TrainConfig,
    out_dir: str | Path | None,
    resume: str | Path | None,
    log: Callable[[str], None],
    progress: Progress | None,
    comm: MPIComm | None,
) -> RunResult:
    """:func:`fit` without the handling of warnings and the choice of the communicator."""
    out = Path(out_dir) if out_dir is not None else None
    with together(comm):  # a failure on any rank here is a failure of every rank
        saved = ckpt_io.load(ckpt_io.resolve(resume)) if resume is not None else None
        if saved is not None:
            _check_resume(config, saved)
        if out is not None and saved is None and (out / "last.npz").exists():
            raise ConfigError(
                f"{out} already holds a run; resume it with --resume {out} or pick another --out"
            )
        train, val = load_data(config)
        _check_updates(config, len(train))
        net = build_network(
            config, train.n_inputs, train.n_classes, saved.alphas if saved is not None else None
        )
        total = n_batches(len(train), config.batch_size, config.drop_last)
        opt = make_optimizer(config, net, total)
        epoch, start, state = 0, 0, {"best": None, "stats": None}
        history: list[dict[str, Any]] = []
        if saved is not None:
            ckpt_io.restore(saved, net, opt)
            epoch, start, state = saved.epoch, saved.batch, saved.state
            history = [r for r in read_metrics(saved.path.parent) if r["epoch"] <= epoch]
    if comm is not None:  # the same state everywhere: also a resume with another rank count
        check_same(comm, {"position": (epoch, start, opt.step_count), "state": state})
    log(config.describe())
    log(f"run folder {out}" if out is not None else "no run folder: nothing is saved")
    ranks = f" x {comm.size} ranks (data-parallel)" if comm is not None else ""
    log(
        f"{len(train)} training samples, {len(val) if val else 0} validation; network "
        f"{net.sizes[0]}-{layer_sizes(config.hidden, config.recurrent_layers)}-{net.sizes[-1]} "
        f"on {net.backend.name}{ranks}"
    )
    if saved is not None:
        log(f"resumed from {saved.path} at epoch {epoch + 1}, batch {start}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
        _write_metrics(out / METRICS_FILE, history)

    def save(name: str, ep: int, batch: int, stats: EpochStats | None) -> None:
        if out is not None:
            st = {"best": state["best"], "stats": stats.to_dict() if stats else None}
            ckpt_io.save(ckpt_io.capture(config, net, opt, ep, batch, st), out / f"{name}.npz")

    result = RunResult("finished", out, history, state["best"])
    with _deferred_signals() as flag:

        def stop_requested() -> bool:
            """A stop signal here or, in a data-parallel run, on any rank (then every rank
            stops at the same update; a note names the rank)."""
            if comm is None:
                return flag["stop"]
            got = comm.flagged(flag["signal"] if flag["stop"] else 0)
            if got and not flag.get("told"):
                signum = next(iter(got.values()))
                flag.update(stop=True, signal=signum, told=True)
                who = f"rank{'s' * (len(got) > 1)} {', '.join(map(str, got))}"
                name = signal.Signals(signum).name
                warnings.warn(f"{who} got {name}: every rank stops", stacklevel=1)
            return bool(got)

        while epoch < config.epochs:
            if _patience_spent(config, state["best"], epoch):
                what, n = "val" if val is not None else "train", epoch - state["best"]["epoch"]
                log(
                    f"early stop: no better {what} accuracy in {n} epoch{'s' * (n != 1)} "
                    f"(patience {config.patience}); best {state['best']['score']:.2%} "
                    f"at epoch {state['best']['epoch']}"
                )
                result.status, result.epoch = "stopped early", epoch
                break
            stats = EpochStats(**state["stats"]) if state.get("stats") else EpochStats()

            def on_batch(done: int, loss: float) -> None:
                if progress is not None:
                    progress.update(done, loss)
                if stop_requested():
                    raise _Stop(done)

            if progress is not None:
                progress.start(epoch + 1, total, start)
            snap = ckpt_io.capture(config, net, opt, epoch, start, {})  # named NaN stops
            try:
                r = train_epoch(
                    net,
                    opt,
                    train,
                    config.batch_size,
                    config.grad,
                    config.seed,
                    epoch,
                    on_batch,
                    start=start,
                    stats=stats,
                    drop_last=config.drop_last,
                    # forward/backward seconds: free on the host, a device read per batch on a GPU
                    timing=net.backend.name == "numpy",
                    comm=comm,
                )
            except _Stop as stop:
                save("last", epoch, stop.args[0], stats)
                result.status, result.epoch, result.batch = "interrupted", epoch, stop.args[0]
                result.signal = flag["signal"]
                return result
            except TrainingError as exc:  # a non-finite loss or parameter
                last = out / "last.npz" if out is not None else None
                where = f"kept {last}" if last and last.exists() else "no checkpoint yet"
                what = _first_nonfinite(config, net, opt, train, snap, comm) or str(exc)
                err = TrainingError(f"{what}; stopped, {where}")
                err.all_ranks = True  # the same batch on every rank: no abort
                raise err from None
            finally:
                if progress is not None:
                    progress.end()
            r = {"epoch": epoch + 1, "step": opt.step_count, "lr": opt.lr_at(opt.step_count), **r}
            r["world_size"] = comm.size if comm is not None else 1
            if val is not None:
                t0 = time.perf_counter()
                ev = evaluate(net, val, **({} if comm is None else {"comm": comm}))
                r.update(
                    val_accuracy=ev["accuracy"],
                    val_loss=ev["loss"],
                    eval_s=time.perf_counter() - t0,
                )
            score = r.get("val_accuracy", r["train_accuracy"])
            r["best"] = state["best"] is None or score > state["best"]["score"]
            if r["best"]:
                state["best"] = {"epoch": epoch + 1, "score": score}
            epoch, start, state["stats"] = epoch + 1, 0, None
            history.append(r)
            result.best, result.epoch = state["best"], epoch
            if out is not None:
                with (out / METRICS_FILE).open("a", encoding="utf-8") as f:
                    f.write(json.dumps(r) + "\n")
            if comm is not None:  # every rank made the same updates: check, once an epoch
                check_same(comm, {"parameters after the epoch": _digest(net.params)})
            save("last", epoch, 0, None)
            if r["best"]:
                save("best", epoch, 0, None)
            log(epoch_line(r))
            if stop_requested():
                result.status, result.signal = "interrupted", flag["signal"]
                return result
    return result


def evaluate_run(
    path: str | Path,
    split: str = "test",
    dataset: str | None = None,
    data_dir: str | None = None,
    limit: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Evaluate a checkpoint (a run folder means its ``best.npz``, else ``last.npz``) or a
    model file (:mod:`spikegrad.modelfile`).

    ``split``: "test" (the data set's test split), "train" or "val" (the training and
    validation parts exactly as in training). Inputs are encoded with the run's saved
    ``encoding`` (a model file without its run's config needs ``dataset``: its preset);
    ``dataset`` evaluates on another data set (with its preset encoding).
    ``limit`` > 0 evaluates only the first ``limit`` samples. Launched with several MPI
    ranks, each evaluates its share and every rank returns the whole result.
    """
    if split not in ("test", "train", "val"):
        raise ConfigError(f"split must be test, train or val; got {split!r}")
    file = ckpt_io.resolve(path, prefer=("best", "last"))
    if file_format(file) == modelfile.FORMAT:
        ck, cfg = None, modelfile.run_config(file)
        if cfg is None and dataset is None:
            raise ConfigError(f"{file}: the model file holds no run config; name the --dataset")
    else:
        ck = ckpt_io.load(file)
        cfg = ck.config
    if cfg is None or dataset not in (None, cfg.dataset):
        data_cfg = preset(dataset).replace(seed=cfg.seed if cfg else 0)
    else:
        data_cfg = cfg
    if data_dir is not None:
        data_cfg = data_cfg.replace(data_dir=data_dir)
    train, val = load_data(data_cfg, "test" if split == "test" else "train")
    data = val if split == "val" else train
    if data is None:
        raise ConfigError("split 'val': this run has no validation slice (val_fraction 0)")
    if limit:
        data = data.subset(np.arange(min(limit, len(data))))
    if ck is not None:
        net = network_from_checkpoint(ck, data.n_inputs, data.n_classes)
    else:
        net = modelfile.load(file, resolve_backend(cfg.backend if cfg else "auto"))
        if (net.sizes[0], net.sizes[-1]) != (data.n_inputs, data.n_classes):
            raise ConfigError(
                f"{file}: the model takes {net.sizes[0]} inputs and has {net.sizes[-1]} "
                f"classes; {data_cfg.dataset} has {data.n_inputs} and {data.n_classes}"
            )
    comm = world("numpy")  # host reductions only; None in one process
    r = evaluate(net, data, batch_size, **({} if comm is None else {"comm": comm}))
    return {
        "checkpoint": str(file),
        "dataset": data_cfg.dataset,
        "split": split,
        "n": len(data),
        "epoch": ck.epoch if ck is not None else None,
        **r,
        "class_names": list(data.class_names),
    }
