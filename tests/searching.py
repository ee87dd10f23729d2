"""What ``python -m nas.search`` does with a composed config, without Hydra's process: parse, then run."""

from nas.study.settings import parse_search
from nas.study.worker import run_search


def search(cfg, *args, **kwargs):
    return run_search(parse_search(cfg), *args, **kwargs)
