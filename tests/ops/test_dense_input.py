"""Dense 0/1 input to the time-major CSR (op ``dense_to_csr``): the native kernel
(spikegrad/ops/dense_input/cpu.h) against its NumPy twin and a per-row reference, every dtype,
layouts, edge shapes, the refusal of other values and the int32 limits."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import native
from spikegrad.backend import lookup
from spikegrad.errors import InputError
from spikegrad.native import build
from spikegrad.ops import dense_input as di
from spikegrad.ops.dense_input import glue as dig
from spikegrad.spikes import as_spike_matrix

DTYPES = [
    bool, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
    np.float32, np.float64,
]  # fmt: skip
SHAPES = [
    (1, 1, 1), (1, 6, 7), (5, 1, 9), (4, 7, 1), (3, 5, 32), (2, 9, 33), (6, 4, 100),
    (2, 3, 0), (0, 3, 5), (2, 0, 5),
]  # fmt: skip
NATIVE = "native", "twin"


@pytest.fixture(autouse=True)
def _need_native():
    if not native.status()["active"]:
        pytest.skip(f"native kernels unavailable: {native.status()['reason']}")


def reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row by row: row t * B + b lists the j with x[b, t, j] != 0."""
    B, T, _ = x.shape
    rows = [np.flatnonzero(np.asarray(x[b, t]) != 0) for t in range(T) for b in range(B)]
    indptr = np.concatenate(([0], np.cumsum([r.size for r in rows]))).astype(np.int32)
    indices = np.concatenate([np.zeros(0, np.int64), *rows]).astype(np.int32)
    return indptr, indices


def run(which: str, x: np.ndarray):
    return dig.dense_to_csr(x) if which == "native" else di.dense_to_csr(x)


def assert_csr(got, ref) -> None:
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == np.int32 and g.ndim == 1
        np.testing.assert_array_equal(g, r)


def random_input(rng, shape, p, dtype) -> np.ndarray:
    return (rng.random(shape) < p).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_matches_twin_and_reference(rng, dtype, shape):
    for p in (0.0, 0.05, 0.4, 1.0):
        x = random_input(rng, shape, p, dtype)
        ref = reference(x)
        assert ref[1].size == int(np.count_nonzero(x))
        assert_csr(di.dense_to_csr(x), ref)
        assert_csr(dig.dense_to_csr(x), ref)


def test_registry_prefers_the_kernel_and_the_engine_uses_the_op(rng):
    assert lookup("dense_to_csr", "numpy") is dig.dense_to_csr
    with native.mode("0"):
        assert lookup("dense_to_csr", "numpy") is di.dense_to_csr
    x = random_input(rng, (3, 8, 20), 0.3, np.float32)
    m = as_spike_matrix(np, x, 20)
    assert (m.T, m.B, m.N) == (8, 3, 20)
    assert_csr((m.indptr, m.indices), reference(x))


