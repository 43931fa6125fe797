"""Bad values at the library's edges: the config record, Network, Adam, inputs, checkpoints.

Every check raises a spikegrad error naming the setting and the value, and a refused
``Adam.step`` leaves parameters, moments and step count exactly as they were.
"""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest

import spikegrad as sg
from spikegrad.errors import (
    BadValueError,
    ConfigError,
    DataError,
    DTypeError,
    InputError,
    ShapeError,
    TrainingError,
)
from spikegrad.train import checkpoint as ckpt_io
from spikegrad.train.config import TrainConfig, from_dict

NAN, INF = float("nan"), float("inf")

BAD_CONFIG = [
    ("seed", -1),
    ("seed", 2.5),
    ("seed", True),
    ("seed", "1"),
    ("seed", 2**63),
    ("lr", NAN),
    ("lr", INF),
    ("lr", 0.0),
    ("lr", "0.1"),
    ("b_th", NAN),
    ("b_th", 0.0),
    ("val_fraction", NAN),
    ("val_fraction", 1.0),
    ("epochs", "three"),
    ("epochs", 2.5),
    ("epochs", True),
    ("epochs", 0),
    ("batch_size", 0),
    ("limit", -1),
    ("hidden", 200),
    ("hidden", [200, "a"]),
    ("hidden", []),
    ("hidden", [0]),
    ("hidden", [True]),
    ("hidden", "200"),
    ("betas", (0.9,)),
    ("betas", (0.9, 1.0)),
    ("betas", (0.9, NAN)),
    ("eps", INF),
    ("dt", INF),
    ("tau_mem", 0.0),
    ("threshold", NAN),
    ("surrogate_scale", -1.0),
    ("drop_last", 1),
    ("data_dir", 3),
    ("dataset", "mnist"),
    ("readout", 3),
    ("encoding", 3),
]


@pytest.mark.parametrize("key,value", BAD_CONFIG, ids=[f"{k}={v!r}" for k, v in BAD_CONFIG])
def test_config_refuses_bad_values_naming_them(key, value):
    with pytest.raises(BadValueError) as e:
        TrainConfig(**{key: value})
    assert isinstance(e.value, ConfigError)
    assert e.value.key == key
    msg = str(e.value)
    assert msg.startswith(f"{key} must be ") and msg.endswith(f"got {e.value.value!r}")
    if not isinstance(value, (list, tuple)):
        assert msg.endswith(f"got {value!r}")


@pytest.mark.parametrize("reg", [{"f_up": "x"}, {"f_up": NAN}, {"lambda_up": -1}, True])
def test_config_refuses_bad_regulariser_values(reg):
    with pytest.raises(ConfigError, match="reg"):
        TrainConfig(reg=reg)


def test_config_normalises_good_values():
    c = from_dict({"lr": 1, "hidden": [200], "seed": np.int64(3), "b_th": INF, "betas": [0, 0.5]})
    assert type(c.lr) is float and c.lr == 1.0
    assert c.hidden == (200,) and type(c.seed) is int and c.seed == 3
    assert c.b_th == INF and c.betas == (0.0, 0.5)
    assert from_dict(c.to_dict()) == c


def test_each_range_is_declared_once_and_checked_as_described():
    """checks.RANGES is the one declaration: its words are the error's, and the config,
    Network and Adam refuse a value just outside it naming the setting."""
    from dataclasses import fields

    from spikegrad.checks import RANGES

    for key, r in RANGES.items():
        with pytest.raises(BadValueError) as e:
            r.check(key, "x")
        assert e.value.need == r.describe(), key
    config_keys = {f.name for f in fields(TrainConfig)} & set(RANGES)
    assert {"dt", "b_th", "epochs", "val_fraction", "lr_gamma"} <= config_keys
    for key in config_keys:
        r = RANGES[key]
        if r.lo is not None and r.lo_open:
            with pytest.raises(BadValueError, match=f"^{key} must be {re.escape(r.describe())}"):
                TrainConfig(**{key: r.lo})
    b_th = "^b_th must be " + re.escape(RANGES["b_th"].describe())
    with pytest.raises(BadValueError, match=b_th):
        sg.Network([3, 4, 2], b_th=0.0)
    with pytest.raises(BadValueError, match=r"^max_grad_norm must be "):
        sg.Adam({"w": np.zeros(2, np.float32)}, max_grad_norm=-1.0)


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"seed": -1}, "seed"),
        ({"seed": 2.5}, "seed"),
        ({"sizes": [5, "a", 3]}, "sizes"),
        ({"sizes": [5, 3]}, "sizes"),
        ({"sizes": [5, 2.5, 3]}, "sizes"),
        ({"alpha": NAN}, "alpha"),
        ({"alpha_out": 1.0}, "alpha_out"),
        ({"b_th": NAN}, "b_th"),
        ({"threshold": INF}, "threshold"),
        ({"surrogate_scale": NAN}, "surrogate_scale"),
        ({"init": "zeros"}, "init"),
        ({"reg": {"f_up": "x"}}, "reg.f_up"),
        ({"reg": {"lambda_up": NAN}}, "reg.lambda_up"),
    ],
)
def test_network_refuses_with_config_error(kw, key):
    sizes = kw.pop("sizes", [5, 4, 3])
    with pytest.raises(BadValueError) as e:
        sg.Network(sizes, **kw)
    assert e.value.key == key and str(e.value).startswith(f"{key} must be ")


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"lr": NAN}, "lr"),
        ({"lr": INF}, "lr"),
        ({"lr": 0}, "lr"),
        ({"lr": True}, "lr"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"eps": INF}, "eps"),
    ],
)
def test_adam_refuses_bad_settings(kw, key):
    with pytest.raises(BadValueError) as e:
        sg.Adam({"w": np.zeros(2)}, **kw)
    assert e.value.key == key


