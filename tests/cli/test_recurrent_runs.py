"""Recurrent runs with per-neuron alphas: drawn once from the seed, saved with the checkpoints,
used again by --resume, evaluate and plot; older (format 1) checkpoints still load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from spikegrad.cli import cli

from spikegrad.errors import ConfigError, DataError
from spikegrad.train import build
from spikegrad.train import checkpoint as ck
from spikegrad.train import evaluate as evaluation
from spikegrad.train import run as runs

from .conftest import TINY, CtrlCAt, quiet

RTINY = TINY.replace(recurrent=(True, False), tau_mem_spread=0.5)


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def rref(tmp_path_factory):
    """An uninterrupted 3-epoch run of a recurrent network with heterogeneous taus."""
    out = tmp_path_factory.mktemp("rref") / "run"
    assert runs.fit(RTINY, out, log=quiet).status == "finished"
    return out


def test_alphas_drawn_from_the_seed_and_kept_apart_from_the_weights():
    a, b = build.draw_alphas(RTINY), build.draw_alphas(RTINY)
    assert [x.shape for x in a] == [(24,), (16,)] and all(map(np.array_equal, a, b))
    assert not np.array_equal(a[0], build.draw_alphas(RTINY.replace(seed=1))[0])
    assert build.draw_alphas(TINY) == TINY.alpha  # spread 0: the one float, as before
    net = build.build_network(RTINY, 40, 10)
    assert net.recurrent == [True, False] and all(map(np.array_equal, net.alphas, a))
    assert set(net.param_shapes()) == {"W1", "R1", "W2", "W_out"}
    assert net.param_shapes()["R1"] == (24, 24)
    ff = build.build_network(TINY, 40, 10)
    assert ff.alpha == TINY.alpha and ff.recurrent == [False, False]
    # the alphas come from a stream of their own: uniform initial weights do not move
    uni = TINY.replace(init="uniform")
    w = build.build_network(uni, 40, 10).params
    w_het = build.build_network(uni.replace(tau_mem_spread=0.5), 40, 10).params
    assert all(np.array_equal(w[k], w_het[k]) for k in w)


def test_checkpoint_holds_the_alphas(rref):
    saved = ck.load(rref / "last.npz")
    assert all(map(np.array_equal, saved.alphas, build.draw_alphas(RTINY)))
    assert "R1" in saved.params and saved.config == RTINY
    with np.load(rref / "last.npz") as z:
        assert json.loads(str(z["meta"]))["version"] == ck.FORMAT_VERSION == 2
        assert z["alpha.1"].shape == (24,) and z["alpha.2"].shape == (16,)


def test_ctrl_c_then_resume_is_bitwise_with_the_alphas(rref, tmp_path):
    out = tmp_path / "run"
    res = runs.fit(RTINY, out, log=quiet, progress=CtrlCAt(epoch=2, batch=3))
    assert res.status == "interrupted"
    res = runs.fit(RTINY, out, resume=out, log=quiet)
    assert res.status == "finished"
    assert _same(ck.load(out / "last.npz").params, ck.load(rref / "last.npz").params)


def test_resume_and_evaluate_use_the_saved_alphas_not_a_new_draw(rref, tmp_path, monkeypatch):
    """A resumed or evaluated run must not depend on drawing the alphas again (another NumPy
    could draw other values): with the draw disabled, both still give the same numbers."""
    before = evaluation.evaluate_run(rref, "val")
    out = tmp_path / "run"
    runs.fit(RTINY.replace(epochs=2), out, log=quiet)

    def no_draw(config):
        raise AssertionError("alphas drawn again")

    monkeypatch.setattr(build, "draw_alphas", no_draw)
    assert evaluation.evaluate_run(rref, "val") == before
    runs.fit(RTINY, out, resume=out, log=quiet)
    assert _same(ck.load(out / "last.npz").params, ck.load(rref / "last.npz").params)


def test_cli_train_evaluate_resume_with_the_new_options(runner, tiny_toml):
    args = ["train", "-q", "--config", str(tiny_toml), "--recurrent", "0,1"]
    res = runner.invoke(cli, [*args, "--tau-mem-spread", "0.3", "--epochs", "1", "--out", "r"])
    assert res.exit_code == 0, res.output
    saved = ck.load("r/last.npz")
    assert saved.config.recurrent_layers == (False, True) and "R2" in saved.params
    assert saved.config.tau_mem_spread == 0.3 and saved.alphas[0].shape == (24,)
    res = runner.invoke(cli, ["train", "-q", "--resume", "r", "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert ck.load("r/last.npz").epoch == 2
    res = runner.invoke(cli, ["train", "--resume", "r", "--recurrent", "none"])
    assert res.exit_code == 2 and "--recurrent" in res.output  # not a resumable setting
    res = runner.invoke(cli, ["evaluate", "r", "--split", "val", "--json"])
    assert res.exit_code == 0, res.output
    assert 0 <= json.loads(res.output)["accuracy"] <= 1


def _as_version_1(src, dst):
    """``src`` rewritten as spikegrad wrote it before format 2: no alpha arrays, and a
    config without the keys ``recurrent`` and ``tau_mem_spread``."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files if not k.startswith("alpha.")}
    meta = json.loads(str(arrays["meta"]))
    meta["version"] = 1
    meta["config"] = "\n".join(
        line
        for line in meta["config"].splitlines()
        if not line.startswith(("recurrent =", "tau_mem_spread ="))
    )
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)


