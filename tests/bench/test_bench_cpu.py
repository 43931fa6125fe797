"""The CPU report (``python -m spikegrad.bench``) on tiny cases, and the package's entry points."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from spikegrad import bench
from spikegrad.bench import cases, cpu, gpu


def test_one_case_table():
    assert cases.default_cases("cpu") == ["shd", "fmnist", "shd-recurrent"]
    rec = cases.CASES["shd-recurrent"]
    assert (rec.sizes, rec.B, rec.T, rec.recurrent) == ((700, 200, 200, 20), 64, 500, (True, True))
    assert rec.target_active == cases.CASES["shd"].target_active
    assert [key for key, *_ in rec.cpu_targets] == [
        "backward_speedup", "torch_step_vs_sparse_step", "retained_ratio"
    ]  # fmt: skip
    assert cases.default_cases("gpu") == ["fmnist", "shd-large"]
    gpu_shapes = {cases.CASES[c].sizes for c in cases.default_cases("gpu")}
    assert gpu_shapes == {(700, 400, 400, 20), (784, 200, 200, 10)}
    assert {cases.CASES[c].B for c in cases.default_cases("gpu")} == {256}


def test_run_case_validates_then_times(tiny_fmnist):
    r = cpu.run_case(tiny_fmnist, repeats=2, with_torch=False)
    assert r["sparse_vs_dense_rel_err"] < 1e-4
    for mode in ("dense", "sparse"):
        assert r[f"{mode}_step_s"] >= r[f"{mode}_backward_s"] > 0
        assert r[f"{mode}_forward_s"] > 0 and r[f"{mode}_retained_bytes"] > 0
        assert isinstance(r[f"{mode}_peak_bytes"], int)  # host RSS growth of one step
    assert r["sparse_retained_bytes"] < r["dense_retained_bytes"]
    assert "torch_step_s" not in r
    table = cpu.format_table([r])
    assert table.startswith("date: ") and "\ncpu: " in table and " per core, L3 " in table
    assert "  dense " in table and "  sparse " in table and r["twin_ops"] == []
    assert set(r["limit"]) == {"forward", "backward", "step"}
    for phase, f in r["limit"].items():
        assert f["bytes"] > 0 and f["adds"] > 0 and f["fraction"] > 0
        assert f["measured_s"] == r[f"sparse_{phase}_s"]
        assert f"    sparse {phase:8s} cannot avoid {f['bytes'] / 1e6:7.1f} MB" in table
    assert "  limit: copy bandwidth (one core, working set) L2 10 GB/s" in table
    assert "torch BPTT" not in table and "peak MB" in table and "peer step" not in table
    (early, late), _ = r["spike_rate_halves"]
    assert 0 <= early <= 1 and 0 <= late <= 1 and early + late > 0
    assert f"first / second half of T: {early:.2%} / {late:.2%}, " in table


def test_recurrent_case_against_torch(tiny_shd):
    pytest.importorskip("torch")
    case = dataclasses.replace(tiny_shd, recurrent=(True, True), cpu_targets=cases.ISSUE_13_TARGETS)
    r = cpu.run_case(case, repeats=1, with_torch=True, compile_max_steps=0)
    assert r["shape"] == "40-24r-24r-5"
    assert r["sparse_vs_dense_rel_err"] < 1e-4 and r["torch_rel_err"] < 1e-4  # float32
    assert r["torch_variant"] == "eager" and r["torch_step_s"] > 0
    assert r["torch_step_vs_sparse_step"] == r["torch_step_s"] / r["sparse_step_s"]
    assert min(r["active_fraction"]) > 0
    table = cpu.format_table([r])
    assert "tiny-shd  40-24r-24r-5  B=6 T=40" in table and "torch BPTT" in table
    assert f"  targets: backward_speedup {r['backward_speedup']:.3g} (target >= 3): " in table


def test_recurrent_alif_and_cuba_cases():
    for kind in ("alif", "cuba"):
        c = cases.CASES[f"shd-recurrent-{kind}"]
        rec = cases.CASES["shd-recurrent"]
        assert c.neuron == kind and c.cpu_targets == cases.ISSUE_21_TARGETS and c.devices == ()
        assert (c.sizes, c.B, c.T, c.recurrent, c.target_active, c.rate, c.alpha) == (
            rec.sizes, rec.B, rec.T, rec.recurrent, rec.target_active, rec.rate, rec.alpha
        )  # fmt: skip
        assert cases.build_network(dataclasses.replace(c, sizes=(5, 4, 4, 2))).neurons == [kind] * 2
    assert [b for _, _, b in cases.ISSUE_21_TARGETS] == [5.0, 10.0, 0.10]
    assert cases.CASES["shd-recurrent-alif"].r_gain == cases.R_GAIN
    assert cases.CASES["shd-recurrent-cuba"].r_gain == cases.R_GAIN_CUBA < cases.R_GAIN


@pytest.mark.parametrize("kind", ["alif", "cuba"])
def test_recurrent_kind_case_against_torch(tiny_shd, kind):
    pytest.importorskip("torch")
    case = dataclasses.replace(
        cases.CASES[f"shd-recurrent-{kind}"], name=f"tiny-{kind}", sizes=tiny_shd.sizes,
        B=tiny_shd.B, T=tiny_shd.T,
    )  # fmt: skip
    r = cpu.run_case(case, repeats=1, with_torch=True, compile_max_steps=0)
    assert r["neuron"] == kind and r["shape"] == "40-24r-24r-5" and min(r["active_fraction"]) > 0
    assert r["sparse_vs_dense_rel_err"] < 1e-4 and r["torch_rel_err"] < 1e-4  # float32
    table = cpu.format_table([r])
    assert f"tiny-{kind}  40-24r-24r-5 {kind}  B=6 T=40" in table
    assert r["twin_ops"] and all(op.startswith(f"r{kind}_") for op in r["twin_ops"])
    twins = f"  ops on the NumPy twin drivers (no kernel of their own): {r['twin_ops'][0]}"
    assert twins in table
    assert f"  targets: backward_speedup {r['backward_speedup']:.3g} (target >= 5): " in table
    assert f"torch_step_vs_sparse_step {r['torch_step_vs_sparse_step']:.3g} (target >= 10)" in table


def test_calibration_scales_r_by_r_gain_times_w(tiny_shd):
    case = dataclasses.replace(tiny_shd, recurrent=(True, False))
    x, y = cases.make_inputs(case)
    net = cases.build_network(case)
    w0, r0 = net.params["W1"].copy(), net.params["R1"].copy()
    active = cases.calibrate(net, x, y, (0.05, 0.05), r_gain=0.25)
    assert active[0] == pytest.approx(0.05, rel=0.2)
    fw = np.abs(net.params["W1"]).max() / np.abs(w0).max()
    fr = np.abs(net.params["R1"]).max() / np.abs(r0).max()
    assert fw != pytest.approx(1.0, abs=0.05) and fr == pytest.approx(0.25 * fw, rel=1e-5)


def test_main_json_and_out(tiny_fmnist, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(cases.CASES, "fmnist", tiny_fmnist)
    out = tmp_path / "cpu.json"
    bench.main(["--case", "fmnist", "--repeats", "1", "--no-torch", "--json", "--out", str(out)])
    line = json.loads(capsys.readouterr().out)
    assert line["case"] == "tiny" and line["sparse_step_s"] > 0
    assert json.loads(out.read_text())["results"][0]["case"] == "tiny"


def test_gpu_flag_dispatches_to_the_gpu_report(monkeypatch):
    seen = []
    monkeypatch.setattr(gpu, "main", seen.append)
    bench.main(["--gpu", "--case", "fmnist", "--no-torch"])
    assert seen == [["--case", "fmnist", "--no-torch"]]


@pytest.mark.parametrize("module", ["spikegrad.bench", "spikegrad.bench.gpu"])
def test_module_entry_points(module):
    res = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and f"python -m {module}" in res.stdout, res.stderr


def test_cli_gpu_flag_runs_the_gpu_report(monkeypatch):
    from click.testing import CliRunner
    from spikegrad.cli import cli

    seen = []

    def fake_run(cases, warmup, repeats, with_torch):
        seen.append((cases, warmup, repeats, with_torch))
        return {"gpu": "fake"}, []

    monkeypatch.setattr(gpu, "run", fake_run)
    runner = CliRunner()
    res = runner.invoke(cli, ["bench", "--gpu", "--no-torch"])
    assert res.exit_code == 0 and "spikegrad GPU benchmark" in res.output and "fake" in res.output
    res = runner.invoke(cli, ["bench", "--gpu", "--case", "fmnist", "--repeats", "3"])
    assert res.exit_code == 0, res.output
    assert seen == [(None, 3, 20, False), (["fmnist"], 3, 3, True)]
    res = runner.invoke(cli, ["bench", "--gpu", "--peers"])
    assert res.exit_code == 2 and "--peers runs in the CPU report only" in res.output


def test_cli_gpu_flag_without_a_gpu_is_one_line(monkeypatch):
    from click.testing import CliRunner
    from spikegrad.cli import cli

    from spikegrad.backend import cupy_available

    if cupy_available():
        pytest.skip("a GPU is here")
    res = CliRunner().invoke(cli, ["bench", "--gpu", "--no-torch"])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "Traceback" not in res.output
