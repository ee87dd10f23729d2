"""How well do zero-cost proxies rank DenseNet connectivity? Every genotype of the tabular benchmark scored.

Each of the table's genotypes is built (initialisation seeds 0 and 1) and scored by every proxy of
:mod:`nas.training.zero_cost` on training batches of the table's own data (the table's split,
size and augmentation, batch 128, on the CPU): three times — initialisation seed 0 on batches A,
seed 0 on batches B, seed 1 on batches A — so that the ranking's dependence on the batch and on
the initialisation can be read. Then, for each proxy and for parameters and multiply-adds:

- Spearman ρ and Kendall τ with the final validation accuracy of the table's first runs;
- the partial Spearman ρ given log-parameters (ranks residualised on the rank of the parameter
  count): what a proxy knows beyond size;
- the precision of its top 10%: the share of its top-ranked 10% that are in the true top 10%;
- ρ between its scores on batches A and B, and between initialisation seeds 0 and 1;
- the median seconds it took per network.

The ensemble is the mean rank of the proxies with the highest partial ρ (``--ensemble`` of them),
chosen on the same genotypes it is then measured on, so its row is optimistic.
Scores are appended to ``--results`` (JSON lines) as they come, and a genotype already there is not
scored again.

    python benchmarks/proxy_table.py --data-root ../shared/data/cifar10      # about 30 CPU-minutes
    python benchmarks/proxy_table.py --report
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from scipy import stats

import nas
import search_spaces
from nas.analysis.proxy_ranking import partial_spearman
from nas.runtime import startup
from nas.section import Section
from nas.settings import parse_search
from nas.tabular.table_file import Table
from nas.training import zero_cost
from nas.training.data import prepare
from nas.training.run import build

REPO = Path(__file__).resolve().parents[1]
SIZE = ("params", "macs")
SCORINGS = {"A": (0, 0), "B": (0, 1), "seed1": (1, 0)}  # (initialisation seed, batch pair)


def data_of(table: Table, root: Path):
    """The table's training data: its split, image size and augmentation (no validation labels are read)."""
    setup = table.setup
    with initialize_config_dir(config_dir=str(Path(nas.__file__).parent / "conf"), version_base="1.3"):
        cfg = compose(config_name="search", overrides=[
            "data=folder", f"data.root={root}", f"data.train_size={setup['train_size']}",
            f"data.val_size={setup['val_size']}", f"data.image_size={setup['image_size'][0]}",
            f"data.crop_padding={setup['crop_padding']}", f"data.split_seed={setup['split_seed']}", "logger=none"])
    return prepare(parse_search(cfg).data, torch.device("cpu"))


