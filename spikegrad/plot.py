"""A one-page figure of a run: loss and accuracy curves, active fraction per layer, a raster.

Needs matplotlib (``pip install 'spikegrad[plot]'``); without it :func:`plot_run` raises a
ConfigError saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadValueError, ConfigError, DataError
from .train import checkpoint as ckpt_io
from .train.build import load_data, network_from_checkpoint
from .train.folder import read_metrics


def plot_run(run_dir: str | Path, out: str | Path | None = None, sample: int = 0) -> Path:
    """Draw ``run_dir`` into ``out`` (default ``<run_dir>/run.png``); returns the file.

    ``out`` must end in an image type matplotlib writes and lie in an existing folder, and
    ``sample`` must exist (BadValueError, before anything is computed or written).
    Panels: loss, train/validation accuracy, active fraction per layer (per epoch), and the
    input and hidden spike rasters of validation sample ``sample`` (training sample when the
    run has no validation slice) under the ``last`` checkpoint.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'spikegrad[plot]'") from None
    run_dir = Path(run_dir)
    path = Path(out) if out is not None else run_dir / "run.png"
    kinds = sorted(FigureCanvasBase.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in kinds:
        raise BadValueError("out", str(path), f"an image file ending in .{', .'.join(kinds)}")
    if not path.parent.is_dir():
        raise BadValueError("out", str(path), "a file in an existing folder")
    rows = read_metrics(run_dir)
    if not rows:
        raise DataError(f"{run_dir}: no metrics.jsonl with epochs to plot")
    ck = ckpt_io.load(ckpt_io.resolve(run_dir))
    train, val = load_data(ck.config)
    data = val if val is not None else train
    if not 0 <= sample < len(data):
        what = "validation" if val is not None else "training"
        raise BadValueError("sample", sample, f"in 0..{len(data) - 1}, a {what} sample")
    x, y = data.batch(np.array([sample]))
    net = network_from_checkpoint(ck, data.n_inputs, data.n_classes)
    spikes = [ev.to_dense(bool)[0] for ev in net.hidden_spikes(x)]

    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7.5))
    _curve(
        ax[0, 0],
        ep,
        {"train loss": [r["loss"] for r in rows], "val loss": [r.get("val_loss") for r in rows]},
        "loss",
    )
    _curve(
        ax[0, 1],
        ep,
        {
            "train": [r["train_accuracy"] for r in rows],
            "validation": [r.get("val_accuracy") for r in rows],
        },
        "accuracy",
    )
    layers = len(rows[0]["active_fraction"])
    _curve(
        ax[1, 0],
        ep,
        {f"layer {k + 1}": [r["active_fraction"][k] for r in rows] for k in range(layers)},
        "active fraction",
        log=True,
    )
    _raster(ax[1, 1], [x.to_dense()[0].astype(bool), *spikes], int(y[0]), data.class_names)
    fig.suptitle(
        f"{run_dir.name}: {ck.config.dataset}, {ck.config.grad} gradient, "
        f"hidden {'-'.join(map(str, ck.config.hidden))}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _curve(ax: Any, x: list[int], series: dict[str, list], ylabel: str, log: bool = False) -> None:
    from matplotlib.ticker import MaxNLocator

    for name, ys in series.items():
        if any(v is not None for v in ys):
            ax.plot(x, [np.nan if v is None else v for v in ys], marker="o", ms=3, label=name)
    ax.set(xlabel="epoch", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()


def _raster(ax: Any, layers: list[np.ndarray], label: int, class_names: list[str]) -> None:
    """Stack the (T, N) spike arrays of input and hidden layers; units on the y axis."""
    offset, ticks = 0, []
    for k, s in enumerate(layers):
        t, n = np.nonzero(s)
        ax.scatter(t, n + offset, s=1.5, color=f"C{k}", linewidths=0)
        ticks.append((offset + s.shape[1] / 2, "input" if k == 0 else f"hidden {k}"))
        offset += s.shape[1]
        ax.axhline(offset, color="grey", lw=0.5)
    ax.set_yticks([p for p, _ in ticks], [n for _, n in ticks])
    ax.set(
        xlabel="time step",
        xlim=(0, layers[0].shape[0]),
        ylim=(0, offset),
        title=f"spike raster of one sample (class {class_names[label]})",
    )