def test_a_format_1_checkpoint_still_loads_evaluates_and_resumes(tmp_path):
    out = tmp_path / "old"
    runs.fit(TINY.replace(epochs=1), out, log=quiet)
    ev = evaluation.evaluate_run(out / "last.npz", "val")
    _as_version_1(out / "last.npz", out / "last.npz")
    (out / "best.npz").unlink()
    old = ck.load(out / "last.npz")
    assert old.alphas is None and old.config == TINY.replace(epochs=1)
    assert evaluation.evaluate_run(out, "val") == ev
    res = runs.fit(TINY.replace(epochs=2), out, resume=out, log=quiet)
    assert res.status == "finished" and ck.load(out / "last.npz").alphas == [TINY.alpha] * 2


def test_foreign_alphas_and_bad_alpha_arrays_are_refused(rref, tmp_path):
    saved = ck.load(rref / "last.npz")
    other = build.build_network(RTINY.replace(seed=7), 40, 10)
    with pytest.raises(ConfigError, match="other neuron alphas"):
        ck.restore(saved, other)
    with np.load(rref / "last.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "alpha.1"}
    np.savez(tmp_path / "gap.npz", **arrays)
    with pytest.raises(DataError, match=r"gap\.npz.*not one per hidden layer"):
        ck.load(tmp_path / "gap.npz")


def _script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "recurrent_vs_ff.py"
    spec = importlib.util.spec_from_file_location("recurrent_vs_ff", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_comparison_script_matches_parameter_counts_and_trains():
    s = _script()
    for n_in, n, k in ((100, 128, 10), (1156, 64, 10), (700, 128, 20)):
        h = s.ff_width(n_in, n, k)
        rec, ff = s.n_params(n_in, n, k, True), s.n_params(n_in, h, k, False)
        assert abs(ff - rec) <= (n_in + k) / 2  # the closest width: within half a neuron
    enc = {**TINY.encoding, "n_samples": 200}
    pair = s.configs("synthetic", 8, 0, epochs=1, encoding=enc, hidden=(4,))
    assert [(m, c.hidden, c.recurrent_layers) for m, c in pair] == [
        ("recurrent", (8,), (True,)),
        ("feed-forward", (s.ff_width(40, 8, 10),), (False,)),
    ]
    r = s.run(*pair[0])
    assert r["params"] == 40 * 8 + 8 * 8 + 8 * 10 and r["layers"] == "40-8r-10"
    assert 0 <= r["best_val"] <= 1 and r["epochs"] == 1
