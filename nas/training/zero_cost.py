"""Zero-cost proxies: scores of an untrained network from one or two mini-batches of training data.

One function per proxy, each on a copy of the model (so the caller's weights, BN statistics and
gradients are never touched), each reading only the training batch it is given:

- ``synflow``: Σ |θ ⊙ ∂R/∂θ| with R the sum of the outputs of the network with every parameter
  replaced by its absolute value, on an all-ones input, BN at its initial statistics (Tanaka et al.,
  NeurIPS 2020; as a proxy, Abdelfattah et al., ICLR 2021);
- ``naswot``: log |K| of the Hamming-similarity kernel of the batch's ReLU activation codes
  (Mellor et al., ICML 2021); our layers are BN → ReLU, so a unit's code is its BN output > 0;
- ``grad_norm``: Σ over weight tensors of ‖∂L/∂θ‖₂ for the cross-entropy L of one batch
  (Abdelfattah et al., 2021);
- ``snip``: Σ |θ ⊙ ∂L/∂θ| (Lee et al., ICLR 2019; as a proxy, Abdelfattah et al., 2021);
- ``zico``: Σ over layers of log(Σ_θ mean|g_θ| / std(g_θ)), the gradients' mean and standard
  deviation taken over batches (Li et al., ICLR 2023); needs at least two batches;
- ``meco``: Σ over convolution outputs of the smallest eigenvalue of the Pearson correlation
  matrix of its channels, from one image (Jiang et al., NeurIPS 2023);
- ``nn_mass``: from the genotype alone, Σ over blocks of density · width · depth, the density being
  the share of the possible long-range concatenations a block makes (Bhardwaj et al., CVPR 2021);
  defined for feed-forward concatenation blocks, so null for clique blocks.

:func:`score` runs the ones asked for and times each; a proxy that cannot apply gives null and why.
"""

from __future__ import annotations

import copy
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.genotype import Genotype, patterns

Batch = tuple[Tensor, Tensor]  # images, their training labels


class NotApplicable(ValueError):
    """The proxy is not defined for this network or input (the reason is recorded)."""


def _weights(model: nn.Module) -> list[nn.Parameter]:
    """The convolution and linear weights: the parameters the pruning-based proxies score."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _loss_gradients(model: nn.Module, batch: Batch) -> list[Tensor]:
    """∂L/∂θ for the weights, on a train-mode copy (BN on the batch's statistics, as in training)."""
    net = copy.deepcopy(model).train()
    x, y = batch
    F.cross_entropy(net(x), y).backward()
    return [w.grad.detach() if w.grad is not None else torch.zeros_like(w) for w in _weights(net)]


def synflow(model: nn.Module, batch: Batch) -> float:
    net = copy.deepcopy(model).double().eval()  # eval: BN at its initial statistics, as without BN
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = torch.ones((1, *batch[0].shape[1:]), dtype=torch.float64, device=batch[0].device)
    net.zero_grad(set_to_none=True)
    net(x).sum().backward()
    return float(sum((w.detach() * w.grad).abs().sum() for w in _weights(net) if w.grad is not None))


def naswot(model: nn.Module, batch: Batch) -> float:
    if len(batch[0]) < 2:
        raise NotApplicable("NASWOT compares the images of a batch: it needs at least two")
    net = copy.deepcopy(model).train()
    n = len(batch[0])
    kernel = torch.zeros(n, n, dtype=torch.float64, device=batch[0].device)

    def agreements(_m, _i, out: Tensor) -> None:
        # Units on which two images agree, c·cᵀ + (1−c)·(1−c)ᵀ, is (units + s·sᵀ) / 2 with s = 2c − 1 = ±1:
        # one float32 product per layer, exact (integers far below 2²⁴), summed in float64.
        s = (out.detach() > 0).flatten(1).float() * 2 - 1
        kernel.add_(((s @ s.T).double() + s.shape[1]) / 2)

    hooks = [m.register_forward_hook(agreements) for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    try:
        with torch.no_grad():
            net(batch[0])
    finally:
        for h in hooks:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    if sign <= 0:
        raise NotApplicable("the activation kernel is singular (two images with identical codes)")
    return float(logdet)


def grad_norm(model: nn.Module, batch: Batch, gradients: list[Tensor] | None = None) -> float:
    """``gradients``: the batch's :func:`_loss_gradients`, where :func:`score` has them already."""
    return float(sum(g.norm() for g in (_loss_gradients(model, batch) if gradients is None else gradients)))


def snip(model: nn.Module, batch: Batch, gradients: list[Tensor] | None = None) -> float:
    grads = _loss_gradients(model, batch) if gradients is None else gradients
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(_weights(model), grads)))


def zico(model: nn.Module, batches: list[Batch], gradients: list[list[Tensor]] | None = None) -> float:
    if len(batches) < 2:
        raise NotApplicable("ZiCo's standard deviation is over batches: it needs at least two")
    grads = [_loss_gradients(model, b) for b in batches] if gradients is None else gradients
    total = 0.0
    for per_batch in zip(*grads):  # one weight tensor, its gradient in every batch
        g = torch.stack(per_batch)
        std, mean = g.std(0, unbiased=False), g.abs().mean(0)  # as ZiCo's reference code (numpy's std)
        keep = std > 0
        ratio = float((mean[keep] / std[keep]).sum())
        if ratio > 0:
            total += math.log(ratio)
    return total


