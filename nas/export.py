"""``python -m nas.export runs/<study_name> --pick …``: take a genotype, and its trained weights, away from a study.

    python -m nas.export runs/demo --pick knee --max-params 500000 --out my_model.yaml [--onnx]

``--pick``: ``best-accuracy`` (highest validation accuracy), ``smallest`` (fewest
parameters), ``knee`` (the point farthest from the line between the extremes,
accuracy against log-parameters) — all over the Pareto set of the completed
trials (with at most ``--max-params`` parameters when given) — or ``trial=N``
(any completed trial). It writes the YAML genotype that ``nas.build_model(FILE)``,
``python -m nas.show FILE`` and ``python -m nas.train genotype=FILE`` take and,
when the search kept the trial's trained weights (it keeps them for every trial on
the study's Pareto front), the checkpoint beside it (``FILE.pt``). A trial that
``--max-params`` picks off the study's front (possible when ``params`` is not an
objective) has none: the export says so. ``--onnx`` also writes one
self-contained ``FILE.onnx`` for the study's input shape and classes, with the
normalisation in its metadata, checked against PyTorch with onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import optuna

from nas.analysis.selection import PICKS, pick
from nas.cli import run_command
from nas.files import check_writable, trial_stem
from nas.genotype import Genotype
from nas.models import build_model, check_input_size, min_input_size
from nas.models.onnx import export_onnx
from nas.outputs import weights
from nas.pareto.dominance import best_trials
from nas.runtime import startup
from nas.study.record import TrialRecord, study_setup
from nas.study.storage import load_study
from nas.training import checkpoint

FALLBACK = {"in_channels": 3, "image_size": [32, 32], "classes": 10}  # a study that did not record its input


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.export", description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path, help="runs/<study_name>")
    p.add_argument("--pick", default="knee", help=f"{' | '.join(PICKS)} (default knee)")
    p.add_argument("--max-params", type=int, help="pick among the completed trials with at most this many parameters")
    p.add_argument("--out", type=Path, help="default: <study_dir>/export/trial<N>-<id>.yaml")
    p.add_argument("--storage", help="database URL or journal file, when the study is not in <study_dir>")
    p.add_argument("--study-name", help="default: the folder's name")
    p.add_argument("--onnx", action="store_true", help="also write <out>.onnx, checked with onnxruntime")
    p.add_argument("--checkpoint", type=Path, help="weights to export instead of those the search kept "
                                                   "(a nas.train model.pt)")
    p.add_argument("--num-classes", type=int, help="only for a study that did not record its data")
    p.add_argument("--in-channels", type=int, help="only for a study that did not record its data")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                   help="only for a study that did not record its data")
    args = p.parse_args(argv)
    startup()
    try:
        study = load_study(args.study_dir, args.storage, args.study_name)
        trial = pick(study, args.pick, args.max_params)
        genotype = Genotype.from_dict(trial.genotype)
        kept = weights.find(args.study_dir, trial.number, genotype.id)
        trained = checkpoint.load(args.checkpoint or kept, genotype) if args.checkpoint or kept else None
        shape = input_of(args, study_setup(study), trained, genotype)
        out = args.out or args.study_dir / "export" / f"{trial_stem(trial.number, genotype.id)}.yaml"
        if out.suffix not in (".yaml", ".yml", ".json"):  # .pt and .onnx are written beside it, never over it
            raise ValueError(f"--out {out}: name the genotype file .yaml or .json (the weights and the ONNX model "
                             f"go beside it as {out.stem}.pt and {out.stem}.onnx)")
        check_writable(out, "give --out a path you can write", file=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        genotype.save(out)
        result = {"trial": trial.number, "name": genotype.name, "genotype_id": genotype.id, "path": str(out),
                  **{k: trial.metrics[k] for k in ("val_accuracy", "params", "macs")},
                  "weights": None, "input": shape}
        if trial.seed is not None:
            result["seed"] = trial.seed
            result["reproduce"] = reproduce(out, trial, study_setup(study))
        if trained is not None:
            result["weights"] = str(shutil.copyfile(args.checkpoint or kept, out.with_suffix(".pt")))
        if args.onnx:
            result.update(_onnx(out, genotype, trained, shape, trial, study.study_name))
    except (ValueError, OSError) as e:  # SelectionError, StorageError, CheckpointError; a write failing midway
        print(f"error: {e}", file=sys.stderr)
        return 2
    if trained is None:
        print(f"WARNING: trial {trial.number} has no trained weights "
              f"({_why_untrained(study, args.study_dir, trial)})"
              + ("; the ONNX model's weights are freshly initialised, NOT TRAINED. Train the genotype with "
                 f"`python -m nas.train genotype={out}` and pass its model.pt with --checkpoint"
                 if args.onnx else ""), file=sys.stderr)
    print(f"trial {trial.number}: {genotype.name} (val accuracy {result['val_accuracy']:.4f}, "
          f"{result['params']:,} params) → {out}" + (f", weights {result['weights']}" if trained else ""))
    print(json.dumps(result))
    return 0


def reproduce(genotype_file: Path, trial: TrialRecord, setup: dict[str, Any] | None) -> str | None:
    """The ``nas.train`` command that trains the trial again: its genotype at its seed, on the study's
    data, split and budget, with the threads it had on a CPU (another thread count, CPU or PyTorch
    build orders floating-point sums otherwise and ends elsewhere: nas.training.environment). None
    when the study did not record its setup, or when its trials' budgets were their own (rung_cycles
    under a scheduler ends its cycles at each trial's rungs)."""
    if not setup or "root" not in setup:
        return None
    if setup["train"]["protocol"] == "rung_cycles" and setup.get("scheduler", {}).get("name", "none") != "none":
        return None
    height, width = setup["image_size"]
    data = {"root": setup["root"], "train_size": setup["train_size"], "val_size": setup["val_size"],
            "split_seed": setup["split_seed"], **({"image_size": height} if height == width else {}),
            "crop_padding": setup["crop_padding"], "flip": setup["flip"]}
    env = trial.environment or {}
    words = [*([f"OMP_NUM_THREADS={env['threads']}"] if "threads" in env and "gpu" not in env else []),
             "python", "-m", "nas.train", f"genotype={_override(str(genotype_file.resolve()))}", f"seed={trial.seed}",
             f"data={setup['data']}", *(f"data.{k}={_override(v)}" for k, v in data.items()),
             *(f"train.{k}={_override(v)}" for k, v in setup["train"].items()),
             f"device={'cuda' if 'gpu' in env else 'cpu'}"]
    return " ".join(map(shlex.quote, words))


