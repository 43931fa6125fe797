"""Mutation tests of the CPU emulation: each bug the issue lists, planted in a temp copy of the
kernel sources, must make the hardened emulation fail (a wrong result, an EmulationError, a
sanitizer report), quickly and without hanging.

Mutations are text replacements on the current sources; a pattern that no longer matches
fails the test (update the mutation when a kernel changes), so no check passes vacuously.
The checks call the kernel tests of test_emulation.py / test_emulator.py on a launcher over
the mutated build, in the launch mode that should catch the bug; the two whose failure is a
wild or out-of-bounds read run pytest in a subprocess (under AddressSanitizer for the latter).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spikegrad import kernels as K
from spikegrad import neurons

from . import test_emulation as TE
from . import test_emulation_half as TH
from . import test_emulation_kinds as TK
from . import test_emulation_rlif as TRL
from . import test_emulator as TR
from .conftest import HERE, emu_mode, load_emu


def _call_args(text: str, start: int) -> tuple[int, list[str]]:
    """End index and top-level arguments of the call whose '(' is at text[start]."""
    depth, args, last = 0, [], start + 1
    for i in range(start, len(text)):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(text[last:i].strip())
                return i + 1, args
        elif c == "," and depth == 1:
            args.append(text[last:i].strip())
            last = i + 1
    raise ValueError("unbalanced parentheses")


def _plain_adds(text: str) -> tuple[str, int]:
    """Every atomicAdd(addr, val) becomes (*(addr) += (val)): the lost-update bug."""
    out, n, pos = [], 0, 0
    for m in re.finditer(r"\batomicAdd\s*\(", text):
        if m.start() < pos or text[: m.start()].rstrip().endswith("define"):
            continue
        end, (addr, val) = _call_args(text, m.end() - 1)
        out += [text[pos : m.start()], f"(*({addr}) += ({val}))"]
        pos, n = end, n + 1
    return "".join(out) + text[pos:], n


def _sub(pattern: str, repl: str, count: int = 0) -> Callable[[str], tuple[str, int]]:
    return lambda text: re.subn(pattern, repl, text, count=count)


# name -> (files, mutation[, the stem to build]); each file must change
MUTATIONS = {
    "atomic-plain-add": (["spmm.cu"], _plain_adds),
    "shuffle-mask": (
        ["lif_backward.cu"],
        _sub(r"(__shfl_\w+_sync\(\s*)0xffffffffu?", r"\g<1>0x0000ffffu"),
    ),
    "grid-stride": (["adam.cu"], _sub(r"\+=\s*sg_stride\(\)", "+= 2 * sg_stride()")),
    "half-warp-skip": (
        ["lif_backward.cu"],
        _sub(r"(\w+\s*\+=\s*__shfl_down_sync\()", r"if ((threadIdx.x & 31u) < 16u) \g<1>"),
    ),
    "index-read-as-int32": (
        ["lif_backward.cu"],
        _sub(r"d\[idx\[k\]\]", "d[((const int*)idx)[k]]", 1),
    ),
    "offset-truncated-to-int32": (
        ["lif_backward.cu"],
        _sub(r"\(sg_i64\)rows\[k\] \* m", "(int)(rows[k] * m)"),
    ),
    "oob-read": (["lif_backward.cu"], _sub(r"j < m; \+\+j\) acc \+=", "j <= m; ++j) acc +=", 1)),
    # rlif.cu: spike list compacted with the warps in reverse order (not ascending)
    "rlif-compaction-order": (["rlif.cu"], _sub(r"before \+= q < warp", "before += q > warp")),
    # rlif.cu: the backward leaves u and sigma' in its scratch (they leak into earlier steps)
    "rlif-stale-delta": (["rlif.cu"], _sub(r"db\[j\] = T\(0\);\s*db\[n_n \+ j\] = T\(0\);", "", 1)),
    # rlif.cu: the recurrent dot product skips every other chunk of 32 terms
    "rlif-half-dot": (["rlif.cu"], _sub(r"k < n_n; k \+= 32\)", "k < n_n; k += 64)")),
    # rlif.cu: per-neuron constants read as neuron 0's
    "rlif-alpha-neuron-0": (
        ["rlif.cu"],
        _sub(r"K::load\(k, cons, n_args, n_c, j\)", "K::load(k, cons, n_args, n_c, 0)"),
    ),
    # common.cuh: float16 weights rebiased by 113 (not 127 - 15): every value x2
    "f16-exponent-bias": (["common.cuh"], _sub(r"0x38000000u", "0x38800000u"), "lif", "spmm"),
    # common.cuh: bfloat16 weights shifted by 15 (not 16) into the float's bits
    "bf16-shift": (["common.cuh"], _sub(r"w\.bits << 16", "w.bits << 15"), "lif", "spmm"),
    # the kinds' pieces (spikegrad/neurons/<kind>.h, built into the stem named last)
    # CuBa: V[t+1] takes I[t+1] (the current updated first), not I[t]
    "cuba-update-order": (
        ["cuba.h"],
        _sub(
            r"\(\(x\)\[0\] = (.*?),(\s*\\\n\s*)\(x\)\[1\] = \(x\)\[1\] \* \(k\)\[1\] \+ \(h\)\)",
            r"((x)[1] = (x)[1] * (k)[1] + (h),\2(x)[0] = \1)",
        ),
        "lif",
    ),
    # CuBa: eps_I[t] takes eps[t] (updated first), not eps[t+1]
    "cuba-adjoint-order": (
        ["cuba.h"],
        _sub(
            r"\(\(y\)\[1\] = (.*?),(\s*\\\n\s*)\(y\)\[0\] = (.*?)\)\)\n",
            r"((y)[0] = \3),\2(y)[1] = \1)\n",
        ),
        "lif_backward",
    ),
    # ALIF: the threshold without the adaptation (theta alone)
    "alif-threshold-fixed": (
        ["alif.h"],
        _sub(r"\(\(k\)\[3\] \+ \(k\)\[2\] \* \(x\)\[1\]\)", "((k)[3])"),
        "lif",
    ),
    # ALIF: delta without the adaptation's term (1 - rho) eps_a[t+1]
    "alif-delta-local": (
        ["alif.h"],
        _sub(r"SG_ADD\(\(u\), SG_MUL\(\(k\)\[4\], \(y\)\[1\]\)\)", "(u)"),
        "lif_backward",
    ),
}


def mutate(name: str, dest: Path) -> list[str]:
    """Copy the kernel sources to dest with mutation ``name`` applied; the stems changed."""
    files, fn, *stem = MUTATIONS[name]
    dest.mkdir(parents=True, exist_ok=True)
    for p in load_emu().package_sources():
        shutil.copy(p, dest / p.name)
    for f in files:
        text, n = fn((dest / f).read_text())
        if n == 0:
            pytest.fail(f"mutation {name}: pattern not found in {f}; update it to the kernel")
        (dest / f).write_text(text)
    return stem or [f.removesuffix(".cu") for f in files]


@pytest.fixture
def mutant(request, tmp_path, emu_build_dir, emu_launcher):
    """A CpuLauncher over every kernel file, with mutation request.param planted (only the
    mutated files are built again; the others are the session's builds)."""
    tool = load_emu()
    stems = mutate(request.param, tmp_path / "src")
    libs = {**emu_launcher.libs, **tool.build_all(emu_build_dir, stems, src=tmp_path / "src")}
    return tool.CpuLauncher(libs)


def _fails(check: Callable[[], object]) -> str:
    """Run a check that must fail; the failure's text."""
    err = (AssertionError, load_emu().EmulationError)
    with pytest.raises(err) as info:
        check()
    return str(info.value)


@pytest.mark.parametrize("mutant", ["atomic-plain-add"], indirect=True)
def test_lost_updates_are_seen(mutant, monkeypatch, tmp_path, emu_cache):
    """Seen as lost updates when the workers overlap (a few seconds of tries), else by TSan."""
    monkeypatch.setattr(K, "_deterministic", False)
    mutant.configure(workers=4)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 5.0:
        try:
            TR.check_atomics(mutant, repeats=1)
        except AssertionError as e:
            assert "lost updates" in str(e)
            return
    args = [str(HERE / "test_emulator.py") + "::test_atomic_kernels_lose_no_update"]
    log = _subprocess_fails(tmp_path, emu_cache, "atomic-plain-add", "thread", args, "spmm")
    assert "ThreadSanitizer: data race" in log


@pytest.mark.parametrize("mutant", ["shuffle-mask"], indirect=True)
def test_shuffle_mask_is_honoured(mutant):
    with emu_mode(mutant, "plain"):
        msg = _fails(lambda: TE.test_gather_rowdot(mutant, 70, 37, np.int32, 2, np.float64))
    assert "does not name it" in msg


@pytest.mark.parametrize("mutant", ["half-warp-skip"], indirect=True)
def test_half_warp_skip_is_an_error_not_a_hang(mutant):
    t0 = time.perf_counter()
    with emu_mode(mutant, "plain"):
        msg = _fails(lambda: TE.test_gather_rowdot(mutant, 70, 37, np.int32, 2, np.float64))
    assert "__shfl_down_sync" in msg and time.perf_counter() - t0 < 10


@pytest.mark.parametrize("mutant", ["grid-stride"], indirect=True)
def test_grid_stride_loop_needs_the_capped_grid(mutant):
    sizes = [(3, 5), (300,), (1, 1)]
    with emu_mode(mutant, "plain"):  # one grid pass covers everything: the bug hides
        TE.test_adam(mutant, sizes, np.float64)
    with emu_mode(mutant, "stress"):
        _fails(lambda: TE.test_adam(mutant, sizes, np.float64))


@pytest.mark.parametrize("mutant", ["index-read-as-int32"], indirect=True)
def test_int64_path_on_small_data(mutant):
    with emu_mode(mutant, "plain"):  # int32 indices: the bug hides
        TE.test_lif_backward_sparse(mutant, False, "band", np.float64)
    with emu_mode(mutant, "stress"):
        _fails(lambda: TE.test_lif_backward_sparse(mutant, False, "band", np.float64))


def _subprocess_fails(tmp_path, emu_cache, name, sanitize, args, stems):
    mutate(name, tmp_path / "src")
    env = {"SG_EMU_SRC": str(tmp_path / "src"), "SG_EMU_STEMS": stems, "SG_EMU_MODES": "plain"}
    out = TR._pytest_under(sanitize, env, args, emu_cache)
    assert out.returncode != 0, f"mutation {name} went unnoticed:\n{out.stdout[-2000:]}"
    return out.stdout + out.stderr


@pytest.mark.slow
def test_offset_truncation_is_seen(tmp_path, emu_cache):
    args = [str(HERE / "test_emulator.py") + "::test_offsets_beyond_int32"]
    name, stems = "offset-truncated-to-int32", "lif_backward,spmm"
    log = _subprocess_fails(tmp_path, emu_cache, name, None, args, stems)
    assert "FAILED" in log or "Fatal Python error" in log or "Segmentation" in log


@pytest.mark.slow
def test_out_of_bounds_read_is_seen(tmp_path, emu_cache):
    args = [str(HERE / "test_emulation.py") + "::test_gather_rowdot[plain-f64-int32-300-37-1]"]
    log = _subprocess_fails(tmp_path, emu_cache, "oob-read", "address", args, "lif_backward")
    assert "AddressSanitizer" in log and "overflow" in log


@pytest.mark.parametrize("mutant", ["rlif-compaction-order"], indirect=True)
def test_rlif_spike_list_is_ascending(mutant, monkeypatch):
    """The forward must add the R rows in the twin's order: bitwise equality sees it."""
    shape = (9, 3, 13, 97)
    with emu_mode(mutant, "plain"):
        _fails(
            lambda: TRL.test_rlif_forward_sparse_spikes(
                mutant, monkeypatch, shape, 0.2, "scalar-shared", np.float64
            )
        )


@pytest.mark.parametrize("mutant", ["rlif-stale-delta", "rlif-half-dot"], indirect=True)
def test_rlif_backward_mutations_are_seen(mutant, monkeypatch):
    with emu_mode(mutant, "plain"):
        _fails(
            lambda: TRL.test_rlif_backward_sparse(
                mutant, monkeypatch, "wide", "scalar-shared", np.float64
            )
        )


@pytest.mark.parametrize("mutant", ["rlif-alpha-neuron-0"], indirect=True)
def test_rlif_per_neuron_alpha_is_read(mutant, monkeypatch):
    fwd, bwd = TRL.test_rlif_forward_sparse_spikes, TRL.test_rlif_backward_sparse
    shape = (9, 3, 13, 97)
    with emu_mode(mutant, "plain"):
        fwd(mutant, monkeypatch, shape, 0.2, "scalar-shared", np.float64)  # the bug hides
        _fails(lambda: fwd(mutant, monkeypatch, shape, 0.2, "neuron-global", np.float64))
        _fails(lambda: bwd(mutant, monkeypatch, "band", "neuron-global", np.float64))


# mutation of a kind's piece -> (kind, the check that must fail)
KIND_MUTATIONS = {
    "cuba-update-order": ("cuba", "scan"),
    "alif-threshold-fixed": ("alif", "scan"),
    "cuba-adjoint-order": ("cuba", "backward"),
    "alif-delta-local": ("alif", "backward"),
}


@pytest.mark.parametrize("mutant", sorted(KIND_MUTATIONS), indirect=True)
def test_kind_piece_mutations_are_seen(mutant, request, monkeypatch):
    """A kind's update, threshold or adjoint planted wrong: the kernels no longer equal the
    kind's twin (the scan bit for bit, the feed-forward sparse backward to rounding)."""
    name, check = KIND_MUTATIONS[request.node.callspec.params["mutant"]]
    kind = neurons.get(name)
    with emu_mode(mutant, "plain"):
        if check == "scan":
            _fails(lambda: TK.test_kind_scan(mutant, kind, True, np.float64))
        else:
            args = (mutant, monkeypatch, ((kind, "ff"), "band"), np.float64)
            _fails(lambda: TK.test_kind_backward_sparse(*args))


@pytest.mark.filterwarnings("ignore:layer .* has no active neuron")
@pytest.mark.parametrize(
    ("mutant", "wd"),
    [("f16-exponent-bias", "float16"), ("bf16-shift", "bfloat16")],
    indirect=["mutant"],
)
def test_half_weight_conversions_are_seen(mutant, wd, monkeypatch):
    """A 16-bit weight read planted wrong (common.cuh: sg_wload): the products and the fused
    forward no longer equal the twins on the same copy."""
    with emu_mode(mutant, "plain"):
        _fails(lambda: TH.test_half_products(mutant, wd, 1))
        _fails(
            lambda: TH.test_step_through_kernels_reads_the_copy(
                mutant, monkeypatch, wd, "lif", False, "sparse"
            )
        )
