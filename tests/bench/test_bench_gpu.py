"""The GPU report's logic, run on the host backend (wall clock; no pool or bandwidth figures).

On a GPU machine tools/gpu_check.sh runs the real thing (``python -m spikegrad.bench.gpu``).
"""

from __future__ import annotations

import dataclasses

import pytest

from spikegrad.bench import gpu
from spikegrad.bench.cases import build_network, make_inputs

try:
    import torch  # noqa: F401

    HAS_TORCH = True
except ImportError:
    HAS_TORCH = False


def test_spikegrad_input_is_prepared_outside_the_step(tiny_fmnist):
    net = build_network(tiny_fmnist)
    prepare, form = gpu.spikegrad_input(net)
    x, y = make_inputs(tiny_fmnist)
    xd = prepare(x)
    assert "SpikeMatrix" in form or "dense" in form
    ref = net.loss_and_grad(x, y, mode="sparse")
    got = net.loss_and_grad(xd, y, mode="sparse")
    assert got[0] == pytest.approx(ref[0], rel=1e-6)
    for k in ref[1]:
        assert abs(got[1][k] - ref[1][k]).max() <= 1e-6


@pytest.mark.parametrize("with_torch", [False, pytest.param(True, marks=pytest.mark.skipif(
    not HAS_TORCH, reason="needs torch"))])  # fmt: skip
def test_run_case_on_host(tiny_shd, with_torch):
    r = gpu.run_case(tiny_shd, warmup=1, repeats=2, with_torch=with_torch, backend="numpy")
    assert r["sparse_vs_dense_rel_err"] < 1e-4 and r["spikegrad_prepare_s"] > 0
    for mode in ("dense", "sparse"):
        assert r[f"{mode}_step_s"] > 0 and r[f"{mode}_peak_bytes"] is None
    layers = r["sparse_backward_kernels"]
    assert [k["layer"] for k in layers] == [1, 2]
    assert layers[0]["A"] > 0 and layers[0]["host_s"] > 0 and "gather_variant_s" in layers[1]
    assert set(r["targets_met"]) >= {"backward_speedup", "retained_ratio"}
    text = gpu.format_report({"gpu": "none (test)"}, [r])
    assert text.startswith("date: ") and "\ncpu: " in text
    assert gpu.LIKE_WITH_LIKE in text
    assert "batch preparation (host events -> device), ms: spikegrad" in text
    assert "sparse backward layer 2" in text and "dL/dx gather" in text
    if with_torch:
        assert r["torch_rel_err"] < 1e-4 and r["torch_prepare_s"] > 0
        assert "torch_backward_vs_sparse_backward" in r["targets_met"]
        assert ", PyTorch " in text and "PyTorch input: dense (T, B, N) cpu tensor" in text
    else:
        assert "PyTorch baseline not run" in text and "torch BPTT" not in text


def test_run_case_on_host_recurrent(tiny_shd):
    case = dataclasses.replace(tiny_shd, recurrent=(False, True))
    r = gpu.run_case(case, warmup=1, repeats=1, with_torch=False, backend="numpy")
    assert r["shape"] == "40-24-24r-5" and r["sparse_vs_dense_rel_err"] < 1e-4
    layers = r["sparse_backward_kernels"]
    assert [k["recurrent"] for k in layers] == [False, True]
    assert layers[1]["A"] > 0 and layers[1]["host_s"] > 0 and "gather_variant_s" in layers[1]
    text = gpu.format_report({"gpu": "none (test)"}, [r])
    assert "sparse backward layer 2 (recurrent): A=" in text
    assert "sparse backward layer 1: A=" in text
