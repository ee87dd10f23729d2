"""``python -m nas.export runs/<study_name> --pick …``: take a genotype away from a study.

    python -m nas.export runs/demo --pick knee --max-params 500000 --out my_model.yaml [--onnx]

``--pick``: ``best-accuracy`` (highest validation accuracy), ``smallest`` (fewest
parameters), ``knee`` (the front's point farthest from the line between its
extremes, accuracy against log-parameters) — all among the study's Pareto set —
or ``trial=N`` (any completed trial). ``--max-params`` filters the candidates
first. The YAML genotype it writes is what ``nas.build_model(FILE)``,
``python -m nas.inspect FILE`` and ``python -m nas.train genotype=FILE`` take;
``--onnx`` also writes the model (weights from ``--checkpoint`` if given,
else freshly initialised) and checks onnxruntime reproduces its outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from nas.genotype import Genotype
from nas.models import build_model
from nas.storage import read_storage


class ExportError(ValueError):
    pass


def load_study(study_dir: Path, storage: str | None, study_name: str | None) -> optuna.Study:
    """The study in ``study_dir`` (its study.db or journal.log), or in ``storage``: a database
    URL or a journal file."""
    name = study_name or study_dir.name
    if storage is None:
        found = [p for p in (study_dir / "study.db", study_dir / "journal.log") if p.is_file()]
        if not found:
            raise ExportError(f"{str(study_dir)!r} has neither study.db nor journal.log; give --storage "
                              "(a database URL or a journal file) and --study-name")
        storage = f"sqlite:///{found[0]}" if found[0].suffix == ".db" else str(found[0])
    try:
        return optuna.load_study(study_name=name, storage=read_storage(storage))
    except KeyError:
        raise ExportError(f"no study named {name!r} in that storage; give --study-name") from None


def pick(study: optuna.Study, how: str, max_params: int | None = None) -> FrozenTrial:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        raise ExportError(f"study {study.study_name!r} has no completed trial to export")
    if how.startswith("trial="):
        number = int(how.removeprefix("trial="))
        for t in complete:
            if t.number == number:
                return t
        raise ExportError(f"trial {number} is not a completed trial of {study.study_name!r}")
    candidates = [t for t in study.best_trials if max_params is None or t.user_attrs["params"] <= max_params]
    if not candidates:
        raise ExportError(f"no Pareto trial has ≤ {max_params:,} parameters; raise --max-params")
    if how == "best-accuracy":
        return max(candidates, key=lambda t: (t.user_attrs["val_accuracy"], -t.user_attrs["params"]))
    if how == "smallest":
        return min(candidates, key=lambda t: (t.user_attrs["params"], -t.user_attrs["val_accuracy"]))
    if how == "knee":
        return knee(candidates)
    raise ExportError(f"--pick {how!r}: use best-accuracy, smallest, knee or trial=N")


def knee(trials: list[FrozenTrial]) -> FrozenTrial:
    """The trial farthest above the chord joining the smallest and the most accurate
    trial, in (log10 parameters, accuracy) normalised to the unit square."""
    xs = [math.log10(t.user_attrs["params"]) for t in trials]
    ys = [t.user_attrs["val_accuracy"] for t in trials]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    pts = [((x - min(xs)) / span_x, (y - min(ys)) / span_y) for x, y in zip(xs, ys)]
    a = min(range(len(trials)), key=lambda i: (xs[i], -ys[i]))
    b = max(range(len(trials)), key=lambda i: (ys[i], -xs[i]))
    (x1, y1), (x2, y2) = pts[a], pts[b]

    def above_chord(i: int) -> float:
        x, y = pts[i]
        return ((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) / (math.hypot(x2 - x1, y2 - y1) or 1.0)

    return trials[max(range(len(trials)), key=above_chord)]


def export_onnx(genotype: Genotype, path: Path, *, num_classes: int, in_channels: int, size: tuple[int, int],
                checkpoint: Path | None = None) -> float:
    """Write ``path`` and return the largest |difference| between onnxruntime's and torch's outputs."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("--onnx needs onnx and onnxruntime: pip install onnx onnxruntime onnxscript") from None
    model = build_model(genotype, num_classes=num_classes, in_channels=in_channels).eval()
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"] if "state_dict" in state else state)
    x = torch.randn(2, in_channels, *size)
    torch.onnx.export(model, (x,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        return float((torch.from_numpy(ours) - model(x)).abs().max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.export", description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path, help="runs/<study_name>")
    p.add_argument("--pick", default="knee", help="best-accuracy | smallest | knee | trial=N (default knee)")
    p.add_argument("--max-params", type=int)
    p.add_argument("--out", type=Path, help="default: <study_dir>/export/trial<N>-<id>.yaml")
    p.add_argument("--storage", help="database URL or journal file, when the study is not in <study_dir>")
    p.add_argument("--study-name", help="default: the folder's name")
    p.add_argument("--onnx", action="store_true", help="also write <out>.onnx, checked with onnxruntime")
    p.add_argument("--checkpoint", type=Path, help="weights for --onnx (a nas.train model.pt)")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--input-size", type=int, nargs=2, default=(32, 32), metavar=("H", "W"))
    args = p.parse_args(argv)
    try:
        study = load_study(args.study_dir, args.storage, args.study_name)
        trial = pick(study, args.pick, args.max_params)
        genotype = Genotype.from_dict(trial.user_attrs["genotype"])
        out = args.out or args.study_dir / "export" / f"trial{trial.number:04d}-{genotype.id}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        genotype.save(out)
        result = {"trial": trial.number, "name": genotype.name, "genotype_id": genotype.id, "path": str(out),
                  "val_accuracy": trial.user_attrs["val_accuracy"], "params": trial.user_attrs["params"],
                  "macs": trial.user_attrs["macs"]}
        if args.onnx:
            onnx_path = out.with_suffix(".onnx")
            result["onnx"] = str(onnx_path)
            result["onnx_max_abs_diff"] = export_onnx(genotype, onnx_path, num_classes=args.num_classes,
                                                      in_channels=args.in_channels, size=tuple(args.input_size),
                                                      checkpoint=args.checkpoint)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"trial {trial.number}: {genotype.name} (val accuracy {result['val_accuracy']:.4f}, "
          f"{result['params']:,} params) → {out}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
