"""The cochlea's C kernel (channels as vector lanes) against its NumPy twin, bit for bit: channel
counts that are and are not multiples of the lane width, other lane widths, refractory,
saturating and silent input, few fibres; planted bugs in a copy of the source must be caught."""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spikegrad import native
from spikegrad.audio import cochlea as C
from spikegrad.errors import BackendUnavailableError
from spikegrad.native import build
from spikegrad.ops.cochlea import binomial_ratios, glue, hair_bushy_numpy
from spikegrad.ops.cochlea.twin import seed_u64

SR = 8000


def _drive(n_ch: int, n_t: int, seed: int) -> np.ndarray:
    """Membrane velocity of a two-tone recording on n_ch channels, louder on some."""
    t = np.arange(2 * n_t) / SR
    x = C.prepare(np.sin(2 * np.pi * 700 * t) + 0.3 * np.sin(2 * np.pi * 2300 * t), 0.3)
    bm = C.membrane(x, SR, C.Cochlea(n_channels=n_ch))
    scale = np.random.default_rng(seed).uniform(0.5, 8.0, (n_ch, 1)).astype(np.float32)
    return np.ascontiguousarray(bm * scale)


def _cases() -> dict[str, tuple]:
    """name -> (bm, hair, bushy, n_fib, seed): the kernel's inputs."""
    c = C.Cochlea()
    hair, bushy = C._params(c, SR / 2)
    out = {}
    for n_ch in (1, 7, 8, 9, 19, 40):  # the lane width is 8 in the library
        out[f"{n_ch} channels"] = (_drive(n_ch, 300, n_ch), hair, bushy, 40, n_ch)
    bm = _drive(11, 400, 0)
    sat = hair.copy()
    sat[8] *= 40.0  # h: release probability clipped at 1, every fibre fires
    out["saturating"] = (bm, sat, bushy, 40, 3)
    many = hair.copy()
    many[8] *= 4.0  # large binomial counts: long inverse-CDF tails
    out["large counts"] = (bm, many, bushy, 40, 5)
    short = bushy.copy()
    short[4] = 2.0  # refractory for 2 steps, weights that make the cell fire at once
    short[2] = 3.0
    out["refractory 2 steps"] = (bm, many, short, 40, 6)
    none = bushy.copy()
    none[4] = 0.0
    out["no refractory"] = (bm, many, none, 40, 6)
    for n_fib in (1, 2, 3):  # fewer fibres than the tail's branch-free terms, and one more
        out[f"{n_fib} fibres"] = (bm, many, short, n_fib, 2**64 + n_fib)
    empty = many.copy()
    empty[10] = 0.0  # pools start empty
    neg = bm.copy()
    neg[::2] = -50.0  # below -A: no permeability
    out["empty pools, negative drive"] = (neg, empty, short, 40, -1)
    out["silence"] = (np.zeros((13, 500), np.float32), hair, bushy, 40, 9)
    return out


CASES = _cases()


@functools.cache
def _twin(name: str) -> np.ndarray:
    return hair_bushy_numpy(*CASES[name])


def _run(fn, bm, hair, bushy, n_fib, seed) -> np.ndarray:
    """``fn`` (the C function sg_cochlea_hair_bushy of some build) on the inputs of a case."""
    out = np.full(bm.shape, 7, np.uint8)
    ratio = binomial_ratios(n_fib)
    p = [a.ctypes.data for a in (bm, np.ascontiguousarray(hair), np.ascontiguousarray(bushy))]
    fn(p[0], *bm.shape, p[1], p[2], ratio.ctypes.data, n_fib, seed_u64(seed), out.ctypes.data)
    return out


@pytest.fixture(scope="module")
def kernel():
    try:
        native.library()
    except BackendUnavailableError as exc:
        pytest.skip(f"no native library ({exc}): the NumPy twin is the only path")
    return native.function("sg_cochlea_hair_bushy")


def _check(fn) -> None:
    for name in CASES:
        np.testing.assert_array_equal(_run(fn, *CASES[name]), _twin(name), err_msg=name)


