"""`spikegrad datasets verify` on extracted N-MNIST layouts and `datasets list` presence."""

from __future__ import annotations

import json

from spikegrad.cli import cli

EVENT = bytes([3, 4, 0x80, 0x00, 0x10])  # x 3, y 4, ON, t 16 µs


def _tree(root, split="Train", digits=(0, 7)):
    for d in digits:
        (root / "nmnist" / split / str(d)).mkdir(parents=True)
        (root / "nmnist" / split / str(d) / "00001.bin").write_bytes(EVENT * 2)


def _flat(folder, ids=(1, 2)):
    folder.mkdir(parents=True)
    (folder / "train1K.txt").write_text("#sample label\n" + "".join(f"{i} {i}\n" for i in ids))
    for i in ids:
        (folder / f"{i}.bs2").write_bytes(EVENT)


def test_verify_accepts_an_extracted_tree(runner, tmp_path):
    _tree(tmp_path)
    _tree(tmp_path, "Test", (1,))
    res = runner.invoke(cli, ["datasets", "verify", "nmnist", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "2 files (tree), sizes ok" in res.output and "1 files (tree)" in res.output
    (tmp_path / "nmnist" / "Test" / "1" / "00001.bin").write_bytes(EVENT + b"\x00")
    res = runner.invoke(cli, ["datasets", "verify", "nmnist", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1 and "1 BAD SIZES" in res.output, res.output


def test_verify_accepts_the_flat_layout_one_level_down(runner, tmp_path):
    _flat(tmp_path / "nmnist" / "NMNISTsmall")
    res = runner.invoke(
        cli, ["datasets", "verify", "nmnist", "--data-dir", str(tmp_path), "--json"]
    )
    assert res.exit_code == 1, res.output  # the test split is neither zipped nor extracted
    r = json.loads(res.stdout.splitlines()[0])
    assert r["train (flat)"]["n_files"] == 2 and r["train (flat)"]["path"].endswith("train1K.txt")
    assert r["Test.zip"]["present"] is False


def test_verify_synthetic_has_nothing_to_check(runner):
    res = runner.invoke(cli, ["datasets", "verify", "synthetic"])
    assert res.exit_code == 0 and "no files to verify" in res.output, res.output


def test_list_says_what_is_present_where(runner, tmp_path):
    _tree(tmp_path)
    res = runner.invoke(cli, ["datasets", "list", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines()[1:]}
    assert f"train present in {tmp_path / 'nmnist'}; test missing" in lines["nmnist"]
    assert f"missing (looked in {tmp_path / 'shd'})" in lines["shd"]
    assert "built in" in lines["synthetic"]
    res = runner.invoke(cli, ["datasets", "list", "--data-dir", str(tmp_path), "--json"])
    rows = {d["name"]: d for d in json.loads(res.stdout)["datasets"]}
    assert rows["nmnist"]["splits"] == {"train": str(tmp_path / "nmnist"), "test": None}
