"""Does loading dominate training? Binning 256 SHD-sized samples against one training step.

Writes a synthetic SHD-like HDF5 file (700 channels, ~1 s per sample, a few thousand spikes per
sample, the real layout) to a temporary folder, then times on this machine:

1. decode + bin: read the 256-sample file with the SHD reader and bin it (dt 2 ms, T 500);
2. bin only: the binning step on arrays already in memory;
3. batch gather: one batch of 256 from the decoded dataset (the per-step cost once cached);
4. batch preparation (median of --prep-repeats runs): the engine's spike matrix of that batch,
   old (sort the time-major keys of its events, as every step did before) against new
   (``batch_matrix``: O(E) placement of the (t, i)-ordered samples, no sort), and the
   SpikeEvents input path of today (order detected, then placed);
5. one training step: loss_and_grad + Adam of a 700-200-200-20 network, B = 256, T = 500,
   sparse and dense.

Usage: python tools/bench_loading.py [--repeats 3] [--prep-repeats 15] [--seed 0]
       [--init uniform|normal] [--no-step]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

import spikegrad as sg
from spikegrad.bench import machine
from spikegrad.datasets.binning import bin_events
from spikegrad.datasets.shd import load_shd, read_shd
from spikegrad.spikes import SpikeEvents, SpikeMatrix, as_spike_matrix, spike_matrix_from_keys


def write_shd_like(path: Path, n: int, rng: np.random.Generator) -> int:
    """n samples: 2,000-9,000 spikes each in bands of channels, times in [0, 1.1) s."""
    times = h5py.vlen_dtype(np.dtype(np.float16))
    units = h5py.vlen_dtype(np.dtype(np.uint16))
    total = 0
    with h5py.File(path, "w") as f:
        ts = f.create_dataset("spikes/times", (n,), dtype=times)
        us = f.create_dataset("spikes/units", (n,), dtype=units)
        for k in range(n):
            m = int(rng.integers(2000, 9000))
            centre = rng.uniform(100, 600, 4)
            ts[k] = np.sort(rng.uniform(0.02, 1.1, m)).astype(np.float16)
            us[k] = np.clip(rng.normal(centre[rng.integers(0, 4, m)], 60), 0, 699).astype(np.uint16)
            total += m
        f.create_dataset("labels", data=rng.integers(0, 20, n).astype(np.uint8))
    return total


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def sort_prepare(x: SpikeEvents) -> SpikeMatrix:
    """The former per-step conversion of a batch's events: sort flat keys, drop repeats."""
    B, T, N = x.shape
    keys = np.sort((x.t * B + x.b) * N + x.i)
    if keys.size > 1:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return spike_matrix_from_keys(np, keys, T, B, N)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prep-repeats", type=int, default=15)
    ap.add_argument("--no-step", action="store_true", help="skip the training steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--init", choices=["uniform", "normal"], default="uniform", help="paper: uniform"
    )
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # "no active neuron" at initialisation
    rng = np.random.default_rng(args.seed)
    B, T, dt = 256, 500, 2e-3
    print("\n".join(machine.header()))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spikes = write_shd_like(folder / "shd_train.h5", B, rng)
        print(
            f"synthetic SHD-like file: {B} samples, {spikes / B:.0f} spikes per sample on average"
        )
        raw = read_shd(folder / "shd_train.h5")

        def decode_and_bin():
            r = read_shd(folder / "shd_train.h5")
            bin_events(r["times"], r["units"], r["offsets"], dt, T, 700)

        t_read = best(decode_and_bin, args.repeats)
        t_bin = best(
            lambda: bin_events(raw["times"], raw["units"], raw["offsets"], dt, T, 700), args.repeats
        )
        ds = load_shd(folder, "train", dt, T, cache=False)
        idx = np.arange(B)
        t_gather = best(lambda: ds.batch(idx), args.repeats)
        x, y = ds.batch(idx)
        print(f"binned events per sample: {ds.events_per_sample.mean():.0f}")
        print(f"decode + bin {B} samples from HDF5 : {1e3 * t_read:8.1f} ms")
        print(f"bin only {B} samples               : {1e3 * t_bin:8.1f} ms")
        print(f"batch gather {B} (cached dataset)  : {1e3 * t_gather:8.1f} ms")
        new, _ = ds.batch_matrix(idx)
        old = sort_prepare(x)
        assert np.array_equal(new.indptr, old.indptr) and np.array_equal(new.indices, old.indices)
        r = args.prep_repeats
        t_old = median(lambda: sort_prepare(ds.batch(idx)[0]), r)
        t_new = median(lambda: ds.batch_matrix(idx), r)
        t_events = median(lambda: as_spike_matrix(np, ds.batch(idx)[0], 700), r)
        print(f"batch preparation, {new.nnz} events, median of {r} (gather included):")
        print(f"  old: SpikeEvents + sort of keys         : {1e3 * t_old:8.1f} ms")
        print(f"  new: batch_matrix (O(E) placement)      : {1e3 * t_new:8.1f} ms")
        print(f"  SpikeEvents input now (order detected)  : {1e3 * t_events:8.1f} ms")
        for mode in () if args.no_step else ("sparse", "dense"):
            net = sg.Network(
                [700, 200, 200, 20],
                alpha=math.exp(-0.2),
                alpha_out=math.exp(-0.1),
                reg={"f_up": 10.0},
                init=args.init,
                seed=args.seed,
            )
            opt = sg.Adam(net.params, lr=1e-3)

            last = {}

            def step(net=net, opt=opt, mode=mode, last=last):
                _, grads, last["stats"] = net.loss_and_grad(x, y, mode=mode)
                opt.step(grads)

            step()  # warm-up
            t_step = best(step, max(1, args.repeats - 1))
            act = "/".join(f"{100 * a:.2f}" for a in last["stats"]["active_fraction"])
            print(
                f"training step {mode:6s} 700-200-200-20 B={B} T={T} ({args.init} init, active "
                f"{act} %): {1e3 * t_step:8.1f} ms; decode + bin = {100 * t_read / t_step:.1f} % "
                f"of it, bin only {100 * t_bin / t_step:.1f} %, "
                f"gather {100 * t_gather / t_step:.2f} %"
            )


if __name__ == "__main__":
    main()
