"""Every .cu file compiles with NVRTC (no GPU needed) for sm_80 and sm_90, each dtype.

Two builds per file: (1) per architecture, the launcher's text (headers inlined), its options
and every name expression of the kernel table (each neuron kind, float and double, int and
long long instances), as CuPy builds it; (2) for one architecture (the instances do not depend
on it), the file as it stands (-I for its headers), with no -D options (every macro has a
default) and no name expressions, which must still emit every instance: proof that the file's
explicit instantiations cover the table.
"""

from __future__ import annotations

import re

import pytest

from spikegrad import kernels as K

ARCHS = ["sm_80", "sm_90"]
CUPY_EXTRA = ["-ftz=true", "--device-as-default-execution-space"]  # what CuPy adds on its own
_named: dict[tuple[str, str], object] = {}


def _compile_named(nvrtc, stem: str, arch: str):
    """Build (1), memoized: both tests below use it."""
    if (stem, arch) not in _named:
        opts = [*K.options(arch), *CUPY_EXTRA]
        _named[stem, arch] = nvrtc.compile_cu(
            K.module_source(stem), f"{stem}.cu", opts, K.name_expressions(stem)
        )
    return _named[stem, arch]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("stem", sorted(K.KERNELS))
def test_compiles_with_launcher_options(nvrtc, stem, arch):
    out = _compile_named(nvrtc, stem, arch)
    assert set(out.lowered) == set(K.name_expressions(stem))
    assert "warning" not in out.log.lower(), out.log
    for lowered in out.lowered.values():
        assert lowered.encode() in out.cubin


@pytest.mark.parametrize("arch", ARCHS[-1:])  # the instances do not depend on the arch
@pytest.mark.parametrize("stem", sorted(K.KERNELS))
def test_compiles_standalone_with_explicit_instances(nvrtc, stem, arch):
    named = _compile_named(nvrtc, stem, arch)
    plain = nvrtc.compile_cu(
        K.source(stem),
        f"{stem}.cu",
        [*(f"-I{d}" for d in K.include_dirs(stem)), f"--gpu-architecture={arch}"],
        [],
    )
    missing = [e for e, low in named.lowered.items() if low.encode() not in plain.cubin]
    assert not missing, f"{stem}.cu lacks explicit instantiations of {missing}"


@pytest.mark.parametrize("stem", sorted(K.KERNELS))
def test_kernel_table_matches_source(stem):
    defined = set(
        re.findall(r"__global__\s+void\s+__launch_bounds__\([^)]*\)\s+(\w+)\s*\(", K.source(stem))
    )
    assert defined == set(K.KERNELS[stem]), f"{stem}.cu defines {sorted(defined)}"


def test_compile_error_names_the_file(nvrtc):
    tool = type(nvrtc).__module__
    with pytest.raises(Exception, match=r"broken\.cu") as info:
        nvrtc.compile_cu(
            "__global__ void k() { undefined_symbol; }",
            "broken.cu",
            ["--gpu-architecture=sm_80"],
            [],
        )
    assert type(info.value).__module__ == tool
