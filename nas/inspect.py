"""``python -m nas.inspect``: the old name of ``python -m nas.show`` (what a genotype builds)."""

from nas.cli import run_command
from nas.show import main

if __name__ == "__main__":
    run_command(main)
