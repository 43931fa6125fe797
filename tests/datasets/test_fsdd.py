"""FSDD: wav folders -> cochlea spikes, the official split, the cache, bad files, real data."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest

from spikegrad import audio, datasets
from spikegrad.datasets import fsdd
from spikegrad.errors import ConfigError, DataError

SR = 8000


def write_wav(path, samples, rate=SR, channels=1, width=2):
    data = np.asarray(samples, dtype=np.float64)
    pcm = np.clip(data * 32767, -32768, 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm, channels)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def tone(freq, seconds=0.15, rate=SR):
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t)


@pytest.fixture
def folder(tmp_path):
    """3 digits x 2 speakers, index 0..1 (test) and 5..6 (train); tones stand in for speech."""
    d = tmp_path / "fsdd" / "recordings"
    d.mkdir(parents=True)
    for digit in (0, 1, 2):
        for speaker in ("bob", "alice"):
            for idx in (0, 1, 5, 6):
                write_wav(d / f"{digit}_{speaker}_{idx}.wav", tone(300 + 400 * digit))
    return tmp_path


def test_official_split_labels_and_speakers(folder):
    train = datasets.load("fsdd", root=folder, split="train", T=20)
    test = datasets.load("fsdd", root=folder, split="test", T=20)
    assert (len(train), len(test)) == (12, 12)
    assert (train.n_inputs, train.n_classes, train.T) == (700, 10, 20)
    np.testing.assert_array_equal(np.bincount(train.labels), [4, 4, 4])
    assert set(train.extra["index"]) == {5, 6} and set(test.extra["index"]) == {0, 1}
    assert fsdd.speakers_of(folder / "fsdd") == ["alice", "bob"]
    assert set(train.extra["speaker"]) == {0, 1}
    assert train.class_names[:3] == ["zero", "one", "two"]
    assert train.n_events > 1000 and train.t.max() < 20


def test_events_are_the_binned_encoder_output(folder):
    ds = datasets.load("fsdd", root=folder, split="train", T=30, dt=5e-3, rate=SR)
    path = folder / "fsdd" / "recordings" / "0_alice_5.wav"
    x, rate = fsdd.read_wav(path)
    t, u = audio.encode(x, rate)
    step = np.rint(t / 5e-3).astype(np.int64)
    want = np.unique(step[step < 30] * 700 + u[step < 30])
    k = 0  # first sample: files are sorted by name, 0_alice_5 comes first
    got = ds.t[ds.offsets[k] : ds.offsets[k + 1]].astype(np.int64) * 700 + ds.i[
        ds.offsets[k] : ds.offsets[k + 1]
    ].astype(np.int64)
    np.testing.assert_array_equal(np.sort(got), want)
    assert rate == SR and x.size == int(0.15 * SR)


def test_pool_sums_neighbouring_channels(folder):
    ds = datasets.load("fsdd", root=folder, split="test", T=20, pool=10)
    assert ds.n_inputs == 70 and ds.i.max() < 70
    with pytest.raises(ConfigError, match="pool"):
        datasets.load("fsdd", root=folder, split="test", pool=3)


def test_second_load_reads_the_cache(folder, monkeypatch):
    a = datasets.load("fsdd", root=folder, split="test", T=20)

    def boom(*_):
        raise AssertionError("encoded again")

    monkeypatch.setattr(fsdd, "encode_files", boom)
    b = datasets.load("fsdd", root=folder, split="test", T=20)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.extra["speaker"], b.extra["speaker"])
    with pytest.raises(AssertionError, match="encoded again"):  # another option: a new entry
        datasets.load("fsdd", root=folder, split="test", T=21)


def test_flat_folder_and_one_line_for_a_missing_split(tmp_path):
    write_wav(tmp_path / "3_carol_7.wav", tone(500))
    ds = datasets.load("fsdd", root=tmp_path, split="train", T=10)
    assert len(ds) == 1 and ds.labels[0] == 3
    with pytest.raises(datasets.MissingDataError, match=r"fsdd \(test\).*index 0-4") as exc:
        datasets.load("fsdd", root=tmp_path, split="test")
    assert "\n" not in str(exc.value)


def test_other_sample_rate_is_resampled(tmp_path):
    write_wav(tmp_path / "1_dan_9.wav", tone(440, 0.2, 16000), rate=16000)
    x, rate = fsdd.read_wav(tmp_path / "1_dan_9.wav")
    assert rate == 16000
    y = fsdd.to_rate(x, rate)
    assert y.size == 1600  # 0.2 s at 8 kHz
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.fft.rfftfreq(y.size, 1 / SR)[spec.argmax()] - 440) < 10
    assert len(datasets.load("fsdd", root=tmp_path, split="train", T=10)) == 1


def _bad(path, kind):
    if kind == "not riff":
        path.write_bytes(b"hello, not a wav file at all")
    elif kind == "truncated":
        write_wav(path, tone(300))
        path.write_bytes(path.read_bytes()[:-100])
    elif kind == "header":
        path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    elif kind == "compressed":  # WAVE_FORMAT_IEEE_FLOAT (3): not PCM
        data = np.zeros(10, "<f4").tobytes()
        fmt = struct.pack("<HHIIHH", 3, 1, SR, SR * 4, 4, 32)
        body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
        body += b"data" + struct.pack("<I", len(data)) + data
        path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    elif kind == "stereo":
        write_wav(path, tone(300), channels=2)
    return path


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("not riff", "not a RIFF/WAVE file"),
        ("truncated", "truncated wav file"),
        ("header", "(truncated|unreadable)"),
        ("compressed", "only uncompressed PCM"),
        ("stereo", "2 channels"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, kind, match):
    path = _bad(tmp_path / "4_eve_8.wav", kind)
    with pytest.raises(DataError, match=match) as exc:
        fsdd.read_wav(path)
    assert str(path) in str(exc.value)
    with pytest.raises(DataError, match=match):
        datasets.load("fsdd", root=tmp_path, split="train", cache=False)


def test_unexpected_name_is_refused(tmp_path):
    write_wav(tmp_path / "hello.wav", tone(300))
    with pytest.raises(DataError, match=r"hello\.wav: unexpected file name"):
        datasets.load("fsdd", root=tmp_path, split="train")


def test_speaker_split_holds_one_speaker_out(folder):
    ds = datasets.load("fsdd", root=folder, split="train", T=10)
    train, val = fsdd.speaker_split(ds, "bob")
    assert set(val.extra["speaker"]) == {1} and set(train.extra["speaker"]) == {0}
    assert set(val.extra["speaker_name"]) == {"bob"} and len(train) + len(val) == len(ds)
    assert len(fsdd.speaker_split(ds, 0)[1]) == 6
    with pytest.raises(ConfigError, match="val_speaker must be one of alice, bob; got 'eve'"):
        fsdd.speaker_split(ds, "eve")


def test_verify_reports_each_split(folder):
    out = datasets.verify("fsdd", folder)
    assert out["train (wav)"]["n_files"] == 12 and out["train (wav)"]["bad_sizes"] == 0
    _bad(folder / "fsdd" / "recordings" / "2_bob_6.wav", "truncated")
    out = datasets.verify("fsdd", folder)
    assert out["train (wav)"]["bad_sizes"] == 1
    assert "2_bob_6.wav: truncated" in out["train (wav)"]["problems"][0]
    assert out["test (wav)"]["bad_sizes"] == 0


def test_train_config_names_the_held_out_speaker():
    from spikegrad.train.config import make_config

    line = make_config("fsdd", val_speaker="theo").describe().splitlines()[1]
    assert line.startswith("data     fsdd (") and line.endswith("validation speaker theo held out")


def test_download_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="not downloaded by spikegrad"):
        datasets.download("fsdd", tmp_path)


def test_real_files(shared_data):
    folder = shared_data / "fsdd"
    if not folder.is_dir():
        pytest.skip("no fsdd folder")
    paths, speakers = fsdd.find_files(folder, "train")
    assert len(paths) == 2700 and len(speakers) == 6
    with pytest.raises(datasets.MissingDataError, match="index 0-4"):  # held back
        fsdd.find_files(folder, "test")
    x, rate = fsdd.read_wav(paths[0])
    assert rate == SR and 0.1 < x.size / rate < 2.5
    assert datasets.verify("fsdd", shared_data)["train (wav)"]["bad_sizes"] == 0


def test_rate_option_resamples_before_the_cochlea(folder):
    a = datasets.load("fsdd", root=folder, split="test", T=20, rate=SR)
    b = datasets.load("fsdd", root=folder, split="test", T=20, rate=16000)
    # at 16 kHz the hair cells run at 8 kHz: fewer spontaneous coincidences, fewer events
    assert b.n_events < a.n_events
    with pytest.raises(ConfigError, match="rate"):
        datasets.load("fsdd", root=folder, split="test", rate=10)


def test_the_longest_files_are_encoded_here_while_the_workers_run(tmp_path, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    d = tmp_path / "recordings"
    d.mkdir()
    paths = [
        write_wav(d / f"{k % 10}_bob_{5 + k}.wav", tone(300 + 50 * k, 1.0 if k == 3 else 0.15))
        for k in range(10)
    ]
    opts = {"channels": 40, "pool": 1, "seed": 0, "dt": 4e-3, "T": 300, "rate": SR}
    serial = fsdd.encode_files(paths, opts, jobs=1)
    sent = []

    class Pool(ProcessPoolExecutor):
        def map(self, fn, jobs, **kw):
            jobs = list(jobs)
            sent.extend(path for path, _ in jobs)
            return super().map(fn, jobs, **kw)

    monkeypatch.setattr(fsdd, "ProcessPoolExecutor", Pool)
    both = fsdd.encode_files(paths, opts, jobs=2)
    assert sent == [str(p) for k, p in enumerate(paths) if k != 3]  # the long one: here
    assert len(both) == 10 and serial[3][0].max() > 200  # the long file reaches past 0.8 s
    for a, b in zip(serial, both, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
