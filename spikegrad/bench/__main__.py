"""``python -m spikegrad.bench [--gpu] ...``: the CPU report, or with ``--gpu`` the GPU one."""

from spikegrad.bench.cpu import main

main()
