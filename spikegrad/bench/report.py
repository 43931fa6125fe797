"""Report code shared by the CPU and GPU benchmarks: the per-case table, the ratios, JSON.

A result is a flat dict: ``{row}_{figure}`` for row in dense, sparse, torch and the peer
libraries that ran (listed in ``peers``, :mod:`.peers`) and figure in forward_s, backward_s,
step_s, retained_bytes (and peak_bytes, prepare_s where measured), plus the case's description
(case, shape, B, T, backend, dtype, active_fraction, ...).
"""

from __future__ import annotations

import json
from typing import Any

from . import limits, machine

ROWS = (("dense", "dense"), ("sparse", "sparse"))
MB = 2**20


def add_ratios(r: dict[str, Any]) -> dict[str, Any]:
    """Add the ratios of a result in place (torch and peer ones only for the rows that ran):
    ``{row}_step_vs_sparse_step`` for torch and each peer, and the fastest of them
    (``fastest_peer``, ``fastest_peer_step_vs_sparse_step``); returns r."""
    r["backward_speedup"] = r["dense_backward_s"] / r["sparse_backward_s"]
    r["step_speedup"] = r["dense_step_s"] / r["sparse_step_s"]
    r["retained_ratio"] = r["sparse_retained_bytes"] / r["dense_retained_bytes"]
    if "torch_step_s" in r:
        r["torch_backward_vs_sparse_backward"] = r["torch_backward_s"] / r["sparse_backward_s"]
    others = [row for row, _ in peer_rows(r) if f"{row}_step_s" in r]
    for row in others:
        r[f"{row}_step_vs_sparse_step"] = r[f"{row}_step_s"] / r["sparse_step_s"]
    if others:
        best = min(others, key=lambda row: r[f"{row}_step_s"])
        r["fastest_peer"] = best
        r["fastest_peer_step_vs_sparse_step"] = r[f"{best}_step_vs_sparse_step"]
    return r


def targets_met(r: dict[str, Any]) -> list[tuple[str, str, float, bool]]:
    """(key, op, bound, met) for each of ``r["targets"]`` whose ratio ``r`` holds."""
    return [
        (key, op, bound, r[key] >= bound if op == ">=" else r[key] <= bound)
        for key, op, bound in r.get("targets", [])
        if key in r
    ]


