"""``python -m nas.inspect``: the old name of ``python -m nas.show`` (what a genotype builds)."""

from nas.show import main

if __name__ == "__main__":
    main()
