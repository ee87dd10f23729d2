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
import sys
from pathlib import Path

from nas.analysis.selection import pick
from nas.genotype import Genotype
from nas.models import build_model
from nas.models.onnx import export_onnx
from nas.runtime import startup
from nas.study.storage import load_study
from nas.training import checkpoint


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
    startup()
    try:
        study = load_study(args.study_dir, args.storage, args.study_name)
        trial = pick(study, args.pick, args.max_params)
        genotype = Genotype.from_dict(trial.genotype)
        out = args.out or args.study_dir / "export" / f"trial{trial.number:04d}-{genotype.id}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        genotype.save(out)
        result = {"trial": trial.number, "name": genotype.name, "genotype_id": genotype.id, "path": str(out),
                  **{k: trial.metrics[k] for k in ("val_accuracy", "params", "macs")}}
        if args.onnx:
            in_channels, size = args.in_channels, tuple(args.input_size)
            if args.checkpoint is not None:  # the shape the weights were trained for
                trained = checkpoint.load(args.checkpoint, genotype)
                model, in_channels, size = trained.model(), trained.in_channels, trained.image_size or size
            else:
                model = build_model(genotype, num_classes=args.num_classes, in_channels=in_channels)
            onnx_path = out.with_suffix(".onnx")
            result["onnx"] = str(onnx_path)
            result["onnx_max_abs_diff"] = export_onnx(model, onnx_path, in_channels=in_channels, size=size)
    except ValueError as e:  # SelectionError, StorageError, CheckpointError
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"trial {trial.number}: {genotype.name} (val accuracy {result['val_accuracy']:.4f}, "
          f"{result['params']:,} params) → {out}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