def test_the_cases_reach_what_they_test():
    assert _twin("8 channels").sum() > 50  # driven
    gaps = np.diff(np.flatnonzero(_twin("saturating")[0]))
    assert (gaps == 5).sum() > 20 and gaps.min() == 5  # fires once the 4 refractory steps end
    assert np.diff(np.flatnonzero(_twin("refractory 2 steps")[0])).min() == 3
    assert np.diff(np.flatnonzero(_twin("no refractory")[0])).min() == 1
    assert _twin("silence").sum() > 0  # spontaneous spikes
    for name in ("1 fibres", "2 fibres", "3 fibres", "empty pools, negative drive"):
        assert _twin(name).sum() > 20, name


def test_the_kernel_gives_the_twins_bits(kernel):
    _check(kernel)


def test_the_op_gives_the_twins_bits_for_every_case(kernel):
    for name, args in CASES.items():
        np.testing.assert_array_equal(glue.hair_bushy(*args), _twin(name), err_msg=name)


# Builds of a copy of cpu.h with the library's core, alone: other lane widths must give the
# same bits; a planted bug (each replaces one place; none writes out of bounds) must be caught.
MUTATIONS = {
    "none, 8 lanes": ("", ""),
    "none, 2 lanes": ("#define SG_COCHLEA_LANES 8", "#define SG_COCHLEA_LANES 2"),
    "none, 4 lanes": ("#define SG_COCHLEA_LANES 8", "#define SG_COCHLEA_LANES 4"),
    "none, 16 lanes": ("#define SG_COCHLEA_LANES 8", "#define SG_COCHLEA_LANES 16"),
    "none, portable conversions": ("", ""),
    "the last lane's pool update, 1e-7 off": (
        "q += dt * dq;",
        "q += dt * dq;\n q[SG_COCHLEA_LANES - 1] *= 1.0000001;",
    ),
    "every block draws as the first": ("mix((uint64_t)(ch0 + i))", "mix((uint64_t)i)"),
    "the tail stops after its branch-free terms": (
        "if (j >= SG_COCHLEA_HEAD && !sg_cochlea_any(go)) break;",
        "if (j >= SG_COCHLEA_HEAD) break;",
    ),
    "the tail's count starts at -1": ("sg_cochlea_vi n = none;", "sg_cochlea_vi n = none - 1;"),
    "a full release is not every fibre": ("n = (full & n_fib) | (~full & n);", ""),
    "the membrane is not held at 0 while refractory": (
        "V = sg_cochlea_sel(busy | fire, zero, Vn);",
        "V = sg_cochlea_sel(fire, zero, Vn);",
    ),
    "one refractory step short": ("(fire & refrac)", "(fire & (refrac - 1))"),
    "pools may go negative": (
        "c = sg_cochlea_sel((sg_cochlea_vi)(c > 0.0), c, zero);",
        "c = sg_cochlea_sel((sg_cochlea_vi)(c > -1e300), c, zero);",
    ),
    "the tile reads one step late": (
        "tile[t][i] = (double)s[t];",
        "tile[t][i] = (double)s[t > 0 ? t - 1 : 0];",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_planted_bug_is_caught(tmp_path, name):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src = Path(glue.__file__).with_name("cpu.h")
    old, new = MUTATIONS[name]
    text = src.read_text()
    assert text.count(old) == 1 or old == "", f"mutation {name!r} does not match one place"
    (tmp_path / "cpu.h").write_text(text.replace(old, new) if old else text)
    unit = f'#include "{build.HERE / "core.h"}"\n#include "{tmp_path / "cpu.h"}"\n'
    (tmp_path / "cochlea.c").write_text(unit)  # the library's core and this family alone
    lib_path = tmp_path / "mutant.so"
    flags = ["-O2", "-ffp-contract=off", "-std=c99", "-fPIC", "-shared"]
    flags += ["-DSG_COCHLEA_NO_CONVERT"] if "portable" in name else []
    subprocess.run([cc, *flags, tmp_path / "cochlea.c", "-o", lib_path], check=True)
    lib = ctypes.CDLL(str(lib_path))
    build._declare(lib, "sg_cochlea_")  # the declarations of the real library
    if name.startswith("none"):
        _check(lib.sg_cochlea_hair_bushy)
    else:
        with pytest.raises(AssertionError):
            _check(lib.sg_cochlea_hair_bushy)