def layouts(rng, dtype):
    """Views of one logical (B, T, N) input: the contiguous array first."""
    B, T, N = 4, 6, 70
    x = random_input(rng, (B, T, N), 0.2, dtype)
    yield x
    yield np.asfortranarray(x)
    yield np.ascontiguousarray(np.moveaxis(x, 0, 1)).transpose(1, 0, 2)  # time-major storage
    yield np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1)  # time last in memory
    wide = np.zeros((B + 1, 2 * T, N + 5), dtype)
    wide[1:, ::2, 2:-3] = x
    yield wide[1:, ::2, 2:-3]  # strided b and t, offset, contiguous units
    yield np.repeat(x, 2, axis=2)[:, :, ::2]  # strided units
    yield x[::-1, ::-1, ::-1].copy()[::-1, ::-1, ::-1]  # negative strides
    yield np.broadcast_to(x[:1, :1], (B, T, N))  # zero strides
    raw = np.zeros(x.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(x.dtype).reshape(x.shape)
    unaligned[...] = x
    yield unaligned


@pytest.mark.parametrize("dtype", [bool, np.uint16, np.float32, np.float64])
def test_every_layout(rng, dtype):
    for x in layouts(rng, dtype):
        ref = reference(x)
        assert_csr(di.dense_to_csr(x), ref)
        assert_csr(dig.dense_to_csr(x), ref)
    assert not x.flags.aligned or np.dtype(dtype).itemsize == 1  # the last one is not


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_column_kernels_for_units_not_contiguous(monkeypatch, rng, dtype, shape):
    used = []
    kernels = dig._kernels
    monkeypatch.setattr(dig, "_kernels", lambda name: used.append(name) or kernels(name))
    x = random_input(rng, shape, 0.3, dtype)
    for order in [(2, 1, 0), (0, 2, 1), (2, 0, 1), (1, 2, 0)]:  # F order, time last, ...
        view = np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))
        assert_csr(dig.dense_to_csr(view), reference(x))
    if x.size:
        assert any(name.startswith("cols") for name in used) == (shape[2] > 1 < max(shape[:2]))


def test_dtypes_the_kernel_lacks_run_the_twin(rng):
    for dtype in (np.float16, np.dtype(">f4"), np.dtype(">i8")):
        x = random_input(rng, (3, 4, 10), 0.3, dtype)
        assert_csr(dig.dense_to_csr(x), reference(x))
    with pytest.raises(InputError, match="got dtype complex64"):  # 0/1 in complex: refused
        dig.dense_to_csr(random_input(rng, (3, 4, 10), 0.3, np.complex64))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_the_kernels_write_every_slot(rng, dtype):
    """Called directly on buffers full of -1 (np.empty may hand back a previous result)."""
    B, T, N = 2, 9, 33  # N: one block of SG_DBLK = 32 and a tail
    x = random_input(rng, (B, T, N), 0.5, dtype)
    x[:, :, -1] = 1
    count, fill = dig._kernels(dig._suffix(x.dtype))
    indptr = np.full(T * B + 1, -1, np.int64)
    assert count(x.ctypes.data, B, T, N, T * N, N, 1, indptr.ctypes.data) == -1
    indices = np.full(int(indptr[-1]), -1, np.int32)
    fill(x.ctypes.data, B, T, N, T * N, N, 1, indptr.ctypes.data, indices.ctypes.data)
    assert_csr((indptr.astype(np.int32), indices), reference(x))


@pytest.mark.parametrize("which", NATIVE)
def test_negative_zero_is_zero(which):
    x = np.zeros((2, 3, 40))
    x[1, 2, 5] = x[0, 0, 39] = -0.0
    x[1, 1, 7] = 1.0
    assert_csr(run(which, x.astype(np.float32)), reference(x))
    assert run(which, x)[1].tolist() == [7]


def twin_message(x: np.ndarray) -> str:
    with pytest.raises(sg.InputError) as info:
        sg.SpikeEvents.from_dense(x)  # the check that predates the kernel
    return str(info.value)


BAD_VALUES = {"i": (2, -1, 100), "u": (2, 255), "f": (2, -1, 0.5, np.nan, np.inf, -np.inf)}


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int64, np.uint64, np.float32])
@pytest.mark.parametrize("which", NATIVE)
def test_other_values_are_refused_naming_the_first(rng, dtype, which):
    B, T, N = 3, 5, 37
    last = (B - 1, T - 1, N - 1)
    for where in [(0, 0, 0), last, (1, 3, 20), (2, 0, 32)]:
        for value in BAD_VALUES[np.dtype(dtype).kind]:
            x = random_input(rng, (B, T, N), 0.3, dtype)
            if where != last:
                x[last] = 3  # a later bad value: the first one is named
            x[where] = value
            with pytest.raises(sg.InputError, match="only 0 and 1") as info:
                run(which, x)
            assert str(info.value) == twin_message(x)
            assert f"found {float(x[where])!r}." in str(info.value)


