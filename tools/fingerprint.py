"""Bit fingerprints of the engine's results, to show a refactor changes no number.

Prints one line per case: a SHA-256 (first 16 hex digits) of the forward scores, the loss and
every gradient, for feed-forward and recurrent stacks, both gradient modes, every readout,
regulariser on and off, float32 and float64, per-neuron alpha, native kernels on and off.

    python tools/fingerprint.py > before.txt      # on the old code
    python tools/fingerprint.py | diff before.txt -   # on the new code: no output = same bits
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np

import spikegrad as sg
from spikegrad import native


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(sg.backend.to_numpy(a))
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()[:16]


def _case(dtype: str, recurrent, readout: str, reg, mode: str, alpha) -> str:
    rng = np.random.default_rng(7)
    B, T, sizes = 6, 40, [30, 24, 18, 5]
    x = rng.random((B, T, sizes[0])) < 0.08
    y = rng.integers(0, sizes[-1], B)
    net = sg.Network(
        sizes,
        recurrent=recurrent,
        alpha=alpha,
        readout=readout,
        reg=reg,
        init="normal",
        dtype=dtype,
        b_th=0.4,
        seed=3,
    )
    for w in net.params.values():  # scale so that every layer is active
        w *= 3.0
    scores = net.forward(x)
    loss, grads, _ = net.loss_and_grad(x, y, mode=mode)
    return _digest(scores, np.asarray(loss), *(grads[k] for k in sorted(grads)))


def main() -> None:
    alphas = {"scalar": 0.9, "per-neuron": [np.linspace(0.8, 0.95, 24), 0.9]}
    for kernels, dtype, rec, readout, reg, mode, akey in itertools.product(
        ("auto", "0"),
        ("float32", "float64"),
        (False, [True, False]),
        ("max", "sum", "last"),
        (None, {}),
        ("sparse", "dense"),
        tuple(alphas),
    ):
        with native.mode(kernels):
            d = _case(dtype, rec, readout, reg, mode, alphas[akey])
        print(
            f"native={kernels} {dtype} rec={rec} {readout} reg={reg is not None} {mode} "
            f"alpha={akey}: {d}"
        )


if __name__ == "__main__":
    main()
