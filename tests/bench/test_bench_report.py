"""The report code shared by the CPU and GPU benchmarks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikegrad.bench import report


def _result(torch: bool = True, peak: bool = False) -> dict:
    r = {
        "case": "c1",
        "shape": "10-5-2",
        "B": 4,
        "T": 7,
        "backend": "numpy",
        "dtype": "float32",
        "cpu_ops": None,
        "active_fraction": [0.0125],
        "input_rate": 0.02,
        "sparse_vs_dense_rel_err": 3e-6,
    }
    for row, base in (("dense", 0.010), ("sparse", 0.002), ("torch", 0.050)):
        if row == "torch" and not torch:
            continue
        r[f"{row}_forward_s"] = base
        r[f"{row}_backward_s"] = base * 2
        r[f"{row}_step_s"] = base * 3.5
        r[f"{row}_retained_bytes"] = int(base * 1e3) * 2**20
        r[f"{row}_peak_bytes"] = (int(base * 1e3) + 1) * 2**20 if peak else None
    if torch:
        r["torch_rel_err"] = 4e-7
    return report.add_ratios(r)


def test_ratios():
    r = _result()
    assert r["backward_speedup"] == pytest.approx(5.0)
    assert r["step_speedup"] == pytest.approx(5.0)
    assert r["retained_ratio"] == pytest.approx(0.2)
    assert r["torch_step_vs_sparse_step"] == pytest.approx(25.0)
    assert r["torch_backward_vs_sparse_backward"] == pytest.approx(25.0)
    assert "torch_step_vs_sparse_step" not in _result(torch=False)


def test_case_block_cpu_layout():
    lines = report.case_block(_result())
    assert lines[1] == "c1  10-5-2  B=4 T=7  backend=numpy float32"
    assert lines[3].split() == ["forward", "ms", "backward", "ms", "step", "ms", "kept", "MB"]
    # the CPU table of docs/benchmarks.md: label 10 wide, then 12 + 13 + 10 + 10 columns
    assert lines[4] == "  dense" + " " * 5 + f"{10.0:12.1f}{20.0:13.1f}{35.0:10.1f}{10.0:10.2f}"
    assert lines[5].startswith("  sparse") and lines[5].endswith(f"{2.0:10.2f}")
    assert lines[6].startswith("  torch BPTT") and "(grad rel. err vs dense 4.0e-07)" in lines[6]
    assert lines[7] == (
        "  ratios: backward dense/sparse 5.0x, step dense/sparse 5.0x, kept sparse/dense 20.0%, "
        "torch step/sparse step 25.0x, torch backward/sparse backward 25.0x"
    )
    assert len(lines) == 8


def test_case_block_gpu_layout_and_missing_cells():
    r = _result(peak=True)
    r["torch_forward_s"] = r["torch_peak_bytes"] = None
    lines = report.case_block(r, ms_decimals=3, peak=True, notes=["  a note"])
    assert lines[3] == "  a note"
    assert lines[4].split()[-2:] == ["peak", "MB"]
    assert lines[5].endswith(f"{10.0:10.2f}{11.0:10.1f}") and "20.000" in lines[5]
    torch_row = lines[7]
    assert torch_row.startswith("  torch BPTT" + " " * 12 + f"{100.0:13.3f}")
    assert "(grad rel. err" in torch_row
    assert not any("torch" in ln for ln in report.case_block(_result(torch=False))[4:-1])


def test_json_lines_and_file(tmp_path):
    r = _result()
    r["np_scalar"], r["np_int"] = np.float32(1.5), np.int64(3)
    parsed = [json.loads(line) for line in report.json_lines([r, r]).splitlines()]
    assert len(parsed) == 2 and parsed[0]["np_scalar"] == 1.5 and parsed[0]["np_int"] == 3
    path = tmp_path / "out.json"
    report.write_json(str(path), [r], {"gpu": "x"})
    doc = json.loads(path.read_text())
    assert doc["device"] == {"gpu": "x"} and doc["results"][0]["case"] == "c1"


def test_targets_line():
    r = _result()  # backward 5x, torch step 25x, kept 20 %
    r["targets"] = [
        ["backward_speedup", ">=", 3.0],
        ["torch_step_vs_sparse_step", ">=", 30.0],
        ["retained_ratio", "<=", 0.1],
    ]
    assert [ok for *_, ok in report.targets_met(r)] == [True, False, False]
    (line,) = [ln for ln in report.case_block(r) if ln.startswith("  targets: ")]
    assert line == (
        "  targets: backward_speedup 5 (target >= 3): met, torch_step_vs_sparse_step 25 "
        "(target >= 30): NOT met, retained_ratio 0.2 (target <= 0.1): NOT met"
    )
    del r["torch_step_vs_sparse_step"]  # a row that did not run: its target is not shown
    assert [key for key, *_ in report.targets_met(r)] == ["backward_speedup", "retained_ratio"]
    assert not [ln for ln in report.case_block(_result()) if "targets" in ln]
