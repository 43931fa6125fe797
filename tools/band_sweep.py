"""Sparse backward cost against the band B_th: ``python tools/band_sweep.py``.

The case's network (default ``shd-recurrent``: 700-200r-200r-20, B = 64, T = 500; ``--case`` any
other, e.g. ``shd-recurrent-alif`` or ``shd-recurrent-cuba``, the same shape with ALIF or CuBa
neurons) is calibrated once at the default band, as in the CPU report; then for each B_th (the
forward and the weights are unchanged, only the band, hence the active set, grows) the sparse and
dense gradients are validated against each other and their backward passes timed (medians). The
dense backward's work is fixed (T*B*N_in*N feed-forward, T*B*N*N recurrent products), so its time
stays flat; the sparse backward's grows with the number A of active entries. A least squares line
``sparse backward = c0 + c1 * A`` over the bands, with its largest relative residual, says how well
A alone explains the sparse cost.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from spikegrad.bench import machine, report
from spikegrad.bench.cases import (
    CASES,
    Case,
    build_network,
    calibrate,
    case_fields,
    grad_err,
    make_inputs,
)
from spikegrad.bench.timing import WallClock, device_sync, time_mode
from spikegrad.spikes import as_spike_matrix

BANDS = (0.05, 0.1, 0.2, 0.4, 0.8)


def sweep(
    case: Case, bands: tuple[float, ...] = BANDS, backend: str = "numpy", repeats: int = 5
) -> dict[str, Any]:
    """Calibrate ``case`` at the default band, then validate and time both backward passes at
    each band. Returns the case fields, ``calibrated_active`` (per layer, at the default band),
    ``rows`` (one dict per band: b_th, active_fraction per layer, n_active = A summed over the
    layers, sparse_vs_dense_rel_err, {dense,sparse}_backward_s, {dense,sparse}_retained_bytes)
    and ``fit`` (c0_s, c1_s_per_entry, max_rel_residual; None with fewer than 2 bands)."""
    x, y = make_inputs(case)
    calibrated_net = build_network(case, backend)
    calibrated = calibrate(calibrated_net, x, y, case.target_active, r_gain=case.r_gain)
    clock = WallClock(device_sync(calibrated_net))
    xm = as_spike_matrix(calibrated_net.backend.xp, x, case.sizes[0])
    rows = []
    for b_th in bands:
        net = build_network(case, backend, b_th=b_th)
        net.params = calibrated_net.params
        _, gd, _ = net.loss_and_grad(x, y, mode="dense")
        _, gs, st = net.loss_and_grad(x, y, mode="sparse")
        row: dict[str, Any] = {
            "b_th": b_th,
            "active_fraction": list(st["active_fraction"]),
            "n_active": int(sum(st["n_active"])),
            "sparse_vs_dense_rel_err": grad_err(gs, gd),
        }
        for mode in ("dense", "sparse"):
            t = time_mode(net, xm, y, mode, clock, 1, repeats)
            row[f"{mode}_backward_s"] = t["backward_s"]
            row[f"{mode}_retained_bytes"] = t["retained_bytes"]
        rows.append(row)
    return {
        **case_fields(case, calibrated_net),
        "calibrated_b_th": calibrated_net.b_th,
        "calibrated_active": calibrated,
        "rows": rows,
        "fit": fit_line([r["n_active"] for r in rows], [r["sparse_backward_s"] for r in rows]),
    }


def fit_line(a: list[int], s: list[float]) -> dict[str, float] | None:
    """Least squares ``s = c0 + c1 * a`` and its largest residual relative to ``s``; None
    when fewer than two distinct ``a``."""
    if len(set(a)) < 2:
        return None
    c1, c0 = np.polyfit(np.asarray(a, dtype=np.float64), np.asarray(s, dtype=np.float64), 1)
    res = max(abs(c0 + c1 * ai - si) / si for ai, si in zip(a, s, strict=True))
    return {"c0_s": float(c0), "c1_s_per_entry": float(c1), "max_rel_residual": float(res)}


def format_sweep(r: dict[str, Any]) -> str:
    """The sweep as a plain-text table, then the fit and the dense backward's spread."""
    act = " / ".join(f"{a:.2%}" for a in r["calibrated_active"])
    kind = f" {r['neuron']}" if r.get("neuron", "lif") != "lif" else ""  # LIF unsaid
    lines = [
        *machine.header(),
        f"band sweep: {r['case']}  {r['shape']}{kind}  B={r['B']} T={r['T']}  "
        f"backend={r['backend']} {r['dtype']}",
        f"  weights calibrated at B_th = {r['calibrated_b_th']:g} (active {act}); only the "
        "band changes below",
        f"  {'B_th':>6s}{'active per layer':>22s}{'active entries':>16s}{'sparse bwd ms':>15s}"
        f"{'dense bwd ms':>14s}{'dense/sparse':>14s}{'sparse kept MB':>16s}{'grad rel err':>14s}",
    ]
    for row in r["rows"]:
        a = " / ".join(f"{f:.2%}" for f in row["active_fraction"])
        sp, de = row["sparse_backward_s"], row["dense_backward_s"]
        lines.append(
            f"  {row['b_th']:6g}{a:>22s}{row['n_active']:16d}{sp * 1e3:15.1f}{de * 1e3:14.1f}"
            f"{de / sp:13.1f}x{row['sparse_retained_bytes'] / report.MB:16.2f}"
            f"{row['sparse_vs_dense_rel_err']:14.1e}"
        )
    if (f := r["fit"]) is not None:
        lines.append(
            f"  sparse backward ~ {f['c0_s'] * 1e3:.1f} ms + {f['c1_s_per_entry'] * 1e9:.1f} ns x "
            f"active entries (least squares over the bands; largest residual "
            f"{f['max_rel_residual']:.0%})"
        )
    dense = [row["dense_backward_s"] * 1e3 for row in r["rows"]]
    if dense:
        lines.append(
            f"  dense backward {min(dense):.1f} - {max(dense):.1f} ms at every band (its work, "
            "T*B*N_in*N + T*B*N*N, does not depend on the band)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python tools/band_sweep.py [--case NAME] [--band B ...] [--json FILE]``."""
    ap = argparse.ArgumentParser(
        prog="python tools/band_sweep.py", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument("--case", default="shd-recurrent", choices=sorted(CASES))
    ap.add_argument(
        "--band",
        action="append",
        type=float,
        metavar="B_TH",
        help=f"repeatable; default {' '.join(map(str, BANDS))}",
    )
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "auto"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    a = ap.parse_args(argv)
    bands = tuple(a.band or BANDS)
    if not all(b > 0 for b in bands):
        ap.error(f"--band must be > 0; got {', '.join(map(str, bands))}")
    if a.repeats < 1:
        ap.error(f"--repeats must be >= 1; got {a.repeats}")
    r = sweep(CASES[a.case], bands, a.backend, a.repeats)
    print(format_sweep(r))
    if a.json:
        report.write_json(a.json, [r], report.machine_info())


if __name__ == "__main__":
    main()
