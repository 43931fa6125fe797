"""The default training job: data, network and optimiser from one record, then epochs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .datasets import load
from .network import Network
from .optim import Adam
from .train import evaluate, train_epoch


@dataclass(frozen=True)
class TrainSetup:
    """Everything the default job needs: the synthetic Randman task and a 2-layer SNN."""

    epochs: int = 12
    mode: str = "sparse"
    b_th: float = 0.2
    backend: str = "numpy"
    seed: int = 0
    hidden: tuple[int, ...] = (128, 128)
    batch_size: int = 64
    lr: float = 5e-3
    task: dict = field(
        default_factory=lambda: {"n_samples": 3000, "n_inputs": 100, "T": 50, "n_classes": 10, "dim": 2, "jitter": 2.0}
    )

    def describe(self) -> str:
        return (
            f"task synthetic {self.task} | net {self.task['n_inputs']}-"
            f"{'-'.join(map(str, self.hidden))}-{self.task['n_classes']} | grad {self.mode} "
            f"b_th {self.b_th} | lr {self.lr} batch {self.batch_size} | backend {self.backend}"
        )


def run_training(setup: TrainSetup, log: Callable[[str], None] = print) -> list[dict]:
    """Train ``setup``; log one line per epoch; return the per-epoch metrics."""
    task = dict(setup.task)
    train = load("synthetic", split="train", seed=setup.seed, **task)
    val = load("synthetic", split="test", seed=setup.seed, **{**task, "n_samples": task["n_samples"] // 3})
    net = Network(
        [train.n_inputs, *setup.hidden, train.n_classes], b_th=setup.b_th, init="normal",
        reg={}, backend=setup.backend, seed=setup.seed,
    )
    opt = Adam(net.params, lr=setup.lr)
    history = []
    for epoch in range(setup.epochs):
        r = train_epoch(net, opt, train, setup.batch_size, setup.mode, setup.seed, epoch)
        r["val_accuracy"] = evaluate(net, val)["accuracy"]
        history.append(r)
        act = " ".join(f"{a:.2%}" for a in r["active_fraction"])
        log(
            f"epoch {epoch + 1:3d}  loss {r['loss']:.4f}  train acc {r['train_accuracy']:.2%}  "
            f"val acc {r['val_accuracy']:.2%}  active {act}  time {r['epoch_s']:.1f}s"
        )
    return history
