"""``schedule_free``: schedule-free SGD (Defazio et al., NeurIPS 2024, the ``schedulefree`` package).

Its averaged iterate is judged, good at every step with no schedule to align with the rungs; the
average never ran through the network in training mode, so its batch-norm statistics are
recomputed before it is judged.
"""

from __future__ import annotations

import torch

from nas.training.protocols.protocol import TrainingProtocol, TrainSettings


class ScheduleFree(TrainingProtocol):
    name = "schedule_free"

    def optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        import schedulefree

        cfg = self.cfg
        # Its learning rate is the step of the sequence z, which heavy-ball momentum would have
        # scaled by 1/(1 - momentum): the same factor matches train.lr (and train.nesterov has
        # no meaning here). 1× and 3× it trained worse on the benchmark's setting.
        opt = schedulefree.SGDScheduleFree(groups, lr=cfg.lr / (1 - cfg.momentum), momentum=cfg.momentum,
                                           warmup_steps=round(cfg.warmup * self.total))
        opt.train()
        return opt

    def lr_scheduler(self) -> None:
        return None  # the optimizer warms up itself, and has no schedule

    def step(self) -> None:
        self.opt.step()
        self.last_lr = float(self.opt.param_groups[0]["scheduled_lr"])

    def judge(self) -> None:
        self.opt.eval()  # the parameters become the averaged iterate x
        self.recompute_bn()

    def resume(self) -> None:
        self.opt.train()

    @classmethod
    def check(cls, cfg: TrainSettings) -> None:
        super().check(cfg)
        if cfg.momentum == 0:
            raise ValueError("train.momentum=0 with train.protocol=schedule_free: its average needs 0 < momentum < 1 "
                             "(the interpolation between its two sequences); set train.momentum, e.g. 0.9")