def _state(opt):
    return (
        {k: v.copy() for k, v in opt.params.items()},
        {k: v.copy() for k, v in opt.m.items()},
        {k: v.copy() for k, v in opt.v.items()},
        opt.step_count,
    )


def _assert_same(a, b):
    for da, db in zip(a[:3], b[:3], strict=True):
        assert da.keys() == db.keys()
        for k in da:
            np.testing.assert_array_equal(da[k], db[k])
    assert a[3] == b[3]


def test_adam_step_refuses_bad_grads_and_changes_nothing(rng):
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    opt = sg.Adam(params, lr=1e-2)
    good = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    opt.step(good)
    before = _state(opt)
    nan_b = {"a": good["a"], "b": np.array([1.0, 2.0, NAN, 0.0, 1.0])}  # bad key last
    inf_a = {"a": np.full((3, 4), INF), "b": good["b"]}
    cases = [
        ({"a": good["a"]}, InputError, "missing \\['b'\\]"),
        ({**good, "c": good["b"]}, InputError, "unknown \\['c'\\]"),
        (nan_b, TrainingError, "'b'"),
        (inf_a, TrainingError, "'a'"),
        ({"a": good["a"][:2], "b": good["b"]}, ShapeError, "'a'"),
        ({"a": good["a"].astype(np.float32), "b": good["b"]}, DTypeError, "float32"),
        ({"a": good["a"].tolist(), "b": good["b"]}, InputError, "'a'"),
    ]
    for grads, err, match in cases:
        with pytest.raises(err, match=match):
            opt.step(grads)
        _assert_same(_state(opt), before)
    # after the refusals a good step is exactly the one an untroubled optimiser makes
    ref = sg.Adam({k: v.copy() for k, v in before[0].items()}, lr=1e-2)
    ref.m, ref.v, ref.step_count = before[1], before[2], before[3]
    opt.step(good)
    ref.step(good)
    _assert_same(_state(opt), _state(ref))
    assert opt.step_count == 2


def test_adam_step_without_the_finiteness_check_lets_nan_through(rng):
    opt = sg.Adam({"w": np.zeros(3)}, lr=1e-2)
    opt.step({"w": np.array([NAN, 1.0, 1.0])}, check_finite=False)
    assert np.isnan(opt.params["w"][0]) and opt.step_count == 1


@pytest.mark.parametrize(
    "x",
    [
        np.zeros((2, 3, 5), dtype=complex),
        np.zeros((2, 3, 5)).astype(str),
        np.zeros((2, 3, 5), dtype=object),
        "abc",
    ],
    ids=["complex", "str-array", "object", "str"],
)
def test_input_of_other_dtypes_is_refused(x):
    net = sg.Network([5, 4, 3])
    with pytest.raises(InputError, match="dtype"):
        net.loss_and_grad(x, np.array([0, 1]))
    with pytest.raises(InputError, match="dtype"):
        net.predict(x)


@pytest.mark.parametrize("bad", [np.array(["0"]), np.array([0j])], ids=["str", "complex"])
def test_event_indices_of_other_dtypes_are_refused(bad):
    with pytest.raises(InputError, match=r"SpikeEvents\.t must hold integer indices; got dtype"):
        sg.SpikeEvents([0], bad, [0], (1, 1, 1))


@pytest.mark.parametrize(
    "y,shown",
    [
        ([0, 3], "got y[1] = 3"),
        ([-1, 0], "got y[0] = -1"),
        ([0.0, 1.5], "got dtype float64 (y[0] = 0.0)"),
        (["a", "b"], "(y[0] = 'a')"),
    ],
)
def test_bad_labels_are_named(y, shown, rng):
    net = sg.Network([5, 4, 3])
    x = rng.random((2, 3, 5)) < 0.5
    with pytest.raises(InputError, match=r"y must hold integer labels in 0\.\.2") as e:
        net.loss_and_grad(x, np.array(y))
    assert shown in str(e.value)


def _garbage(path):
    path.write_bytes(b"garbage " * 20)


def _pickled(path):
    np.savez(path, meta=np.array([{"a": 1}], dtype=object))


def _no_meta(path):
    np.savez(path, a=np.zeros(3))


def _bad_meta(path):
    np.savez(path, meta=np.array('{"format": "spikegrad-checkpoint", "version": 1}'))


def _junk_member(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.npy", b"junk")


@pytest.mark.parametrize(
    "make,why",
    [
        (_garbage, "not a .npz (zip) archive"),
        (_pickled, "Python objects"),
        (_no_meta, "no 'meta' record"),
        (_bad_meta, "meta record: bad or missing"),
        (_junk_member, "unreadable contents"),
    ],
)
def test_garbage_checkpoint_gets_our_one_line(tmp_path, make, why):
    path = tmp_path / "x.npz"
    make(path)
    with pytest.raises(DataError) as e:
        ckpt_io.load(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: corrupt or not a spikegrad checkpoint") and why in msg
    assert "allow_pickle" not in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("name", "enc", "msg"),
    [
        ("fmnist", {"T": "x"}, "fmnist: T must be an integer >= 1; got 'x'"),
        ("fmnist", {"T": 2.5}, "fmnist: T must be an integer >= 1; got 2.5"),
        ("shd", {"dt": "a"}, "shd: dt must be a finite number > 0; got 'a'"),
        ("fmnist", {"tau_eff": float("nan")}, "fmnist: tau_eff must be a finite number; got nan"),
    ],
)
def test_bad_encoding_values_are_one_line_before_any_file_is_read(name, enc, msg):
    with pytest.raises(sg.ConfigError) as info:
        sg.datasets.load(name, root="/nonexistent-spikegrad-data", **enc)
    assert str(info.value) == msg
