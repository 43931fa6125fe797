"""The run folder: ``config.toml`` (the full config), ``metrics.jsonl`` (one JSON line per
epoch) and the checkpoints ``last.npz`` (end of the latest epoch, or where the run was
interrupted) and ``best.npz`` (best validation accuracy; training accuracy when the run has
no validation slice). A run without a folder (``None``) writes nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checkpoint as ckpt_io
from .config import TrainConfig

CONFIG_FILE, METRICS_FILE = "config.toml", "metrics.jsonl"


def default_out_dir(dataset: str, root: str | Path = "runs") -> Path:
    """A fresh folder ``<root>/<dataset>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken)."""
    base = Path(root) / f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


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


class RunFolder:
    """Writes one run's folder ``path`` (None: writes nothing, every method a no-op)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None

    def __str__(self) -> str:
        return str(self.path)

    def refuse_overwrite(self) -> None:
        """ConfigError if the folder already holds a run (a fresh run must not mix with it)."""
        if self.path is not None and (self.path / "last.npz").exists():
            raise ConfigError(
                f"{self.path} already holds a run; resume it with --resume {self.path} or "
                "pick another --out"
            )

    def start(self, config: TrainConfig, history: list[dict[str, Any]]) -> None:
        """Create the folder; write the config and the metrics so far (a resumed run's)."""
        if self.path is None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
        text = "".join(json.dumps(r) + "\n" for r in history)
        (self.path / METRICS_FILE).write_text(text, encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch's record to ``metrics.jsonl``."""
        if self.path is not None:
            with (self.path / METRICS_FILE).open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def save(self, name: str, ck: ckpt_io.Checkpoint) -> None:
        """Write checkpoint ``<name>.npz``."""
        if self.path is not None:
            ckpt_io.save(ck, self.path / f"{name}.npz")

    def kept(self) -> str:
        """What a failed run leaves behind: "kept <last.npz>" or "no checkpoint yet"."""
        last = self.path / "last.npz" if self.path is not None else None
        return f"kept {last}" if last is not None and last.exists() else "no checkpoint yet"
