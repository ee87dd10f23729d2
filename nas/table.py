"""``python -m nas.table``: the tabular benchmark's file, made from the studies that trained it, and its card.

    python -m nas.table build benchmarks/table/build/seed0.journal benchmarks/table/build/seed1.journal
    python -m nas.table card                      # the shipped table's data card figures
    python -m nas.table proxies benchmarks/results/proxy_table.jsonl   # its genotypes' zero-cost proxies
    python -m nas.table fit benchmarks/surrogate/data.json   # a surrogate of a table's runs (evaluator=surrogate)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from pathlib import Path

import optuna
from omegaconf import OmegaConf

from nas.cli import run_command
from nas.runtime import startup
from nas.study.storage import read_storage
from nas.tabular import card as cards
from nas.tabular.extract import from_studies
from nas.tabular.surrogate_model import SURROGATES
from nas.tabular.surrogate_model import fit as fit_surrogate
from nas.tabular.table_file import TABLES, Table, path_of

SPACES = Path(__file__).parent / "conf" / "search_space"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nas.table", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="a table from its studies: the first trains every genotype, later ones repeat some")
    build.add_argument("storages", nargs="+", help="each study's journal file or database URL, first study first")
    build.add_argument("--space", default="dense_grid",
                       help="the search space the studies ran: a shipped one's name or a YAML file of its settings")
    build.add_argument("--out", type=Path, default=None, help="default: nas/tabular/tables/<space>.json")
    build.add_argument("--command", default="bash benchmarks/table/build.sh", help="what rebuilds it (recorded)")
    build.add_argument("--threads", type=int, default=1, help="threads each trial trained on (recorded)")
    build.add_argument("--first", type=int, default=1,
                       help="how many of the storages, at the front, draw the genotypes; the rest repeat some of them")
    build.add_argument("--stopped", action="store_true", help="keep runs a rung stopped, as far as they trained")
    fit = sub.add_parser("fit", help="a surrogate of a table's runs: gradient-boosted trees that answer for any "
                                     "genotype of its space (evaluator=surrogate)")
    fit.add_argument("table", help="a shipped table's name or a table file")
    fit.add_argument("--out", type=Path, default=None, help="default: nas/tabular/surrogates/<space>.json.gz")
    fit.add_argument("--ensemble", type=int, default=5, help="models per target, each bagged with its own seed")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--share", type=float, default=1.0,
                     help="fit on this share of the table's genotypes, drawn at --split-seed (a check against the rest)")
    fit.add_argument("--split-seed", type=int, default=0)
    fit.add_argument("--max-params", type=int, default=None,
                     help="the parameter cap the table's studies ran under (default: its largest genotype's)")
    fit.add_argument("--max-macs", type=int, default=None,
                     help="the multiply-add cap the table's studies ran under (default: its largest genotype's)")
    card = sub.add_parser("card", help="the data card's figures: noise, the true front's composition")
    card.add_argument("table", nargs="?", default="dense_grid", help="a shipped table's name or a table file")
    proxies = sub.add_parser("proxies", help="add zero-cost proxy scores (as benchmarks/proxy_table.py writes them) "
                                            "to a table, for simulated screens (screen=zero_cost)")
    proxies.add_argument("scores", type=Path, help="JSON lines: a genotype_id and, per scoring, proxy → value, seconds")
    proxies.add_argument("--table", default="dense_grid", help="a shipped table's name or a table file")
    proxies.add_argument("--scoring", default="A", help="which scoring of each line (proxy_table.py: A = "
                                                         "initialisation seed 0 on the first batch pair)")
    args = parser.parse_args(argv)
    startup()
    try:
        if args.command == "card":
            print("\n".join(cards.lines(Table.load(args.table))))
            return 0
        if args.command == "proxies":
            return add_proxies(args.scores, args.table, args.scoring)
        if args.command == "fit":
            return write_surrogate(args, "python -m nas.table " + " ".join(sys.argv[1:] if argv is None else argv))
        named = not args.space.endswith((".yaml", ".yml"))
        spec = SPACES / f"{args.space}.yaml" if named else Path(args.space)
        if not spec.is_file():
            raise ValueError(f"--space {args.space}: " + ("no shipped search space of that name" if named else "no such file"))
        if not 1 <= args.first <= len(args.storages):
            raise ValueError(f"--first {args.first}: how many of the {len(args.storages)} storages draw the genotypes, "
                             f"1 to {len(args.storages)}")
        space = OmegaConf.to_container(OmegaConf.load(spec), resolve=True)
        table = from_studies([optuna.load_study(study_name=None, storage=read_storage(s)) for s in args.storages], space,
                             {"command": args.command, "threads": args.threads}, first=args.first, stopped=args.stopped)
        out = args.out or TABLES / f"{space['name']}.json"
        table.save(out)
        print(f"{out}: {len(table.runs)} runs of {len(table.genotypes)} genotypes ({out.stat().st_size:,} bytes)")
        print("\n".join(cards.lines(table)))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def write_surrogate(args: argparse.Namespace, command: str) -> int:
    """Fit a surrogate on the table (on ``--share`` of its genotypes, drawn at ``--split-seed``) and write it."""
    table = Table.load(args.table)
    if not 0 < args.share <= 1:
        raise ValueError(f"--share {args.share}: a share of the genotypes, in (0, 1]")
    ids = sorted(table.genotypes)
    random.Random(args.split_seed).shuffle(ids)
    ids = ids[:round(args.share * len(ids))]
    out = args.out or SURROGATES / f"{table.space['name']}.json.gz"
    fit_surrogate(table, genotype_ids=ids, ensemble=args.ensemble, seed=args.seed, max_params=args.max_params,
                  max_macs=args.max_macs, command=command).save(out)
    print(f"{out}: a surrogate of {len(ids)} of the table's {len(table.genotypes)} genotypes ({out.stat().st_size:,} bytes)")
    return 0


def add_proxies(scores: Path, spec: str, scoring: str) -> int:
    """Write the table again with every genotype's proxies; refuses scores that miss a genotype."""
    table = Table.load(spec)
    if not scores.is_file():
        raise ValueError(f"{scores}: no such file; python benchmarks/proxy_table.py --data-root <cifar10> writes it")
    lines = [json.loads(line) for line in scores.read_text().splitlines() if line.strip()]
    by_id = {r["genotype_id"]: r[scoring] for r in lines if scoring in r}
    missing = [g for g in table.genotypes if g not in by_id]
    if missing:
        raise ValueError(f"{scores}: scoring {scoring!r} lacks {len(missing)} of the table's {len(table.genotypes)} "
                         f"genotypes (e.g. {missing[0]}); score them all first")
    build = {"source": str(scores), "scoring": scoring, "command": "python benchmarks/proxy_table.py",
             "protocol": "the table's training data and batch size, 2 batches, initialisation seed 0, one CPU "
                         "thread; seconds are wall time per proxy"}
    out = dataclasses.replace(table, proxies={g: by_id[g] for g in table.genotypes}, proxies_build=build)
    path = path_of(spec)
    out.save(path)
    print(f"{path}: proxies of {len(out.proxies)} genotypes ({', '.join(next(iter(out.proxies.values())))})")
    return 0


if __name__ == "__main__":
    run_command(main)