def batches(data, pair: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two augmented training batches, the ``pair``-th of a seeded stream."""
    stream = data.train.train_batches(size, torch.Generator().manual_seed(1000 + pair))
    return [next(stream), next(stream)]


def score_table(args: argparse.Namespace) -> None:
    table = Table.load(args.table)
    done = {r["genotype_id"] for r in read(args.results)}
    todo = [r for r in table.first() if r.genotype_id not in done]
    if not todo:
        return
    torch.set_num_threads(1)
    data = data_of(table, args.data_root)
    module, cfg = search_spaces.get(table.space["name"]), Section.of(table.space)
    size = table.setup["train"]["batch_size"]
    pairs = {p: batches(data, p, size) for p in {pair for _, pair in SCORINGS.values()}}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for i, run in enumerate(todo, 1):
        genotype = search_spaces.genotype_from_params(module, cfg, run.params)
        row = {"genotype_id": run.genotype_id, "name": run.name}
        for key, (seed, pair) in SCORINGS.items():
            model = build(genotype, data, seed=seed)
            row[key] = zero_cost.score(model, genotype, pairs[pair])
        with open(args.results, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{i}/{len(todo)}] {run.name}: " + " ".join(
            f"{k}={v['value']:.3g}" if v["value"] is not None else f"{k}=null" for k, v in row["A"].items()),
            file=sys.stderr)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def top_precision(score: np.ndarray, truth: np.ndarray, share: float = 0.1) -> float:
    k = max(1, round(share * len(score)))
    return len(set(np.argsort(-score)[:k]) & set(np.argsort(-truth)[:k])) / k


def report(args: argparse.Namespace) -> list[str]:
    table = Table.load(args.table)
    runs = {r.genotype_id: r for r in table.first() if r.complete}
    rows = [r for r in read(args.results) if r["genotype_id"] in runs]
    if not rows:
        return [f"no scores in {args.results}: run without --report first"]
    acc = np.array([runs[r["genotype_id"]].final["val_accuracy"] for r in rows])
    params = np.array([runs[r["genotype_id"]].n_params for r in rows], float)
    columns: dict[str, dict[str, np.ndarray]] = {
        "params": {k: params for k in SCORINGS},
        "macs": {k: np.array([runs[r["genotype_id"]].macs for r in rows], float) for k in SCORINGS}}
    seconds = {}
    for name in zero_cost.NAMES:
        values = {k: np.array([np.nan if r[k][name]["value"] is None else r[k][name]["value"] for r in rows])
                  for k in SCORINGS}
        columns[name] = values
        seconds[name] = statistics.median(r["A"][name]["seconds"] for r in rows)
    measures = {}
    for name, values in columns.items():
        a = values["A"]
        ok = ~(np.isnan(a) | np.isnan(values["B"]) | np.isnan(values["seed1"]))
        if ok.sum() < 10:
            continue
        measures[name] = {
            "n": int(ok.sum()), "rho": stats.spearmanr(a[ok], acc[ok]).statistic,
            "tau": stats.kendalltau(a[ok], acc[ok]).statistic,
            "partial": partial_spearman(a[ok], acc[ok], np.log(params[ok])),
            "top10": top_precision(a[ok], acc[ok]),
            "batch": stats.spearmanr(a[ok], values["B"][ok]).statistic,
            "seed": stats.spearmanr(a[ok], values["seed1"][ok]).statistic}
    best = sorted((n for n in measures if n not in SIZE), key=lambda n: -measures[n]["partial"])[:args.ensemble]
    both = np.all([~np.isnan(columns[n][k]) for n in best for k in SCORINGS], axis=0)
    ens = {k: np.mean([stats.rankdata(columns[n][k][both]) for n in best], axis=0) for k in SCORINGS}
    measures[f"ensemble({'+'.join(best)})"] = {
        "n": int(both.sum()), "rho": stats.spearmanr(ens["A"], acc[both]).statistic,
        "tau": stats.kendalltau(ens["A"], acc[both]).statistic,
        "partial": partial_spearman(ens["A"], acc[both], np.log(params[both])),
        "top10": top_precision(ens["A"], acc[both]), "batch": stats.spearmanr(ens["A"], ens["B"]).statistic,
        "seed": stats.spearmanr(ens["A"], ens["seed1"]).statistic}
    out = [f"table {args.table}: {len(rows)} genotypes scored; final validation accuracy of the first runs",
           f"{'proxy':34s} {'n':>4s} {'ρ':>7s} {'τ':>7s} {'ρ|size':>7s} {'top10%':>7s} {'ρ batch':>8s} "
           f"{'ρ seed':>7s} {'s/net':>7s}"]
    for name, m in measures.items():
        cost = f"{seconds[name]:7.3f}" if name in seconds else f"{'0':>7s}"
        out.append(f"{name:34s} {m['n']:4d} {m['rho']:7.3f} {m['tau']:7.3f} {m['partial']:7.3f} {m['top10']:7.2f} "
                   f"{m['batch']:8.3f} {m['seed']:7.3f} {cost}")
    nulls = {n: sum(r["A"][n]["value"] is None for r in rows) for n in zero_cost.NAMES}
    reasons = {n: next((r["A"][n]["reason"] for r in rows if r["A"][n]["value"] is None), "") for n in nulls}
    out += [f"{n}: null for {k} genotypes ({reasons[n]})" for n, k in nulls.items() if k]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="dense_grid")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "proxy_table.jsonl")
    parser.add_argument("--ensemble", type=int, default=3, help="proxies in the ensemble (best partial ρ)")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    startup()
    if not args.report:
        score_table(args)
    print("\n".join(report(args)))


if __name__ == "__main__":
    main()
