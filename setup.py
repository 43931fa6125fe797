"""Package discovery (pyproject.toml holds everything else).

Every package under ``spikegrad/`` is found, never listed by hand; the command line lives in
the top-level ``cli/`` folder and is installed as ``spikegrad.cli`` (with any subpackage of
its own). Package data (``*.cu``, ``*.cuh``, ``*.h``, ``*.c``) is taken by glob for every
package in pyproject.toml.
"""

from setuptools import find_packages, setup

CLI = ["spikegrad.cli"] + [f"spikegrad.cli.{p}" for p in find_packages("cli")]

setup(
    packages=find_packages(include=["spikegrad", "spikegrad.*"]) + CLI,
    package_dir={"spikegrad.cli": "cli"},
)
