"""The cochlea front end: the op's C kernel against its NumPy twin, the op's checks, the
chain's properties, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.fft

from spikegrad import audio, native
from spikegrad.audio import cochlea as C
from spikegrad.backend import lookup
from spikegrad.datasets.binning import bin_events
from spikegrad.errors import BackendUnavailableError, ConfigError, DTypeError, ShapeError
from spikegrad.ops.cochlea import check_cochlea_hair_bushy, glue, hair_bushy_numpy

SR = 8000


def tone(freq: float, seconds: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.sin(2 * np.pi * freq * t)


@pytest.fixture(scope="module")
def lib():
    try:
        return native.library()
    except BackendUnavailableError as exc:
        pytest.skip(f"no native library ({exc}): the NumPy twin is the only path")


def _case(n_channels: int = 40):
    c = C.Cochlea(n_channels=n_channels)
    x = C.prepare(tone(700, 0.1) + 0.3 * tone(2300, 0.1), c.rms)
    hair, bushy = C._params(c, SR / 2)
    return C.membrane(x, SR, c), hair, bushy, c.n_fibres


def test_c_and_numpy_twin_give_the_same_bits(lib):
    bm, hair, bushy, n_fib = _case()
    a = glue.hair_bushy(bm, hair, bushy, n_fib, 7)
    b = hair_bushy_numpy(bm, hair, bushy, n_fib, 7)
    assert a.sum() > 100  # the drive is strong enough to make spikes
    np.testing.assert_array_equal(a, b)
    big = glue.hair_bushy(bm, hair, bushy, n_fib, 2**64 + 7)  # the seed is taken mod 2**64
    np.testing.assert_array_equal(big, a)
    np.testing.assert_array_equal(
        hair_bushy_numpy(bm[:5], hair, bushy, n_fib, -1),
        glue.hair_bushy(bm[:5], hair, bushy, n_fib, -1),
    )


def test_the_native_switch_picks_the_kernel(lib):
    with native.mode("1"):
        assert lookup("cochlea_hair_bushy", "numpy") is glue.hair_bushy
    with native.mode("0"):
        assert lookup("cochlea_hair_bushy", "numpy") is hair_bushy_numpy


def test_strided_membrane_goes_to_the_twin(lib):
    bm, hair, bushy, n_fib = _case(8)
    wide = np.repeat(bm, 2, axis=1)[:, ::2]  # equal values, not C-contiguous
    assert not wide.flags.c_contiguous
    np.testing.assert_array_equal(
        glue.hair_bushy(wide, hair, bushy, n_fib, 3), hair_bushy_numpy(bm, hair, bushy, n_fib, 3)
    )


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"bm": np.zeros(10, np.float32)}, ShapeError, "bm must be 2-D"),
        ({"bm": np.zeros((2, 10))}, DTypeError, "bm must be float32"),
        ({"hair": np.zeros(10)}, ShapeError, "hair must have shape"),
        ({"bushy": np.zeros((5, 1))}, ShapeError, "bushy must have shape"),
        ({"n_fib": 0}, ConfigError, "n_fib must be an int >= 1"),
        ({"n_fib": 2.0}, ConfigError, "n_fib must be an int >= 1"),
        ({"seed": 1.5}, ConfigError, "seed must be an int"),
    ],
)
@pytest.mark.parametrize("impl", ["check", "twin", "native"])
def test_the_checks_refuse_bad_arguments(change, error, match, impl, request):
    args = {
        "bm": np.zeros((2, 10), np.float32),
        "hair": np.zeros(11),
        "bushy": np.zeros(5),
        "n_fib": 40,
        "seed": 0,
        **change,
    }
    if impl == "native":
        request.getfixturevalue("lib")
    fn = {"check": check_cochlea_hair_bushy, "twin": hair_bushy_numpy, "native": glue.hair_bushy}
    with pytest.raises(error, match=match):
        fn[impl](*args.values())  # the registry passes them by position


def test_native_argument_without_a_library(monkeypatch):
    """native=True: one error naming the reason; False: the twin, silently; None: the switch
    (auto: warn once, then the twin)."""
    from spikegrad.native import build

    monkeypatch.setattr(native, "_build", lambda: build.Built(None, "no C compiler found"))
    native._warn_once.cache_clear()
    x = tone(1000, 0.02)
    with pytest.raises(BackendUnavailableError, match="no C compiler found"):
        audio.encode(x, SR, n_channels=10, native=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = audio.encode(x, SR, n_channels=10, native=False)
    with native.mode("auto"), pytest.warns(RuntimeWarning, match="NumPy ops"):
        got = audio.encode(x, SR, n_channels=10)
    np.testing.assert_array_equal(got[0], ref[0])
    native._warn_once.cache_clear()


def test_numpy_path_runs_through_encode():
    x = tone(1000, 0.05)
    t1, u1 = audio.encode(x, SR, n_channels=30, native=False)
    t2, u2 = audio.encode(x, SR, n_channels=30)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(u1, u2)


def test_output_layout_sorted_and_in_range():
    x = tone(500, 0.4)
    t, u = audio.encode(x, SR)
    assert t.dtype == np.float64 and u.dtype == np.int64 and t.size == u.size > 1000
    assert u.min() >= 0 and u.max() <= 699
    assert t.min() >= 0 and t.max() <= x.size / SR  # N // 2 + 1 steps: the last at the end
    key = np.rint(t * SR / 2).astype(np.int64) * 700 + u  # half-rate grid, then channel
    assert np.all(np.diff(key) > 0)
    np.testing.assert_allclose(t * SR / 2, np.rint(t * SR / 2), atol=1e-9)


def test_seed_picks_the_fibre_draws():
    x = tone(800, 0.2)
    a = audio.encode(x, SR, seed=1)
    b = audio.encode(x, SR, seed=1)
    c = audio.encode(x, SR, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].size != c[0].size or not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("freq", [300, 1000, 3000])
def test_a_tone_drives_the_channels_tuned_to_it(freq):
    t, u = audio.encode(tone(freq, 0.5), SR)
    counts = np.bincount(u[t > 0.1], minlength=700)
    busiest = np.convolve(counts, np.ones(20), "valid").argmax() + 10
    bf = audio.best_frequency(audio.Cochlea())
    place = int(np.argmin(np.abs(bf - freq)))
    assert bf[0] > bf[-1]  # channel 0: the base, highest frequency
    assert abs(busiest - place) < 40, (busiest, place)


def test_silence_gives_only_the_spontaneous_rate():
    t, _ = audio.encode(np.zeros(4000), SR)
    rate = t.size / 700 / 0.5
    assert 10 < rate < 60  # a bushy cell fed by 40 resting fibres: ~30 Hz


def test_louder_does_not_matter_level_is_normalised():
    x = tone(600, 0.2)
    a = audio.encode(x, SR)
    b = audio.encode(100 * x, SR)
    np.testing.assert_array_equal(a[1], b[1])


def test_half_rate_fold_equals_keeping_every_other_sample():
    x = np.random.default_rng(0).normal(size=3001)
    full = C.membrane(x, SR, C.Cochlea(n_channels=20, decimate=1))
    half = C.membrane(x, SR, C.Cochlea(n_channels=20, decimate=2))
    np.testing.assert_allclose(half, full[:, ::2], rtol=0, atol=1e-5 * np.abs(full).max())


@pytest.mark.parametrize("n", [3200, 3201])
def test_span_puts_lauscher_steps_across_the_recording(n):
    t = np.arange(n) / SR
    cycles = 7  # a whole number of periods over the recording: the resampling is exact
    x = np.cos(2 * np.pi * cycles * t / (n / SR))
    k = n // 2 + 1
    got = C.spanned(x)[::2]
    want = np.cos(2 * np.pi * cycles * np.arange(k) / k)  # step m at m n / k input samples
    assert got.shape == (k,)
    np.testing.assert_allclose(got, want, atol=1e-9)
    mask, rate = C.spike_mask(x, SR, C.Cochlea(n_channels=8))
    assert mask.shape == (8, k) and rate == SR / 2
    mask, _ = C.spike_mask(x, SR, C.Cochlea(n_channels=8, span=False))
    assert mask.shape == (8, -(-n // 2))


def test_causal_is_the_mirror_of_lauschers_reversed_phase():
    rev = C.compute_transfer(C.Cochlea(n_channels=30), 2048, float(SR))
    fwd = C.compute_transfer(C.Cochlea(n_channels=30, causal=True), 2048, float(SR))
    np.testing.assert_array_equal(fwd, np.conj(rev))
    # the middle ear: below its corner the base's level rises faster than the velocity's f
    f = np.fft.rfftfreq(2048, 1 / SR)
    lo, hi = np.searchsorted(f, [50.0, 100.0])
    assert 3.0 < abs(rev[0, hi]) / abs(rev[0, lo]) < 4.0  # 2^(1 + ~0.75)


def test_transfer_peaks_at_the_best_frequency():
    c = C.Cochlea(n_channels=100)
    h = np.abs(C.transfer(c, 8192, float(SR)))
    f = np.fft.rfftfreq(8192, 1 / SR)
    bf = C.best_frequency(c)
    for ch in (40, 60, 80):  # best frequencies inside the band
        assert abs(f[h[ch].argmax()] / bf[ch] - 1) < 0.15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"samples": np.zeros((2, 10))}, "1-D real array"),
        ({"samples": np.array([0.0, np.nan])}, "finite"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"n_channels": 0}, "n_channels"),
        ({"decimate": 3}, "decimate must be 1 or 2"),
        ({"gain": float("inf")}, "gain must be finite"),
        ({"ear_corner": 0.0}, "ear_corner must be > 0 Hz"),
        ({"bogus": 1}, "unknown cochlea constant"),
    ],
)
def test_bad_input_is_one_line(kwargs, match):
    args = {"samples": tone(500, 0.01), "sample_rate": SR, **kwargs}
    with pytest.raises(ConfigError, match=match):
        audio.encode(**args)


def test_empty_recording_gives_no_spikes():
    t, u = audio.encode(np.zeros(0), SR)
    assert t.size == u.size == 0


def test_transfer_does_not_depend_on_the_frequency_block(monkeypatch):
    c = C.Cochlea(n_channels=50)
    whole = C.compute_transfer(c, 2048, float(SR))
    monkeypatch.setattr(C, "FREQ_BLOCK", 7)  # 1024 frequencies: 146 blocks and a rest of 2
    assert np.array_equal(C.compute_transfer(c, 2048, float(SR)), whole)
    assert whole[:, 0].tolist() == [0] * 50 and np.all(np.isfinite(whole))


def test_a_shorter_transfer_is_every_other_column_of_a_longer(monkeypatch):
    monkeypatch.setattr(C, "_TRANSFERS", {})
    c = C.Cochlea(n_channels=30)
    long = C.transfer(c, 8192, float(SR))
    assert np.array_equal(long, C.compute_transfer(c, 8192, float(SR)))
    for n in (4096, 1024):  # kept from the longer one: the same bits as computing them
        got = C.transfer(c, n, float(SR))
        assert got.flags.c_contiguous and np.array_equal(got, long[:, :: 8192 // n])
        assert np.array_equal(got, C.compute_transfer(c, n, float(SR)))
    assert C.transfer(c, 3000, float(SR)).shape == (30, 1501)  # not a divisor: computed
    C.transfer(c, 9000, float(SR))
    computed = []
    real = C.compute_transfer
    monkeypatch.setattr(C, "compute_transfer", lambda *a: computed.append(a[1]) or real(*a))
    C.transfer(c, 4500, float(SR))  # 9000 / 2: kept from it
    C.transfer(c, 1800, float(SR))  # 9000 / 5: not a power of two, computed
    assert computed == [1800]
    for n in range(C.N_TRANSFERS + 2):
        C.transfer(c, 64 * (n + 1), 1000.0)
    assert len(C._TRANSFERS) == C.N_TRANSFERS


def _membrane_whole(samples, sample_rate, c):
    """The membrane as one product, fold and inverse FFT over all channels at once."""
    n, d = samples.size, c.decimate
    n_fft = C.fft_size(n, sample_rate, d)
    spec = scipy.fft.rfft(samples, n_fft).astype(np.complex64) * np.float32(c.gain)
    prod = C.compute_transfer(c, n_fft, float(sample_rate)) * spec
    m = n_fft // d
    if d == 2:
        prod = (prod[:, : m // 2 + 1] + np.conj(prod[:, m : m // 2 - 1 : -1])) * np.float32(0.5)
    return np.ascontiguousarray(scipy.fft.irfft(prod, m, axis=1)[:, : -(-n // d)], np.float32)


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
@pytest.mark.parametrize(("n_channels", "decimate"), [(100, 2), (33, 1)])
def test_membrane_blocks_give_the_whole_arrays_bits(monkeypatch, block, n_channels, decimate):
    monkeypatch.setattr(C, "MEMBRANE_BLOCK", block)
    x = C.prepare(np.random.default_rng(block).normal(size=2001), 0.3)
    c = C.Cochlea(n_channels=n_channels, decimate=decimate)
    got = C.membrane(x, SR, c)
    assert got.shape == (n_channels, -(-2001 // decimate)) and got.flags.c_contiguous
    assert np.array_equal(got, _membrane_whole(x, SR, c))


@pytest.mark.parametrize(
    ("dt", "T", "pool"), [(4e-3, 100, 1), (4e-3, 100, 10), (1e-3, 37, 7), (1e-4, 3000, 2)]
)
def test_encode_binned_is_bin_events_of_encode(dt, T, pool):
    x = tone(600, 0.3) + tone(1900, 0.3)
    t, u = audio.encode(x, SR, seed=4)
    want = bin_events(t, u // pool, np.array([0, t.size]), dt, T, 700 // pool)
    got = audio.encode_binned(x, SR, dt, T, pool=pool, seed=4)
    assert got[0].dtype == got[1].dtype == np.int64 and got[0].size > 100
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_encode_binned_of_nothing():
    t, i = audio.encode_binned(np.zeros(0), SR, 4e-3, 10)  # no samples
    assert t.size == i.size == 0 and t.dtype == i.dtype == np.int64
    t, i = audio.encode_binned(tone(500, 0.3), SR, 1.0, 1)  # step 0: only the first 0.5 s
    want = np.unique(audio.encode(tone(500, 0.3), SR)[1])
    assert np.array_equal(t, np.zeros(want.size)) and np.array_equal(i, want)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt": 0.0}, "dt must be a finite number > 0"),
        ({"dt": float("nan")}, "dt must be a finite number > 0"),
        ({"T": 0}, "T must be an integer >= 1"),
        ({"T": 2.5}, "T must be an integer >= 1"),
        ({"pool": 0}, "pool must be an integer >= 1"),
        ({"pool": 3}, r"pool \(3\) must divide n_channels \(700\)"),
        ({"gain": float("inf")}, "gain must be finite"),
    ],
)
def test_encode_binned_bad_input_is_one_line(kwargs, match):
    args = {"samples": tone(500, 0.01), "sample_rate": SR, "dt": 4e-3, "T": 10, **kwargs}
    with pytest.raises(ConfigError, match=match):
        audio.encode_binned(**args)
