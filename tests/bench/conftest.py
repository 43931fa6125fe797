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
