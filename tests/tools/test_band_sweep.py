"""``python tools/band_sweep.py`` on tiny cases: validated, the active set grows with
the band, the table and the fit."""

from __future__ import annotations

import dataclasses
import json

import band_sweep
import pytest


def test_fit_line_recovers_a_line():
    f = band_sweep.fit_line([10, 20, 40], [0.002 + 1e-6 * a for a in (10, 20, 40)])
    assert f["c0_s"] == pytest.approx(0.002) and f["c1_s_per_entry"] == pytest.approx(1e-6)
    assert f["max_rel_residual"] < 1e-9
    assert band_sweep.fit_line([10, 10], [0.1, 0.2]) is None


@pytest.mark.parametrize("recurrent", [(), (True, False)])
def test_sweep_grows_the_active_set_only(tiny_shd, recurrent, tmp_path, capsys, monkeypatch):
    case = dataclasses.replace(tiny_shd, recurrent=recurrent)
    r = band_sweep.sweep(case, (0.05, 0.2, 0.8), repeats=1)
    assert r["shape"] == ("40-24r-24-5" if recurrent else "40-24-24-5")
    assert r["calibrated_b_th"] == 0.2 and len(r["calibrated_active"]) == 2
    rows = r["rows"]
    assert [row["b_th"] for row in rows] == [0.05, 0.2, 0.8]
    n = [row["n_active"] for row in rows]
    assert 0 < n[0] < n[1] < n[2]
    assert rows[1]["active_fraction"] == pytest.approx(r["calibrated_active"])
    for row in rows:
        assert row["sparse_vs_dense_rel_err"] < 1e-4  # float32
        assert row["sparse_backward_s"] > 0 and row["dense_backward_s"] > 0
        assert 0 < row["sparse_retained_bytes"] < row["dense_retained_bytes"]
    assert r["fit"]["c1_s_per_entry"] != 0
    text = band_sweep.format_sweep(r)
    assert "band sweep: tiny-shd" in text and "least squares" in text and "dense backward" in text
    firsts = [ln.split()[0] for ln in text.splitlines() if ln.strip()]
    assert [f for f in firsts if f in ("0.05", "0.2", "0.8")] == ["0.05", "0.2", "0.8"]
    monkeypatch.setitem(band_sweep.CASES, "shd-recurrent", case)
    out = tmp_path / "sweep.json"
    band_sweep.main(["--band", "0.1", "--band", "0.3", "--repeats", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert printed.startswith("date: ") and "command: " in printed and "\ncpu: " in printed
    assert "band sweep: tiny-shd" in printed
    assert [row["b_th"] for row in json.loads(out.read_text())["results"][0]["rows"]] == [0.1, 0.3]


def test_bad_band_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        band_sweep.main(["--band", "0"])
    assert "--band must be > 0; got 0.0" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["alif", "cuba"])
def test_sweep_of_the_recurrent_kind_cases(tiny_shd, kind, capsys, monkeypatch):
    """--case shd-recurrent-alif / -cuba: the case's neuron kind is swept, validated."""
    case = dataclasses.replace(
        band_sweep.CASES[f"shd-recurrent-{kind}"], name=f"tiny-{kind}", sizes=tiny_shd.sizes,
        B=tiny_shd.B, T=tiny_shd.T,
    )  # fmt: skip
    monkeypatch.setitem(band_sweep.CASES, f"shd-recurrent-{kind}", case)
    band_sweep.main(["--case", f"shd-recurrent-{kind}", "--band", "0.1", "--band", "0.4",
                     "--repeats", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert f"band sweep: tiny-{kind}  40-24r-24r-5 {kind}  B=6 T=40" in out
    rows = [ln.split() for ln in out.splitlines() if ln.strip().split()[:1] in (["0.1"], ["0.4"])]
    assert len(rows) == 2 and 0 < int(rows[0][4]) < int(rows[1][4])  # active entries grow
    assert all(float(r[-1]) < 1e-4 for r in rows)  # sparse vs dense gradients (float32)
