"""ONNX export of a model, checked against PyTorch with onnxruntime (both imported only when used).

The file is self-contained (weights inside, not in a ``.onnx.data`` beside it) for
models under ONNX's 2 GB protobuf limit, and carries what a user needs to feed
it as metadata (``metadata_props``): the normalisation, the class names, the
genotype, and whether the weights were trained.
"""

from __future__ import annotations

from pathlib import Path

import torch

PROTOBUF_LIMIT = 2**31 - 2**26  # bytes of weights a single .onnx file can hold, with room for the graph


def export_onnx(model: torch.nn.Module, path: Path, *, in_channels: int, size: tuple[int, int],
                metadata: dict[str, str] | None = None) -> float:
    """Write ``path`` and return the largest |difference| between onnxruntime's and torch's outputs."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise ValueError("--onnx needs onnx and onnxruntime: pip install onnx onnxruntime onnxscript") from None
    model = model.eval()
    x = torch.randn(2, in_channels, *size)
    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    external = weight_bytes > PROTOBUF_LIMIT  # then the weights must sit in path.data beside it
    program = torch.onnx.export(model, (x,), input_names=["images"], output_names=["logits"],
                                dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), dynamo=True,
                                verbose=False)
    program.save(str(path), external_data=external)
    if metadata:
        proto = onnx.load(str(path), load_external_data=False)
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        return float((torch.from_numpy(ours) - model(x)).abs().max())