@pytest.mark.parametrize("which", NATIVE)
def test_the_first_bad_value_in_c_order_is_named_in_every_layout(which):
    x = np.zeros((3, 4, 10), np.float32)
    x[1, 1, 5] = 5  # first in C order
    x[2, 0, 0] = 7  # first in a time-major or F-order memory
    for view in (
        x,
        np.asfortranarray(x),
        np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2),
        np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1),
    ):
        with pytest.raises(sg.InputError, match=r"found 5\.0\."):
            run(which, view)


@pytest.mark.parametrize("which", NATIVE)
def test_nan_is_refused_in_float64_and_in_a_view(which):
    x = np.zeros((2, 4, 9))
    x[1, 3, 8] = np.nan
    with pytest.raises(sg.InputError, match="found nan"):
        run(which, x)
    with pytest.raises(sg.InputError, match="found nan"):
        run(which, np.asfortranarray(x))
    with pytest.raises(sg.InputError, match="found nan"):
        run(which, x.transpose(1, 0, 2).copy().transpose(1, 0, 2))


def test_bool_bytes_other_than_one_are_spikes_as_in_the_twin():
    raw = np.zeros((2, 3, 40), np.uint8)  # 40 bytes: one group of four words and a tail
    raw[0, 1, [4, 9, 20, 31, 33]] = [1, 2, 0x80, 0x10, 7]
    raw[1, 2, 11] = 0xFF
    x = raw.view(bool)
    assert_csr(dig.dense_to_csr(x), di.dense_to_csr(x))
    assert dig.dense_to_csr(x)[1].tolist() == [4, 9, 20, 31, 33, 11]


@pytest.mark.parametrize("which", NATIVE)
def test_more_spikes_than_int32_holds_is_refused(monkeypatch, which):
    x = np.ones((2, 3, 5), np.float32)
    assert_csr(run(which, x), reference(x))
    monkeypatch.setattr(di.twin, "INDEX_MAX", 29)
    with pytest.raises(sg.InputError, match="30 spikes"):
        run(which, x)
    x[0, 0, 0] = 0
    assert_csr(run(which, x), reference(x))


def test_two_to_the_31_spikes_are_counted_without_overflow():
    """2**31 ones (one 32 KiB row seen T = 65536 times through a zero stride): the count
    reaches nnz = 2**31 exactly and is refused before anything of that size is allocated."""
    row = np.ones(2**15, np.uint8)
    x = np.lib.stride_tricks.as_strided(row, (1, 2**16, 2**15), (0, 0, 1))
    with pytest.raises(sg.InputError, match=f"x holds {2**31} spikes"):
        dig.dense_to_csr(x)


@pytest.mark.parametrize("which", NATIVE)
def test_too_many_units_for_int32_indices_is_refused(which):
    x = np.lib.stride_tricks.as_strided(np.zeros(1, bool), (1, 1, 2**31), (0, 0, 0))
    with pytest.raises(sg.ShapeError, match="int32 unit indices"):
        run(which, x)


def test_engine_input_takes_array_likes(rng):
    x = random_input(rng, (2, 3, 4), 0.5, np.float32)
    m = as_spike_matrix(np, x.tolist(), 4)
    assert_csr((m.indptr, m.indices), reference(x))

    class ArrayLike:  # e.g. a CPU tensor: ndim and dtype that NumPy does not know, __array__
        ndim, dtype = 3, "tensor.float32"

        def __array__(self, dtype=None, copy=None):
            return x

    m = as_spike_matrix(np, ArrayLike(), 4)
    assert_csr((m.indptr, m.indices), reference(x))


