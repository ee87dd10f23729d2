"""``python -m nas.analyze MODEL``: connection-strength heat maps of a trained model.

    python -m nas.analyze runs/train/<date_time>/model.pt
    python -m nas.analyze my_model.yaml --checkpoint weights.pt --out my_model_heatmap.png

MODEL is a checkpoint written by ``python -m nas.train`` (it holds its genotype),
or a genotype (preset or YAML/JSON file) with ``--checkpoint`` giving its weights: a
state dict, or a checkpoint whose genotype must match. The picture (one panel per
block, two per clique block) and its values as JSON are written, by default, beside
the checkpoint; the last line printed is one JSON object. See :mod:`nas.heatmap`
for what the strengths are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from nas import heatmap
from nas.genotype import Genotype, GenotypeError
from nas.models import build_model
from nas.presets import resolve


class AnalyzeError(ValueError):
    pass


def load(model_spec: str, checkpoint: Path | None) -> tuple[torch.nn.Module, Genotype, Path]:
    """The trained model, its genotype, and the checkpoint its weights came from."""
    if model_spec.endswith((".pt", ".pth")):
        checkpoint, genotype = Path(model_spec), None
    else:
        genotype = resolve(model_spec)
        if checkpoint is None:
            raise AnalyzeError(f"{model_spec!r} is a genotype without trained weights; give --checkpoint FILE, or "
                               f"train it first: python -m nas.train genotype={model_spec} (writes model.pt and "
                               "heatmap.png)")
    if not checkpoint.is_file():
        raise AnalyzeError(f"checkpoint {str(checkpoint)!r} does not exist")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # never runs code from the file
    except Exception as e:  # noqa: BLE001 - torch raises several types for a file that is no checkpoint
        raise AnalyzeError(f"{str(checkpoint)!r} is not a weights-only PyTorch checkpoint ({type(e).__name__})") from None
    stored = Genotype.from_dict(state["genotype"]) if isinstance(state, dict) and "genotype" in state else None
    if genotype is None:
        if stored is None:
            raise AnalyzeError(f"{str(checkpoint)!r} holds no genotype; give it as MODEL with --checkpoint")
        genotype = stored
    elif stored is not None and stored != genotype:
        raise AnalyzeError(f"the checkpoint is for {stored.name}, not {genotype.name}")
    weights = state.get("state_dict", state)
    classes = weights["classifier.weight"].shape[0]
    in_channels = weights["features.conv0.weight"].shape[1]
    model = build_model(genotype, num_classes=classes, in_channels=in_channels)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise AnalyzeError(f"the weights do not fit {genotype.name}: {str(e).splitlines()[0]}") from None
    return model, genotype, checkpoint


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.analyze", description=__doc__.splitlines()[0])
    p.add_argument("model", help="a nas.train checkpoint (model.pt), or a preset / genotype file with --checkpoint")
    p.add_argument("--checkpoint", type=Path, help="weights for a genotype given as MODEL")
    p.add_argument("--out", type=Path, help="the PNG to write (default: <checkpoint>-heatmap.png beside it)")
    args = p.parse_args(argv)
    try:
        model, genotype, checkpoint = load(args.model, args.checkpoint)
    except (AnalyzeError, GenotypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or checkpoint.with_name(f"{checkpoint.stem}-heatmap.png")
    maps = heatmap.write(model, out, genotype.name)
    for m in maps:
        print(f"{m.title}: targets {', '.join(m.targets)}; strongest source per target: "
              + " ".join(m.sources[int(i)] for i in np.nanargmax(m.strength, axis=1)))
    print(json.dumps({"name": genotype.name, "png": str(out), "json": str(out.with_suffix(".json")),
                      "maps": len(maps)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