def _conv_outputs(net: nn.Module, x: Tensor) -> list[Tensor]:
    """The output of every convolution in a forward pass of ``x``. Our dense and clique layers call
    ``F.conv2d`` on their weights rather than their ``nn.Conv2d`` modules, so module hooks would miss
    them; ``F.conv2d`` is wrapped for the pass instead (not thread-safe: proxies run in the trial's thread)."""
    outputs: list[Tensor] = []
    original = F.conv2d

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        outputs.append(out.detach())
        return out

    F.conv2d = recording
    try:
        with torch.no_grad():
            net(x)
    finally:
        F.conv2d = original
    return outputs


def meco(model: nn.Module, batch: Batch) -> float:
    total = 0.0
    for out in _conv_outputs(copy.deepcopy(model).train(), batch[0][:1]):
        f = out[0].flatten(1).double()  # channels × positions, of the first image
        if f.shape[0] > 1 and f.shape[1] > 1:
            corr = torch.nan_to_num(torch.corrcoef(f), nan=0.0)  # a constant channel correlates with nothing
            total += float(torch.linalg.eigvalsh(corr)[0])
    return total


def nn_mass(genotype: Genotype) -> float:
    total = 0.0
    for block in genotype.blocks:
        if patterns.get(block.pattern).two_stage:
            raise NotApplicable(f"NN-Mass is defined for feed-forward concatenation blocks, not {block.pattern} "
                                "blocks (their second stage feeds later layers back)")
        inputs = block.layer_inputs()
        possible = sum(i - 1 for i in range(1, len(inputs) + 1))  # all but the nearest predecessor
        made = sum(sum(1 for s in sources if s != i - 1) for i, sources in enumerate(inputs, start=1))
        total += (made / possible if possible else 0.0) * block.growth * block.layers
    return total


@dataclass(frozen=True)
class Proxy:
    """One zero-cost proxy: how it is computed from the model, the genotype, the training batches and
    (for those that read them) each batch's loss gradients, and which batches' gradients it reads."""

    name: str
    compute: Callable[[nn.Module, Genotype, list[Batch], list[list[Tensor]] | None], float]
    gradient_batches: Callable[[int], tuple[int, ...]] = lambda n_batches: ()


# Adding a proxy: its function above, its line here, and its test.
PROXIES: dict[str, Proxy] = {p.name: p for p in (
    Proxy("synflow", lambda model, genotype, batches, grads: synflow(model, batches[0])),
    Proxy("naswot", lambda model, genotype, batches, grads: naswot(model, batches[0])),
    Proxy("grad_norm", lambda model, genotype, batches, grads: grad_norm(model, batches[0], grads[0]),
          gradient_batches=lambda n: (0,)),
    Proxy("snip", lambda model, genotype, batches, grads: snip(model, batches[0], grads[0]),
          gradient_batches=lambda n: (0,)),
    Proxy("zico", lambda model, genotype, batches, grads: zico(model, batches, grads),
          gradient_batches=lambda n: tuple(range(n)) if n >= 2 else ()),
    Proxy("meco", lambda model, genotype, batches, grads: meco(model, batches[0])),
    Proxy("nn_mass", lambda model, genotype, batches, grads: nn_mass(genotype)),  # free: the genotype alone
)}
NAMES = tuple(PROXIES)


def score(model: nn.Module, genotype: Genotype, batches: list[Batch], names: tuple[str, ...] = NAMES) -> dict[str, dict]:
    """Each proxy in ``names``: ``{"value": float | None, "seconds": float, "reason": str}``. ``batches``:
    training batches on the model's device (ZiCo uses all of them, the others the first).

    grad_norm, snip and ZiCo read the same loss gradients, so each batch's backward pass runs once and
    its seconds are split evenly between the proxies that read it: the seconds add up to what scoring
    cost, and a proxy scored alone is charged its whole pass."""
    device = batches[0][0].device if batches else None

    def synchronize() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    needs = {name: PROXIES[name].gradient_batches(len(batches)) for name in names}
    readers = Counter(i for name in names for i in needs[name])
    shares = dict(readers)  # a pass's seconds are split among all its readers (readers counts down as they finish)
    gradients: dict[int, list[Tensor]] = {}
    backward: dict[int, float] = {}
    for i in sorted(readers):
        start = time.perf_counter()
        gradients[i] = _loss_gradients(model, batches[i])
        synchronize()
        backward[i] = time.perf_counter() - start
    out = {}
    for name in names:
        start = time.perf_counter()
        try:
            value = PROXIES[name].compute(model, genotype, batches,
                                          [gradients[i] for i in needs[name]] if needs[name] else None)
            reason = "" if math.isfinite(value) else f"not finite ({value})"
            value = value if math.isfinite(value) else None
        except NotApplicable as e:
            value, reason = None, str(e)
        synchronize()
        seconds = time.perf_counter() - start + sum(backward[i] / shares[i] for i in needs[name])
        out[name] = {"value": value, "seconds": seconds, "reason": reason}
        for i in needs[name]:  # the last reader of a batch's gradients lets them go (GPU memory)
            readers[i] -= 1
            if not readers[i]:
                del gradients[i]
    return out
