"""Package discovery (pyproject.toml holds everything else).

Every package under ``spikegrad/`` is found, never listed by hand; the command line lives in
the top-level ``cli/`` folder and is installed as ``spikegrad.cli`` (with any subpackage of
its own). Package data (``*.cu``, ``*.cuh``, ``*.h``, ``*.c``) is taken by glob for every
package in pyproject.toml; a folder of kernel sources needs an ``__init__.py`` to be a
package (tests/test_install_forms.py builds the wheel and checks every file is in it).
"""

from setuptools import find_packages, setup

CLI = ["spikegrad.cli"] + [f"spikegrad.cli.{p}" for p in find_packages("cli")]

setup(
    packages=find_packages(include=["spikegrad", "spikegrad.*"]) + CLI,
    package_dir={"spikegrad.cli": "cli"},
)