def peer_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, label) of the rows that compete with spikegrad: torch, then the peer libraries."""
    return [("torch", "torch BPTT")] + [(p["name"], p["label"]) for p in r.get("peers", [])]


def machine_line() -> str:
    """The CPU model, caches and SIMD flags, read at run time (:func:`.machine.cpu_line`)."""
    return machine.cpu_line()


def machine_info() -> dict[str, Any]:
    """The JSON form of the machine: date and command line, CPU (model, caches, SIMD)."""
    date_command, cpu = machine.header()
    return {"run": date_command, "machine": cpu, "cpu": machine.cpu_info()}


def _cell(r: dict[str, Any], key: str, width: int, scale: float, decimals: int) -> str:
    v = r.get(key)
    return f"{'':{width}s}" if v is None else f"{v * scale:{width}.{decimals}f}"


def case_block(
    r: dict[str, Any], ms_decimals: int = 1, peak: bool = False, notes: list[str] | None = None
) -> list[str]:
    """The lines of one case: header, activity (and the spike rate per half of T where
    measured), ``notes``, the table (dense, sparse, torch and peer rows: forward, backward and
    step ms, MB kept for the backward, peak MB if ``peak``), the ratios and the case's targets
    (:func:`targets_met`), then one line per peer (how its model differs), the torch variant
    and each peer that did not run."""
    act = " / ".join(f"{a:.2%}" for a in r["active_fraction"])
    cols = [
        ("forward ms", "forward_s", 12, 1e3, ms_decimals),
        ("backward ms", "backward_s", 13, 1e3, ms_decimals),
        ("step ms", "step_s", 10, 1e3, ms_decimals),
        ("kept MB", "retained_bytes", 10, 1 / MB, 2),
    ]
    if peak:
        cols.append(("peak MB", "peak_bytes", 10, 1 / MB, 1))
    rows = [*ROWS, *peer_rows(r)]
    halves = []
    if r.get("spike_rate_halves"):
        each = ", ".join(f"{a:.2%} / {b:.2%}" for a, b in r["spike_rate_halves"])
        halves.append(f"  spike rate per layer, first / second half of T: {each}")
    width = max([10] + [len(label) for row, label in rows if f"{row}_step_s" in r])
    kind = f" {r['neuron']}" if r.get("neuron", "lif") != "lif" else ""  # LIF unsaid
    lines = [
        "",
        f"{r['case']}  {r['shape']}{kind}  B={r['B']} T={r['T']}  "
        f"backend={r['backend']} {r['dtype']}",
        *([f"  cpu ops: {r['cpu_ops']}"] if r.get("cpu_ops") else []),
        *(
            [f"  ops on the NumPy twin drivers (no kernel of their own): {', '.join(twins)}"]
            if (twins := r.get("twin_ops"))
            else []
        ),
        f"  active fraction per layer {act}; input spike rate {r['input_rate']:.2%}; "
        f"sparse vs dense grad rel. err {r['sparse_vs_dense_rel_err']:.1e}",
        *halves,
        *(notes or []),
        f"  {'':{width}s}" + "".join(f"{title:>{w}s}" for title, _, w, _, _ in cols),
    ]
    for row, label in rows:
        if f"{row}_step_s" not in r:
            continue
        cells = "".join(_cell(r, f"{row}_{key}", w, s, d) for _, key, w, s, d in cols)
        note = ""
        if row == "torch" and "torch_variant" in r:
            note = f"   ({r['torch_variant']}; grad rel. err vs dense {r['torch_rel_err']:.1e})"
        elif f"{row}_rel_err" in r:
            note = f"   (grad rel. err vs dense {r[f'{row}_rel_err']:.1e})"
        lines.append(f"  {label:{width}s}{cells}".rstrip() + note)
    lines.append(
        f"  ratios: backward dense/sparse {r['backward_speedup']:.1f}x, step dense/sparse "
        f"{r['step_speedup']:.1f}x, kept sparse/dense {r['retained_ratio']:.1%}"
        + (
            f", torch step/sparse step {r['torch_step_vs_sparse_step']:.1f}x, torch backward/"
            f"sparse backward {r['torch_backward_vs_sparse_backward']:.1f}x"
            if "torch_step_s" in r
            else ""
        )
    )
    if met := targets_met(r):
        lines.append(
            "  targets: "
            + ", ".join(
                f"{key} {r[key]:.3g} (target {op} {bound:g}): {'met' if ok else 'NOT met'}"
                for key, op, bound, ok in met
            )
        )
    if r.get("limit"):
        lines += limits.lines(r["limit"], r["bandwidth"])
    if r.get("peers"):
        each = ", ".join(
            f"{p['label']} {r[p['name'] + '_step_vs_sparse_step']:.1f}x" for p in r["peers"]
        )
        label = dict(peer_rows(r))[r["fastest_peer"]]
        lines.append(
            f"  peer step / sparse step: {each}; fastest peer / sparse step "
            f"{r['fastest_peer_step_vs_sparse_step']:.1f}x ({label})"
        )
    for p in r.get("peers", []):
        lines.append(f"  {p['label']} {p['version']}: {p['note']}")
    if r.get("torch_variant_note"):
        lines.append(f"  torch BPTT: {r['torch_variant_note']}")
    prep = [
        f"{label} {r[f'{row}_prepare_s'] * 1e3:.1f} ms"
        for row, label in [("sparse", "spikegrad (events -> SpikeMatrix)"), *peer_rows(r)]
        if r.get(f"{row}_prepare_s") is not None
    ]
    if prep:
        lines.append(
            "  input, prepared once outside the timed steps (median per batch): " + ", ".join(prep)
        )
    for label, why in r.get("peers_missing", {}).items():
        lines.append(f"  {label}: {why}")
    return lines


def _plain(o: Any) -> Any:
    """JSON fallback for NumPy scalars and anything else (as text)."""
    return o.item() if hasattr(o, "item") and getattr(o, "ndim", 1) == 0 else str(o)


def json_lines(results: list[dict[str, Any]]) -> str:
    """One JSON object per result, one per line."""
    return "\n".join(json.dumps(r, default=_plain) for r in results)


def write_json(path: str, results: list[dict[str, Any]], info: dict[str, Any]) -> None:
    """Write ``{"device": info, "results": results}`` to ``path``."""
    with open(path, "w") as f:
        json.dump({"device": info, "results": results}, f, indent=1, default=_plain)
