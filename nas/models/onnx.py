"""ONNX export of a model, checked against PyTorch with onnxruntime (imported only when used)."""

from __future__ import annotations

from pathlib import Path

import torch


def export_onnx(model: torch.nn.Module, path: Path, *, in_channels: int, size: tuple[int, int]) -> float:
    """Write ``path`` and return the largest |difference| between onnxruntime's and torch's outputs."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("--onnx needs onnx and onnxruntime: pip install onnx onnxruntime onnxscript") from None
    model = model.eval()
    x = torch.randn(2, in_channels, *size)
    torch.onnx.export(model, (x,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        return float((torch.from_numpy(ours) - model(x)).abs().max())
