"""After a non-finite loss or parameter: replay the epoch to name the first non-finite
quantity (the loss, a gradient, or a parameter after the update)."""

from __future__ import annotations

from typing import Any

from ..datasets.base import EventDataset
from ..distributed import Comm
from ..network import Network
from ..optim import Adam
from . import checkpoint as ckpt_io
from .config import TrainConfig
from .loop import batch_len, batches, step


def _bad(xp: Any, a: Any) -> bool:
    return not bool(xp.isfinite(a).all())


def first_nonfinite(
    config: TrainConfig,
    net: Network,
    opt: Adam,
    data: EventDataset,
    snap: ckpt_io.Checkpoint,
    comm: Comm,
) -> str | None:
    """Replay the epoch of ``snap`` batch by batch from that state (same order, same
    :func:`~.loop.step`, on every rank of ``comm``); name the first non-finite quantity.
    None when the replay meets none."""
    ckpt_io.restore(snap, net, opt)
    xp, epoch, bs = net.backend.xp, snap.epoch, config.batch_size
    kw = {"drop_last": config.drop_last, "start": snap.batch, "backend": net.backend}
    with batches(data, bs, config.seed, epoch, comm, **kw) as each:
        for done, (x, y) in enumerate(each, start=snap.batch + 1):
            at = f"epoch {epoch + 1}, batch {done}"
            r = step(net, x, y, config.grad, comm, batch_len(len(data), bs, done))
            if _bad(xp, r.loss):
                return f"non-finite loss ({float(r.loss)}) at {at}"
            for k, g in r.grads.items():
                if _bad(xp, g):
                    return f"non-finite gradient of {k} at {at} (loss {float(r.loss):.6g})"
            opt.step(r.grads)
            for k, p in net.params.items():
                if _bad(xp, p):
                    return (
                        f"parameter {k} became non-finite in the update at {at} (loss "
                        f"{float(r.loss):.6g} and every gradient finite; lr {config.lr:g})"
                    )
    return None
