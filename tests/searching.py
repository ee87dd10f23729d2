"""What ``python -m nas.search`` does with a composed config, without Hydra's process: parse, then run."""

from nas.settings import parse_search
from nas.workers import search as searching


def search(cfg, *args, **kwargs):
    return searching.search(parse_search(cfg), *args, **kwargs)
