"""What ``python -m nas.search`` does with a composed config, without Hydra's process: parse, then run."""

from nas.settings import parse_search
from nas.workers.run_study import run_study


def search(cfg, *args, **kwargs):
    return run_study(parse_search(cfg), *args, **kwargs)
