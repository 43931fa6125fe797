"""Recurrent runs with per-neuron alphas: drawn once from the seed, saved with the checkpoints
(their layers), used again by --resume, evaluate and plot; older (format 1 and 2) checkpoints
still load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from spikegrad.cli import cli

from spikegrad.errors import ConfigError, DataError
from spikegrad.neurons import lif
from spikegrad.train import build, neuron
from spikegrad.train import checkpoint as ck
from spikegrad.train import evaluate as evaluation
from spikegrad.train import run as runs

from .conftest import TINY, CtrlCAt, quiet

RTINY = TINY.replace(recurrent=(True, False), tau_mem_spread=0.5)


def draw_alphas(config):
    """The hidden layers' alphas of ``config`` (drawn per neuron where tau_mem_spread > 0)."""
    return [layer.neuron.alpha for layer in neuron.hidden_layers(config)]


def alphas(saved):
    return [layer.neuron.alpha for layer in saved.layers]


def no_draw(*args):
    raise AssertionError("alphas drawn again")


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def rref(tmp_path_factory):
    """An uninterrupted 3-epoch run of a recurrent network with heterogeneous taus."""
    out = tmp_path_factory.mktemp("rref") / "run"
    assert runs.fit(RTINY, out, log=quiet).status == "finished"
    return out


def test_alphas_drawn_from_the_seed_and_kept_apart_from_the_weights():
    a, b = draw_alphas(RTINY), draw_alphas(RTINY)
    assert [x.shape for x in a] == [(24,), (16,)] and all(map(np.array_equal, a, b))
    assert not np.array_equal(a[0], draw_alphas(RTINY.replace(seed=1))[0])
    assert draw_alphas(TINY) == [TINY.alpha] * 2  # spread 0: the one float, as before
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
    assert all(map(np.array_equal, alphas(saved), draw_alphas(RTINY)))
    assert "R1" in saved.params and saved.config == RTINY
    with np.load(rref / "last.npz") as z:
        meta = json.loads(str(z["meta"]))
        assert meta["version"] == ck.FORMAT_VERSION == 3
        assert [(e["kind"], e["recurrent"], e["alpha"], e["theta"]) for e in meta["layers"]] == [
            ("lif", True, None, 1.0),
            ("lif", False, None, 1.0),
        ]
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

    monkeypatch.setattr(lif, "SPREADS", (dataclasses.replace(lif.SPREADS[0], draw=no_draw),))
    with pytest.raises(AssertionError, match="drawn again"):
        draw_alphas(RTINY)
    assert evaluation.evaluate_run(rref, "val") == before
    runs.fit(RTINY, out, resume=out, log=quiet)
    assert _same(ck.load(out / "last.npz").params, ck.load(rref / "last.npz").params)


