"""Tiny benchmark cases (the real ones take minutes on a CPU)."""

from __future__ import annotations

import dataclasses

import pytest

from spikegrad.bench import CASES


@pytest.fixture
def tiny_fmnist():
    return dataclasses.replace(CASES["fmnist"], name="tiny", sizes=(30, 20, 20, 5), B=8, T=20)


@pytest.fixture
def tiny_shd():
    return dataclasses.replace(CASES["shd"], name="tiny-shd", sizes=(40, 24, 24, 5), B=6, T=40)


@pytest.fixture(autouse=True)
def fake_bandwidth(monkeypatch):
    """The reports' bandwidth probe replaced by fixed figures (the real one copies arrays of
    twice the L3 size; tests/bench/test_limits.py runs it on small sizes)."""
    from spikegrad.bench import machine

    fake = {lv: {"working_set": 2.0**20, "bytes_per_s": 1e10} for lv in ("L2", "L3", "DRAM")}
    monkeypatch.setattr(machine, "bandwidth", lambda: fake)
    return fake
