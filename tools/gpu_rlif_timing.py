"""Time one recurrent layer on the GPU (run by tools/gpu_check.sh): rlif.cu's fused sparse
forward and sparse backward against the dense mode's xp-generic twins (cuBLAS per step).

    python tools/gpu_rlif_timing.py [--T 500] [--B 64] [--n-in 700] [--n 200] [--rate 0.02]

The SHD-like layer 700-200r, B = 64, T = 500 by default, float32. The sparse forward is first
checked against the NumPy twin (same spikes and active set, up to 1 in 10**4 entries in
float32); then each op is timed with CUDA events (median of 5 after a warm-up) and printed
with shapes, dtype and the active fraction.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("T", 500), ("B", 64), ("n-in", 700), ("n", 200)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--rate", type=float, default=0.02, help="input spike probability")
    a = p.parse_args()

    import cupy as cp

    import spikegrad  # noqa: F401  (registers the kernel ops)
    from spikegrad.backend import call, to_numpy
    from spikegrad.bench import machine
    from spikegrad.ops import rlif as rlif_twin
    from spikegrad.ops.surrogate import ActiveSet
    from spikegrad.spikes import spike_matrix_from_keys

    T, B, N_in, N = a.T, a.B, a.n_in, a.n
    dt = np.float32
    rng = np.random.default_rng(0)
    keys_in = np.flatnonzero(rng.random(T * B * N_in) < a.rate)
    x = spike_matrix_from_keys(np, keys_in, T, B, N_in)
    w = rng.normal(0.05, 0.3, (N_in, N)).astype(dt)
    r = rng.normal(0.0, 1.0 / np.sqrt(N), (N, N)).astype(dt)
    alpha = rng.uniform(0.9, 0.99, N)
    theta, beta_s, b_th = 1.0, 10.0, 0.3
    xc = spike_matrix_from_keys(cp, cp.asarray(keys_in), T, B, N_in)
    wc, rc = cp.asarray(w), cp.asarray(r)

    def fwd():
        return call(
            "rlif_forward_sparse_spikes",
            xc.indptr,
            xc.indices,
            wc,
            rc,
            alpha,
            theta,
            beta_s,
            b_th,
            (T, B),
        )

    keys, act = fwd()
    keys_ref, act_ref = rlif_twin.rlif_forward_sparse_spikes(
        x.indptr, x.indices, w, r, alpha, theta, beta_s, b_th, (T, B)
    )
    bad = np.setxor1d(to_numpy(keys), keys_ref).size
    bad += np.setxor1d(to_numpy(act.idx), act_ref.idx).size
    assert bad <= 1e-4 * max(act_ref.idx.size, 1), f"{bad} entries differ from the twin"
    s = spike_matrix_from_keys(cp, keys, T, B, N)
    g = cp.asarray(rng.normal(size=act.idx.size).astype(dt))
    prev = ActiveSet(xc.rows() * N_in + xc.indices, cp.ones(xc.nnz, dt))

    def bwd():
        return call("rlif_backward_sparse", g, act, xc, s, wc, rc, alpha, prev, (T, B, N))

    h = xc.matmul(wc).reshape(T, B, N)
    xd, sd = xc.dense_rows(dt), s.dense_rows(dt)
    gd = cp.asarray(rng.normal(size=(T, B, N)).astype(dt))
    spd = cp.zeros(T * B * N, dt)
    spd[act.idx] = act.sp
    spd = spd.reshape(T, B, N)

    def dense_fwd():
        return call("rlif_forward", h.copy(), rc, alpha, theta)

    def dense_bwd():
        return call("rlif_backward_dense", gd, spd, xd, sd, wc, rc, alpha, True)

    frac = act.idx.size / (T * B * N)
    print("\n".join(machine.header()))
    print(
        f"rlif {N_in}-{N}r B={B} T={T} float32, alpha per neuron; input rate {a.rate}, "
        f"spikes {keys.size / (T * B * N):.4f}, active fraction {frac:.4f}"
    )
    for name, fn in (
        ("sparse forward (rlif.cu)", fwd),
        ("sparse backward (rlif.cu + dW, dR, dx)", bwd),
        ("dense forward (twin, cuBLAS per step)", dense_fwd),
        ("dense backward (twin, cuBLAS per step)", dense_bwd),
    ):
        fn()
        times = []
        for _ in range(5):
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, stop))
        print(f"  {name:42s} {np.median(times):9.2f} ms (median of 5)")


if __name__ == "__main__":
    main()