def test_engine_input_checks_shape_then_values(rng):
    x = random_input(rng, (2, 3, 10), 0.3, np.float32)
    with pytest.raises(sg.ShapeError, match="network expects 11"):
        as_spike_matrix(np, x, 11)
    with pytest.raises(sg.ShapeError, match=r"\(B, T, N\)"):
        as_spike_matrix(np, x[0], 10)
    with pytest.raises(sg.ShapeError, match="B >= 1"):
        as_spike_matrix(np, x[:0], 10)
    x[1, 2, 9] = 0.25
    with pytest.raises(sg.InputError, match=r"found 0\.25"):
        as_spike_matrix(np, x, 10)


# A planted bug in a copy of the kernel source must make these tests fail (each replaces one
# place; none writes out of bounds). The first two build the source as it is: the harness, and
# the portable word scan of compilers without a trailing-zero count.
MUTATIONS = {
    "none (the harness itself)": ("", ""),
    "none, portable word scan": ("", ""),
    "float check drops the 1": ("(((v) != 0) & ((v) != 1))", "((v) != 0)"),
    "integer check admits 2": ("SG_BAD_INT(v) ((v) > 1)", "SG_BAD_INT(v) ((v) > 2)"),
    "rows in memory order": ("indptr[1 + t * B + b] = c", "indptr[1 + r] = c"),
    "byte flags fold one step less": ("t |= t >> 1;", "t |= 0;"),
    "fill skips the tail": ("if (p[j0 * sn] != 0) indices[k++]", "if (0) indices[k++]"),
    "fill ignores the unit stride": ("if (p[j0 * sn] != 0)", "if (p[j0] != 0)"),
    "column rows in memory order": (
        "indptr[1 + o * ro + a * ra] = cnt[a]",
        "indptr[1 + o * A + a] = cnt[a]",
    ),
    "column kernel: first bad slice in memory order": (
        "int64_t c_bad = o * co + a_bad * ca;",
        "int64_t c_bad = o * A + a_bad;",
    ),
    "first bad slice in memory order": (
        "if (bad && b * T + t < first_bad) first_bad = b * T + t;",
        "if (bad && r < first_bad) first_bad = r;",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_planted_bug_is_caught(tmp_path, rng, name):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src = Path(dig.__file__).with_name("cpu.h")
    old, new = MUTATIONS[name]
    text = src.read_text()
    assert text.count(old) == 1 or old == new, f"mutation {name!r} does not match one place"
    (tmp_path / "cpu.h").write_text(text.replace(old, new))
    unit = f'#include "{build.HERE / "core.h"}"\n#include "{tmp_path / "cpu.h"}"\n'
    (tmp_path / "cpu_ops.c").write_text(unit)  # the library's core and this family alone
    lib_path = tmp_path / "mutant.so"
    flags = ["-DSG_NO_CTZ"] if "portable" in name else []
    subprocess.run(
        [cc, "-O1", *flags, "-std=c99", "-fPIC", "-shared", tmp_path / "cpu_ops.c", "-o", lib_path],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    build._declare(lib, "sg_dense_")  # the declarations of the real library

    def kernels(suffix):
        return getattr(lib, f"sg_dense_count_{suffix}"), getattr(lib, f"sg_dense_fill_{suffix}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dig, "_kernels", kernels)
        caught = False
        try:
            test_kernel_matches_twin_and_reference(rng, np.float32, (2, 9, 33))
            test_kernel_matches_twin_and_reference(rng, np.int16, (2, 9, 33))
            test_the_kernels_write_every_slot(rng, np.float32)
            test_the_kernels_write_every_slot(rng, np.uint8)
            test_every_layout(rng, np.float32)
            test_bool_bytes_other_than_one_are_spikes_as_in_the_twin()
            test_the_first_bad_value_in_c_order_is_named_in_every_layout("native")
            test_other_values_are_refused_naming_the_first(rng, np.float32, "native")
            test_other_values_are_refused_naming_the_first(rng, np.int16, "native")
        except (Exception, pytest.fail.Exception):  # a wrong result, a wrong error
            caught = True
        assert caught == (old != new)
