"""Training protocols: how the weights move, and which weights an epoch's validation judges.

A scheduler (``scheduler=asha``/``hyperband``) ranks a trial on the accuracy it has at a
rung. Read in the middle of a one-cycle schedule, at a high learning rate, that accuracy
ranks architectures poorly (on the multi-fidelity benchmark's setting, epoch 1 of 6 ranks
them at Spearman ρ 0.41 against their end, a finished 1-epoch run at 0.84). The protocols
beside ``onecycle`` and ``cosine`` make every epoch a rung may read a finished model:
``rung_cycles`` (restarts ending at the rungs), ``schedule_free`` (an averaged iterate) and
``ema`` (a moving average of the weights), each in its own module.

``ema`` is the default (``conf/train/default.yaml``): on ``benchmarks/training_protocols.py``
every other protocol's rungs ranked better than ``onecycle``'s and about alike, ``ema``'s final
accuracy matched ``onecycle``'s, and its learning curve does not depend on where rungs fall.

Adding a protocol: a module with one :class:`TrainingProtocol` subclass, its line in
:data:`PROTOCOLS`, and its test.
"""

from __future__ import annotations

from nas.checks import registered
from nas.training.protocols.cosine import Cosine
from nas.training.protocols.ema import Ema
from nas.training.protocols.onecycle import OneCycle
from nas.training.protocols.protocol import TrainingProtocol, autocast, lr_factor, recompute_bn
from nas.training.protocols.rung_cycles import RungCycles, cycle_factor, cycle_steps
from nas.training.protocols.schedule_free import ScheduleFree

PROTOCOLS: dict[str, type[TrainingProtocol]] = {p.name: p for p in (OneCycle, Cosine, RungCycles, ScheduleFree, Ema)}


def protocol_class(name: str) -> type[TrainingProtocol]:
    """The protocol ``train.protocol=name`` names; ValueError lists the registered ones."""
    return registered(PROTOCOLS, name, "train.protocol", "training protocol")


__all__ = ["PROTOCOLS", "TrainingProtocol", "autocast", "cycle_factor", "cycle_steps", "lr_factor", "protocol_class",
           "recompute_bn"]
