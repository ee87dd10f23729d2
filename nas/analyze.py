"""``python -m nas.analyze MODEL``: connection-strength heat maps of a trained model.

    python -m nas.analyze runs/train/<date_time>/model.pt
    python -m nas.analyze my_model.yaml --checkpoint weights.pt --out my_model_heatmap.png

MODEL is a checkpoint written by ``python -m nas.train`` (it holds its genotype),
or a genotype (preset or YAML/JSON file) with ``--checkpoint`` giving its weights: a
state dict, or a checkpoint whose genotype must match. The picture (one panel per
block, two per clique block) and its values as JSON are written, by default, beside
the checkpoint; the last line printed is one JSON object. See :mod:`nas.training.heatmap`
for what the strengths are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from matplotlib.backend_bases import FigureCanvasBase

from nas.cli import run_command
from nas.files import check_writable
from nas.genotype.presets import resolve
from nas.runtime import startup
from nas.training import checkpoint, heatmap


def _load(model_spec: str, weights: Path | None) -> tuple[checkpoint.Checkpoint, Path]:
    """A nas.train checkpoint, or a genotype (preset or file) with the weights it was trained with."""
    if model_spec.endswith((".pt", ".pth")):
        return checkpoint.load(Path(model_spec)), Path(model_spec)
    genotype = resolve(model_spec)
    if weights is None:
        raise checkpoint.CheckpointError(
            f"{model_spec!r} is a genotype without trained weights; give --checkpoint FILE, or train it first: "
            f"python -m nas.train genotype={model_spec} (writes model.pt and heatmap.png)")
    return checkpoint.load(weights, genotype), weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.analyze", description=__doc__.splitlines()[0])
    p.add_argument("model", help="a nas.train checkpoint (model.pt), or a preset / genotype file with --checkpoint")
    p.add_argument("--checkpoint", type=Path, help="weights for a genotype given as MODEL")
    p.add_argument("--out", type=Path, help="the PNG to write (default: <checkpoint>-heatmap.png beside it)")
    args = p.parse_args(argv)
    startup()
    try:
        trained, path = _load(args.model, args.checkpoint)
        model = trained.model()
        out = args.out or path.with_name(f"{path.stem}-heatmap.png")
        if out.suffix.lower().removeprefix(".") not in FigureCanvasBase.get_supported_filetypes():
            raise ValueError(f"--out {out}: name the picture .png (or .pdf, .svg, …); its values go beside it "
                             f"as {out.stem}.json")
        check_writable(out, "give --out a path you can write", file=True)
    except ValueError as e:  # CheckpointError, GenotypeError, an output it cannot write
        print(f"error: {e}", file=sys.stderr)
        return 2
    genotype = trained.genotype
    maps = heatmap.write(model, out, genotype.name)
    for m in maps:
        print(f"{m.title}: targets {', '.join(m.targets)}; strongest source per target: "
              + " ".join(m.sources[int(i)] for i in np.nanargmax(m.strength, axis=1)))
    print(json.dumps({"name": genotype.name, "png": str(out), "json": str(out.with_suffix(".json")),
                      "maps": len(maps)}))
    return 0


if __name__ == "__main__":
    run_command(main)