def _override(value: Any) -> str:
    """A value as a Hydra command-line override writes it (a string with characters Hydra's grammar
    reads, such as a path with a space or a comma, in single quotes)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_override(v) for v in value) + "]"
    text = str(value)
    if isinstance(value, str) and not re.fullmatch(r"[\w./-]+", text):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def input_of(args: argparse.Namespace, setup: dict[str, Any] | None, trained: checkpoint.Checkpoint | None,
             genotype: Genotype) -> dict[str, Any]:
    """What the exported model takes: from the weights, else from the study's record of its data,
    else from the flags. A flag that contradicts the weights or the study is an error."""
    source, known = "the study's data", dict(setup or {})
    if trained is not None:
        source = "the checkpoint" if args.checkpoint else "the trained weights"
        known.update(in_channels=trained.in_channels, classes=trained.num_classes,
                     **({"image_size": list(trained.image_size)} if trained.image_size else {}),
                     **({"mean": list(trained.mean), "std": list(trained.std)} if trained.mean else {}),
                     **({"class_names": list(trained.class_names)} if trained.class_names else {}))
    given = {"in_channels": args.in_channels, "classes": args.num_classes,
             "image_size": list(args.input_size) if args.input_size else None}
    flags = {"in_channels": "--in-channels", "classes": "--num-classes", "image_size": "--input-size"}
    shape = {}
    for key, value in given.items():
        if value is not None and min([value] if isinstance(value, int) else value) < 1:
            raise ValueError(f"{flags[key]} {_show(value)}: must be at least 1")
        if value is not None and key in known and known[key] != value:
            raise ValueError(f"{flags[key]} {_show(value)} contradicts {source} ({_show(known[key])}); "
                             f"leave {flags[key]} out")
        shape[key] = known.get(key, value if value is not None else FALLBACK[key])
    smallest = min_input_size(genotype)
    check_input_size(genotype, shape["image_size"], hint=f"; give --input-size {smallest} {smallest} or larger")
    for key in ("mean", "std", "class_names"):
        if key in known:
            shape[key] = list(known[key])
    return shape


def _onnx(out: Path, genotype: Genotype, trained: checkpoint.Checkpoint | None, shape: dict[str, Any],
          trial: TrialRecord, study_name: str) -> dict[str, Any]:
    model = trained.model() if trained is not None else build_model(
        genotype, num_classes=shape["classes"], in_channels=shape["in_channels"])
    metadata = {"genotype": json.dumps(genotype.to_dict()), "genotype_name": genotype.name,
                "study": study_name, "trial": str(trial.number),
                "weights": "trained" if trained is not None else "untrained (freshly initialised)",
                "input": f"images: float32 N×{shape['in_channels']}×{shape['image_size'][0]}×{shape['image_size'][1]}, "
                         + ("pixel values in [0, 1] normalised as (x - mean) / std per channel" if "mean" in shape
                            else "normalised as in training (this study did not record its mean and std)")}
    metadata.update({k: json.dumps(shape[k]) for k in ("mean", "std", "class_names") if k in shape})
    path = out.with_suffix(".onnx")
    diff = export_onnx(model, path, in_channels=shape["in_channels"], size=tuple(shape["image_size"]),
                       metadata=metadata)
    return {"onnx": str(path), "onnx_max_abs_diff": diff}


def _why_untrained(study: optuna.Study, study_dir: Path, trial: TrialRecord) -> str:
    folder = study_dir / weights.FOLDER
    if not folder.is_dir():
        return f"{folder} does not exist: the study was run elsewhere or before searches kept weights"
    if trial.number in {t.number for t in best_trials(study.get_trials(deepcopy=False), study.directions)}:
        return f"its checkpoint is missing from {folder}"
    return "the search keeps trained weights only for the trials on the Pareto front"


def _show(value: Any) -> str:
    return "×".join(map(str, value)) if isinstance(value, list) else str(value)


if __name__ == "__main__":
    run_command(main)
