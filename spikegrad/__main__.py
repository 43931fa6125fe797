"""``python -m spikegrad``: the command line."""

from spikegrad.cli import main

main()
