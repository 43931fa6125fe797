"""Without a usable GPU: backend="cupy" raises one clear BackendUnavailableError and
backend="auto" falls back to NumPy, saying so once per process.

Both missing-CuPy and CuPy-without-driver are simulated, so these run on any machine; the
tests on the real environment skip where a GPU is present.
"""

from __future__ import annotations

import sys
import types
import warnings

import pytest

import spikegrad as sg
from spikegrad import backend


class _NoDevice:
    """Stands in for cupy.cuda.runtime when no driver is loaded."""

    class CUDARuntimeError(RuntimeError):
        pass

    @classmethod
    def getDeviceCount(cls) -> int:
        raise cls.CUDARuntimeError(
            "cudaErrorInsufficientDriver: CUDA driver version is insufficient"
        )


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=_NoDevice)
    monkeypatch.setitem(sys.modules, "cupy", fake)


@pytest.fixture
def fresh_note():
    backend._auto_note.cache_clear()
    yield
    backend._auto_note.cache_clear()


def test_cupy_missing_names_the_extras(no_cupy):
    with pytest.raises(sg.BackendUnavailableError, match=r"cuda12.*cuda13") as info:
        sg.Network([4, 3, 2], backend="cupy")
    assert isinstance(info.value, RuntimeError)


def test_cupy_without_driver_says_so(cupy_without_gpu):
    with pytest.raises(sg.BackendUnavailableError, match="no CUDA driver/GPU"):
        sg.Network([4, 3, 2], backend="cupy")
    assert not backend.cupy_available()


@pytest.mark.parametrize("env", ["no_cupy", "cupy_without_gpu"])
def test_auto_falls_back_once(request, env, fresh_note):
    request.getfixturevalue(env)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        nets = [sg.Network([4, 3, 2], backend="auto") for _ in range(3)]
    notes = [w for w in seen if "using the NumPy backend" in str(w.message)]
    assert len(notes) == 1 and notes[0].category is RuntimeWarning
    assert all(n.backend.name == "numpy" for n in nets)


def test_this_machine_without_gpu():
    if backend.cupy_available():
        pytest.skip("a GPU is present: the fallback does not apply")
    with pytest.raises(sg.BackendUnavailableError):
        sg.Network([4, 3, 2], backend="cupy")


def test_kernel_flags_and_table():
    from spikegrad import kernels as K

    old = K.is_deterministic()
    try:
        K.set_deterministic(True)
        assert K.is_deterministic()
        K.set_deterministic(False)
        assert not K.is_deterministic()
    finally:
        K.set_deterministic(old)
    with pytest.raises(sg.DTypeError):
        K.template_args("float16")
    assert K.template_args("float32", "int64") == ("float", "long long")
    assert "lif_spikes_emit_kernel<sg_lif, double, double, int>" in K.name_expressions("lif")
    # a weight-reading kernel: the float type, then the weights' storage (16-bit copies)
    assert K.template_args("float32", "int32", weights="uint16") == ("float", "sg_bf16", "int")
    assert "lif_spikes_emit_kernel<sg_lif, float, sg_f16, int>" in K.name_expressions("lif")
    assert "lif_spikes_emit_kernel<sg_lif, double, sg_f16, int>" not in K.name_expressions("lif")
    with pytest.raises(sg.DTypeError, match="float16/bfloat16 copies for float32"):
        K.template_args("float64", weights="float16")
    assert K.kernel_dir().joinpath("common.cuh").is_file()