def test_cli_train_evaluate_resume_with_the_new_options(runner, tiny_toml):
    args = ["train", "-q", "--config", str(tiny_toml), "--recurrent", "0,1"]
    res = runner.invoke(cli, [*args, "--tau-mem-spread", "0.3", "--epochs", "1", "--out", "r"])
    assert res.exit_code == 0, res.output
    saved = ck.load("r/last.npz")
    assert saved.config.recurrent_layers == (False, True) and "R2" in saved.params
    assert saved.config.tau_mem_spread == 0.3 and alphas(saved)[0].shape == (24,)
    res = runner.invoke(cli, ["train", "-q", "--resume", "r", "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert ck.load("r/last.npz").epoch == 2
    res = runner.invoke(cli, ["train", "--resume", "r", "--recurrent", "none"])
    assert res.exit_code == 2 and "--recurrent" in res.output  # not a resumable setting
    res = runner.invoke(cli, ["evaluate", "r", "--split", "val", "--json"])
    assert res.exit_code == 0, res.output
    assert 0 <= json.loads(res.output)["accuracy"] <= 1


def _as_version_1(src, dst):
    """``src`` rewritten as spikegrad wrote it before format 2: no layers, no alpha arrays,
    and a config without the keys ``recurrent``, ``tau_mem_spread`` and ``neuron``."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files if not k.startswith("alpha.")}
    meta = json.loads(str(arrays["meta"]))
    meta["version"] = 1
    del meta["layers"]
    meta["config"] = "\n".join(
        line
        for line in meta["config"].splitlines()
        if not line.startswith(("recurrent =", "tau_mem_spread =", "neuron ="))
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
    assert old.layers is None and old.config == TINY.replace(epochs=1)
    assert evaluation.evaluate_run(out, "val") == ev
    res = runs.fit(TINY.replace(epochs=2), out, resume=out, log=quiet)
    assert res.status == "finished" and alphas(ck.load(out / "last.npz")) == [TINY.alpha] * 2


def _as_version_2(src, dst, seen=None):
    """``src`` rewritten as spikegrad wrote it in format 2: no layer records, every hidden
    layer's alpha as the array ``alpha.<l>`` (0-d for one alpha), no ``neuron`` key."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    for l, layer in enumerate(meta.pop("layers"), start=1):
        if layer["alpha"] is not None:
            arrays[f"alpha.{l}"] = np.array(layer["alpha"])
    meta["version"] = 2
    meta["config"] = "\n".join(
        line for line in meta["config"].splitlines() if not line.startswith("neuron =")
    )
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)


def test_a_format_2_checkpoint_still_loads_with_its_saved_alphas(rref, tmp_path, monkeypatch):
    new = ck.load(rref / "last.npz")
    _as_version_2(rref / "last.npz", tmp_path / "v2.npz")
    with np.load(tmp_path / "v2.npz") as z:
        assert "neuron =" not in str(z["meta"]) and z["alpha.1"].shape == (24,)
    monkeypatch.setattr(lif, "SPREADS", (dataclasses.replace(lif.SPREADS[0], draw=no_draw),))
    old = ck.load(tmp_path / "v2.npz")
    assert old.config == new.config and neuron.same_layers(old.layers, new.layers)
    one = TINY.replace(epochs=1)
    runs.fit(one, tmp_path / "ff", log=quiet)
    _as_version_2(tmp_path / "ff" / "last.npz", tmp_path / "ff.npz")
    with np.load(tmp_path / "ff.npz") as z:
        assert z["alpha.1"].shape == () and z["alpha.2"].shape == ()
    assert alphas(ck.load(tmp_path / "ff.npz")) == [TINY.alpha] * 2


def test_foreign_alphas_and_bad_alpha_arrays_are_refused(rref, tmp_path):
    saved = ck.load(rref / "last.npz")
    other = build.build_network(RTINY.replace(seed=7), 40, 10)
    with pytest.raises(ConfigError, match="other neuron layers"):
        ck.restore(saved, other)
    with np.load(rref / "last.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "alpha.1"}
    np.savez(tmp_path / "gap.npz", **arrays)
    with pytest.raises(DataError, match=r"gap\.npz.*layers: bad or missing 'alpha\.1'"):
        ck.load(tmp_path / "gap.npz")
    _as_version_2(rref / "last.npz", tmp_path / "v2.npz")
    with np.load(tmp_path / "v2.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "alpha.1"}
    np.savez(tmp_path / "gap2.npz", **arrays)
    with pytest.raises(DataError, match=r"gap2\.npz.*alpha arrays \['alpha\.2'\]: not one per"):
        ck.load(tmp_path / "gap2.npz")


def _script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "learning_table.py"
    spec = importlib.util.spec_from_file_location("learning_table", path)
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


def test_comparison_script_summary_averages_seeds():
    s = _script()
    rows = [
        {
            "task": "t",
            "neuron": "alif",
            "model": "recurrent",
            "layers": "4-8r-2",
            "params": 120,
            "best_val": v,
            "wall_s": w,
        }
        for v, w in ((0.5, 1.0), (0.7, 3.0))
    ]
    table = s.summary(rows)
    assert len(table) == 3  # header, rule, one group
    assert (
        "| t | alif | recurrent | 4-8r-2 | 120 | 60.00% (50.00%-70.00%, 2 seeds) | 2 |" == table[2]
    )
