"""concat → BN → ReLU → conv with the concatenation recomputed in the backward pass.

The naive dense layer keeps its concatenated input and the BN/ReLU output alive
for the backward pass: two tensors as wide as everything before the layer, so a
block's training memory grows quadratically with depth. This autograd function
keeps only the layer's (narrow, already stored) inputs plus the BN batch
statistics, and rebuilds the wide tensors briefly during its own backward step
(Pleiss et al., "Memory-Efficient Implementation of DenseNets", 2017).

Unlike ``torch.utils.checkpoint`` it does not rerun the convolution forward nor
a second autograd graph: the backward recomputes only the cheap element-wise
part (concat, normalise with the saved statistics, ReLU) and calls the
convolution and batch-norm backward kernels directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

aten = torch.ops.aten


def apply_conv(y: Tensor, weight: Tensor, pointwise: Tensor | None) -> Tensor:
    """A k×k conv (``pointwise`` None), or depthwise k×k then pointwise 1×1 with no
    nonlinearity between them (Xception's separable conv)."""
    pad = weight.shape[-1] // 2
    if pointwise is None:
        return F.conv2d(y, weight, None, 1, pad)
    return F.conv2d(F.conv2d(y, weight, None, 1, pad, 1, y.shape[1]), pointwise)


def _conv_backward(grad: Tensor, x: Tensor, weight: Tensor, groups: int, mask: tuple[bool, bool]):
    pad = weight.shape[-1] // 2
    gx, gw, _ = aten.convolution_backward(
        grad, x, weight, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], groups, [mask[0], mask[1], False]
    )
    return gx, gw


def _normalize(x: Tensor, weight: Tensor, bias: Tensor, mean: Tensor, invstd: Tensor, eps: float) -> Tensor:
    """BN's output from saved batch statistics (CUDA has a kernel for exactly this)."""
    if x.is_cuda:
        return torch.batch_norm_elemt(x, weight, bias, mean, invstd, eps)
    return F.batch_norm(x, mean, invstd.pow(-2) - eps, weight, bias, False, 0.0, eps)


class _ConcatBnReluConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, bn_weight, bn_bias, running_mean, running_var, momentum, eps, weight, pointwise, *inputs):
        x = torch.cat(inputs, 1) if len(inputs) > 1 else inputs[0]
        y, mean, invstd = aten.native_batch_norm(x, bn_weight, bn_bias, running_mean, running_var, True, momentum, eps)
        out = apply_conv(y.relu_(), weight, pointwise)
        ctx.eps = eps
        ctx.conv_dtype = out.dtype
        ctx.save_for_backward(bn_weight, bn_bias, mean, invstd, weight, pointwise, *inputs)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        bn_weight, bn_bias, mean, invstd, weight, pointwise, *inputs = ctx.saved_tensors
        need = ctx.needs_input_grad
        x = torch.cat(inputs, 1) if len(inputs) > 1 else inputs[0]
        y = _normalize(x, bn_weight, bn_bias, mean, invstd, ctx.eps).relu_()
        cdt = ctx.conv_dtype
        yc, w = y.to(cdt), weight.to(cdt)
        grad_out = grad_out.to(cdt)
        grad_pw = None
        if pointwise is not None:
            d = F.conv2d(yc, w, None, 1, weight.shape[-1] // 2, 1, yc.shape[1])
            grad_out, grad_pw = _conv_backward(grad_out, d, pointwise.to(cdt), 1, (True, need[7]))
            del d
            groups = yc.shape[1]
        else:
            groups = 1
        grad_y, grad_w = _conv_backward(grad_out, yc, w, groups, (True, need[6]))
        del yc
        grad_y = aten.threshold_backward(grad_y.to(y.dtype), y, 0)
        del y
        grad_x, grad_bw, grad_bb = aten.native_batch_norm_backward(
            grad_y, x, bn_weight, None, None, mean, invstd, True, ctx.eps, [any(need[8:]), need[0], need[1]]
        )
        grad_inputs = grad_x.split([t.shape[1] for t in inputs], 1) if grad_x is not None else (None,) * len(inputs)
        if grad_w is not None:
            grad_w = grad_w.to(weight.dtype)
        if grad_pw is not None:
            grad_pw = grad_pw.to(pointwise.dtype)
        return (grad_bw, grad_bb, None, None, None, None, grad_w, grad_pw, *grad_inputs)


def _bn_factor(norm: nn.BatchNorm2d) -> float:
    """Update the BN step counter and return the running-stat factor, as BatchNorm2d does."""
    norm.num_batches_tracked.add_(1)
    if norm.momentum is None:
        return 1.0 / float(norm.num_batches_tracked)
    return norm.momentum


def bn_relu_conv(
    inputs: list[Tensor],
    norm: nn.BatchNorm2d,
    weight: Tensor,
    pointwise: Tensor | None = None,
    memory_efficient: bool = False,
) -> Tensor:
    """conv(ReLU(BN(cat(inputs)))); with ``memory_efficient`` the wide intermediates
    are not kept for the backward pass. Both paths compute the same function."""
    if memory_efficient and norm.training and torch.is_grad_enabled() and norm.track_running_stats:
        return _ConcatBnReluConv.apply(
            norm.weight, norm.bias, norm.running_mean, norm.running_var, _bn_factor(norm), norm.eps,
            weight, pointwise, *inputs,
        )
    x = torch.cat(inputs, 1) if len(inputs) > 1 else inputs[0]
    return apply_conv(F.relu(norm(x), inplace=True), weight, pointwise)
