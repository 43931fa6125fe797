"""Where each real data set comes from: official URLs (first) and mirrors, checksums, sizes.

Checksums are the publishers' own: Fashion-MNIST's four MD5s (Zalando README), N-MNIST's
Train.zip/Test.zip MD5s (Mendeley record doi:10.17632/468j46mzdv.1), and for SHD the data set's
own ``md5sums.txt`` that sits next to the files on the host (fetched at download time, never
hard-coded here). The paper settings are ../shared/spec/PAPER.md §3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_SHD_HOSTS = ("https://zenkelab.org/datasets/", "https://compneuro.net/datasets/")
_FMNIST_HOSTS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
_MENDELEY = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
_DROPBOX = "https://www.dropbox.com/sh/tg2ljlbmtzygrag/"


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: ``name`` under the data set folder, URLs in order of preference.

    md5 None means: look it up in the data set's checksum list (``DatasetInfo.md5_list``).
    unpack "zip" extracts the archive into the data set folder after the checksum matched.
    """

    name: str
    split: str
    urls: tuple[str, ...]
    md5: str | None = None
    unpack: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts of one data set: geometry, default encoding, files and paper settings."""

    name: str
    folders: tuple[str, ...]  # sub-folders of the data root searched, in order
    n_inputs: int
    n_classes: int
    T: int
    dt: float  # seconds per step
    class_names: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    md5_list: tuple[str, ...] = ()  # URLs of a "md5  name" list (SHD's md5sums.txt)
    encoding: dict[str, Any] = field(default_factory=dict)
    paper: dict[str, Any] = field(default_factory=dict)


_GERMAN = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
_ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

SHD = DatasetInfo(
    name="shd",
    folders=("shd", "SHD", "hdspikes"),
    n_inputs=700,
    n_classes=20,
    T=500,
    dt=2e-3,
    class_names=_GERMAN + _ENGLISH,  # replaced by the file's /extra/keys when present
    files=tuple(
        RemoteFile(f"shd_{s}.h5.gz", s, tuple(h + f"shd_{s}.h5.gz" for h in _SHD_HOSTS))
        for s in ("train", "test")
    ),
    md5_list=tuple(h + "md5sums.txt" for h in _SHD_HOSTS),
    encoding={"dt": 2e-3, "T": 500},
    paper={
        "readout": "max (v1 results) / sum (HEAD, v2)",
        "binning": "t_idx = round(t / dt), keep t_idx < T, several spikes in a bin -> 1",
    },
)

NMNIST = DatasetInfo(
    name="nmnist",
    folders=("nmnist", "NMNIST", "N-MNIST"),
    n_inputs=34 * 34,
    n_classes=10,
    T=300,
    dt=1e-3,
    class_names=tuple(str(d) for d in range(10)),
    files=(
        RemoteFile(
            "Train.zip",
            "train",
            (
                _MENDELEY + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",
                _DROPBOX + "AABlMOuR15ugeOxMCX0Pvoxga/Train.zip?dl=1",
            ),
            "20959b8e626244a1b502305a9e6e2031",
            "zip",
        ),
        RemoteFile(
            "Test.zip",
            "test",
            (
                _MENDELEY + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",
                _DROPBOX + "AADSKgJ2CjaBWh75HnTNZyhca/Test.zip?dl=1",
            ),
            "69ca8762b2fe404d9b9bad1103e97832",
            "zip",
        ),
    ),
    encoding={"dt": 1e-3, "T": 300, "polarity": "merge"},
    paper={
        "binning": "unit = x + 34 y (polarities merged), t_idx = round(t / dt), keep t_idx < T",
    },
)

FMNIST = DatasetInfo(
    name="fmnist",
    folders=("fmnist", "fashion_mnist", "FashionMNIST", "fashion-mnist"),
    n_inputs=28 * 28,
    n_classes=10,
    T=100,
    dt=1e-3,
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    files=tuple(
        RemoteFile(f"{p}-{k}.gz", s, tuple(h + f"{p}-{k}.gz" for h in _FMNIST_HOSTS), md5)
        for p, s, k, md5 in (
            ("train", "train", "images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train", "train", "labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k", "test", "images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k", "test", "labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310"),
        )
    ),
    encoding={"T": 100, "tau_eff": 20.0, "thr": 0.2},
    paper={
        "encoding": "latency: x = pixel / 255 spikes once at floor(tau_eff ln(x / (x - thr))),"
        " tau_eff = 20 steps, thr = 0.2; x <= thr never spikes",
    },
)

# The built-in task: the one definition behind ``load("synthetic")`` and the "synthetic" preset of
# ``spikegrad train``; n_samples per split (train and test: disjoint draws of the same manifolds).
SYNTHETIC_TASK: dict[str, Any] = {
    "n_samples": 4000,
    "n_inputs": 100,
    "T": 50,
    "n_classes": 10,
    "dim": 2,
    "jitter": 2.0,
    "seed": 0,
}

SYNTHETIC = DatasetInfo(
    name="synthetic",
    folders=(),
    n_inputs=SYNTHETIC_TASK["n_inputs"],
    n_classes=SYNTHETIC_TASK["n_classes"],
    T=SYNTHETIC_TASK["T"],
    dt=1e-3,
    class_names=tuple(f"manifold {c}" for c in range(SYNTHETIC_TASK["n_classes"])),
    encoding=dict(SYNTHETIC_TASK),
    paper={"note": "embedded Randman task (Zenke & Vogels 2021); not used by the paper"},
)

# Free Spoken Digit Dataset (GitHub Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0): wav
# recordings encoded by spikegrad.audio (SHD's cochlea chain). Not downloaded by spikegrad.
FSDD = DatasetInfo(
    name="fsdd",
    folders=("fsdd", "FSDD", "free-spoken-digit-dataset"),
    n_inputs=700,
    n_classes=10,
    T=250,
    dt=4e-3,
    class_names=_ENGLISH,
    encoding={"dt": 4e-3, "T": 250, "channels": 700, "pool": 1, "seed": 0, "rate": 16000},
    paper={
        "split": "official: index 0-4 test, 5-49 train ({digit}_{speaker}_{index}.wav)",
        "encoding": "spikegrad.audio.encode (SHD's cochlea chain), channels pooled by pool, "
        "binned like SHD",
    },
)

DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (SHD, NMNIST, FMNIST, SYNTHETIC, FSDD)}
