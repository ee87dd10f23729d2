"""Training protocols: learning rates at the rungs, the weights judged, and the model returned."""

import dataclasses

import pytest
import torch
from test_trainer import CPU, TINY, _data, _fit

from nas import build_model
from nas.training.config import TrainConfig
from nas.training.protocols import cycle_factor, cycle_steps, lr_factor, protocol_class, recompute_bn
from nas.training.trainer import evaluate, param_groups

STEPS = 3  # steps per epoch of _data(): 60 training images in batches of 16 (the last partial one dropped)


def test_lr_schedules():
    total = 100
    assert lr_factor(0, total, 0.1, "onecycle") == pytest.approx(0.1)
    assert lr_factor(9, total, 0.1, "onecycle") == pytest.approx(1.0)
    assert lr_factor(55, total, 0.1, "onecycle") == pytest.approx(0.5)
    assert lr_factor(55, total, 0.1, "cosine") == pytest.approx(0.5)
    assert lr_factor(30, total, 0.1, "cosine") > lr_factor(30, total, 0.1, "onecycle")
    assert lr_factor(99, total, 0.1, "cosine") < 0.01
    assert lr_factor(0, total, 0.0, "onecycle") == 1.0


def test_rung_cycles_restart_after_each_rung_and_reach_their_minimum_at_it():
    ends = cycle_steps([1, 3], 9, 10)
    assert ends == [10, 30, 90]
    factors = [cycle_factor(s, ends, 0.2) for s in range(90)]
    starts = [0, 10, 30]
    for start, end in zip(starts, ends):
        cycle = factors[start:end]
        assert cycle == [lr_factor(s, end - start, 0.2, "onecycle") for s in range(end - start)]  # one-cycle shaped
        assert cycle[-1] == min(cycle) and cycle[-1] <= 1 / (end - start - round(0.2 * (end - start))) + 1e-12
        assert max(cycle) == 1.0  # every cycle reaches the peak again: a warm restart
    assert factors[10] == lr_factor(0, 20, 0.2, "onecycle")  # the step after a rung warms up anew


@pytest.mark.parametrize("bracket_rungs", [[1, 3], [2], None])
def test_the_learning_rate_at_every_rung_epoch_is_its_cycles_minimum(bracket_rungs):
    """A bracket's rungs, a later bracket's, and (None) the default cycle ends: asha's default rungs."""
    cfg = TrainConfig(epochs=5, batch_size=16, lr=0.1, warmup=0.2, progress=False, stop_at_chance=False,
                      protocol="rung_cycles")
    cfg = cfg.for_rungs(bracket_rungs) if bracket_rungs is not None else cfg
    bracket_rungs = bracket_rungs or [1, 3]
    assert cfg.cycles() == bracket_rungs
    _, r = _fit(cfg)
    bounds = cycle_steps(bracket_rungs, 5, STEPS)
    per_step = [0.1 * cycle_factor(s, bounds, 0.2) for s in range(5 * STEPS)]
    for epoch in [*bracket_rungs, 5]:
        start = max([0, *(e for e in bracket_rungs if e < epoch)]) * STEPS
        cycle = per_step[start:epoch * STEPS]
        assert r.history[epoch - 1]["lr"] == pytest.approx(min(cycle)) == pytest.approx(cycle[-1])
    for epoch in range(1, 6):
        if epoch not in [*bracket_rungs, 5]:  # mid-cycle: above its cycle's minimum
            start = max([0, *(e for e in bracket_rungs if e < epoch)]) * STEPS
            end = min(e for e in [*bracket_rungs, 5] if e > epoch) * STEPS
            assert r.history[epoch - 1]["lr"] > min(per_step[start:end])


def test_judging_the_average_never_changes_how_training_goes_on():
    """ema trains exactly as onecycle does (dropout too: the BN recomputation forks the generator)."""
    genotype = dataclasses.replace(TINY, dropout=0.3)
    runs = {s: _fit(TrainConfig(epochs=3, batch_size=16, lr=0.1, progress=False, stop_at_chance=False, protocol=s),
                    genotype=genotype)[1] for s in ("onecycle", "ema")}
    assert [h["train_loss"] for h in runs["ema"].history] == [h["train_loss"] for h in runs["onecycle"].history]
    assert [h["val_loss"] for h in runs["ema"].history] != [h["val_loss"] for h in runs["onecycle"].history]


@pytest.mark.parametrize("epochs", [1, 3])
def test_a_finished_ema_run_is_judged_exactly_as_onecycle(epochs):
    """The average's half-life follows the learning rate to zero at the end of the schedule: the
    judged weights are then the trained ones, with their own BN statistics, so the final result is
    onecycle's, while the epochs before it are judged on an average."""
    runs = {s: _fit(TrainConfig(epochs=epochs, batch_size=16, lr=0.1, progress=False, stop_at_chance=False,
                                protocol=s))[1] for s in ("onecycle", "ema")}
    assert runs["ema"].val_accuracy == runs["onecycle"].val_accuracy
    assert runs["ema"].val_loss == runs["onecycle"].val_loss
    if epochs > 1:
        assert runs["ema"].history[0]["val_loss"] != runs["onecycle"].history[0]["val_loss"]


def test_schedule_free_needs_momentum():
    with pytest.raises(ValueError, match="train.momentum=0 with train.protocol=schedule_free"):
        TrainConfig(protocol="schedule_free", momentum=0.0, nesterov=False)


def test_default_cycles_are_ashas_default_rungs():
    assert TrainConfig(epochs=9, protocol="rung_cycles").cycles() == [1, 3]
    assert TrainConfig(epochs=10, protocol="rung_cycles").cycles() == [1, 3, 9]
    assert TrainConfig(epochs=1, protocol="rung_cycles").cycles() == []
    assert TrainConfig(epochs=9, protocol="rung_cycles", cycle_ends=[2, 5]).cycles() == [2, 5]
    assert TrainConfig(epochs=9).for_rungs([1, 3]).cycle_ends is None  # only rung_cycles follows the rungs


@pytest.mark.parametrize("values, message", [
    ({"cycle_ends": [1, 3]}, "train.cycle_ends=\\[1, 3\\] with train.protocol=ema: only rung_cycles"),
    ({"cycle_ends": [1], "epochs": 1, "protocol": "rung_cycles"}, "none, since one epoch has no rung"),
    ({"protocol": "rung_cycles", "cycle_ends": [3, 1]}, "increasing whole numbers in \\[1, 8\\]"),
    ({"protocol": "rung_cycles", "cycle_ends": [9]}, "increasing whole numbers in \\[1, 8\\]"),
    ({"protocol": "rung_cycles", "cycle_ends": "1,3"}, "train.cycle_ends=1,3"),
    ({"ema_half_life": 0}, "train.ema_half_life=0: must be > 0"),
])
def test_protocol_settings_are_checked(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"epochs": 9, **values})


@pytest.mark.parametrize("protocol", ["onecycle", "cosine", "rung_cycles", "schedule_free", "ema"])
def test_the_model_returned_is_the_one_evaluated(protocol):
    cfg = TrainConfig(epochs=3, batch_size=16, lr=0.1, progress=False, stop_at_chance=False, protocol=protocol)
    train, val = _data()
    model, r = _fit(cfg, data=(train, val))
    assert r.status == "ok" and len(r.history) == 3
    assert evaluate(model, val, cfg.on(CPU)) == (r.val_accuracy, r.val_loss)
    again, r2 = _fit(cfg, data=(train, val))  # and deterministic
    timings = ("seconds", "judge_seconds", "cpu_seconds", "images_per_second")
    assert [{**h, **{k: h2[k] for k in timings}} for h, h2 in zip(r.history, r2.history)] == r2.history


def _protocol(name, **extra):
    train, _ = _data()
    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.1, protocol=name, **extra).on(CPU)
    torch.manual_seed(0)
    model = build_model(TINY, num_classes=2)
    return model, protocol_class(name)(model, param_groups(model, cfg.weight_decay), cfg, STEPS, train, seed=0), train


def _steps(model, protocol, train, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    model.train()
    done = 0
    while done < n:
        for x, y in train.train_batches(16, g):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            protocol.opt.zero_grad(set_to_none=True)
            loss.backward()
            protocol.step()
            done += 1
            if done == n:
                return


def _bn_stats(model):
    return {n: b.clone() for n, b in model.named_buffers() if "running" in n}


def _reference_bn(model, protocol):
    """The statistics a recomputation must give: the mean over the same batches (a second route,
    through torch's own update_bn)."""
    import copy
    import math
    from itertools import islice

    from nas.training.protocols.protocol import BN_IMAGES

    twin = copy.deepcopy(model)
    g = torch.Generator().manual_seed(0 + 2)
    n = max(1, math.ceil(min(BN_IMAGES, len(protocol._train)) / 16))
    torch.optim.swa_utils.update_bn(list(islice(protocol._train.train_batches(16, g), n)), twin)
    return _bn_stats(twin)


def test_schedule_free_judges_the_averaged_iterate_with_its_own_bn_statistics():
    model, protocol, train = _protocol("schedule_free")
    _steps(model, protocol, train, 7)
    group = protocol.opt.param_groups[0]
    momentum = group["momentum"]
    y = {n: p.detach().clone() for n, p in model.named_parameters()}
    z = {n: protocol.opt.state[p]["z"].clone() for n, p in model.named_parameters()}
    before = _bn_stats(model)
    protocol.judge()
    for n, p in model.named_parameters():  # x = (y - (1 - β) z) / β: the average the optimizer keeps
        assert torch.allclose(p, (y[n] - (1 - momentum) * z[n]) / momentum, atol=1e-5), n
    stats = _bn_stats(model)
    assert any(not torch.equal(stats[n], before[n]) for n in stats)
    # recomputed for x: the reference recomputes on a copy of the judged model with torch's update_bn
    for n, value in _reference_bn(model, protocol).items():
        assert torch.allclose(stats[n], value, atol=1e-5), n
    protocol.resume()
    for n, p in model.named_parameters():
        assert torch.allclose(p, y[n], atol=1e-5), n


def test_ema_judges_the_moving_average_computed_by_hand_and_resumes_the_live_weights():
    model, protocol, train = _protocol("ema", ema_half_life=0.5)
    total = 4 * STEPS
    # the average by hand, from the weights after every step: a half-life of 0.5 epochs at the peak
    # learning rate, scaled by the rate of the step that follows
    average = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(1, 8):
        _steps(model, protocol, train, 1, seed=step)
        d = min(0.5 ** (1 / (0.5 * STEPS * lr_factor(step, total, 0.15, "onecycle"))), (1 + step) / (10 + step))
        for n, p in model.named_parameters():
            average[n] = d * average[n] + (1 - d) * p.detach()
    live = {n: t.clone() for n, t in model.state_dict().items()}
    protocol.judge()
    for n, p in model.named_parameters():
        assert torch.allclose(p, average[n], atol=1e-6), n
        assert not torch.equal(p, live[n])
    judged = _bn_stats(model)
    for n, value in _reference_bn(model, protocol).items():
        assert torch.allclose(judged[n], value, atol=1e-5), n
    protocol.resume()
    for n, t in model.state_dict().items():  # training goes on from the live weights, not the average
        assert torch.equal(t, live[n]), n


def test_recompute_bn_averages_batch_statistics():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(3)
    batches = [(torch.randn(8, 3) * 2 + 1, None), (torch.randn(8, 3) * 2 + 1, None)]
    import contextlib

    recompute_bn(bn, iter(batches), contextlib.nullcontext())
    expected = torch.stack([b.mean(0) for b, _ in batches]).mean(0)
    assert torch.allclose(bn.running_mean, expected, atol=1e-6)
    assert bn.momentum == 0.1  # restored


def test_a_stopped_run_leaves_the_judged_weights_in_the_model():
    from nas.scheduling import Stop

    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.1, progress=False, stop_at_chance=False, protocol="ema")
    train, val = _data()
    model, r = _fit(cfg, data=(train, val), rules=[lambda epoch, entry: Stop("rung") if epoch == 2 else None])
    assert r.status == "stopped" and r.epochs == 2
    assert evaluate(model, val, cfg.on(CPU)) == (r.val_accuracy, r.val_loss)


def test_ema_with_a_fixed_half_life_is_kept_for_older_studies():
    """train.ema_follows_lr=false: the earlier rule (the tabular benchmark's), whose last epoch is judged
    on the average and so differs from onecycle's."""
    runs = {s: _fit(TrainConfig(epochs=2, batch_size=16, lr=0.1, progress=False, stop_at_chance=False, protocol=s,
                                ema_follows_lr=f))[1] for s, f in (("onecycle", True), ("ema", False))}
    assert runs["ema"].val_loss != runs["onecycle"].val_loss
    model, protocol, train = _protocol("ema", ema_half_life=0.5, ema_follows_lr=False)
    average = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(1, 5):
        _steps(model, protocol, train, 1, seed=step)
        d = min(0.5 ** (1 / (0.5 * STEPS)), (1 + step) / (10 + step))
        for n, p in model.named_parameters():
            average[n] = d * average[n] + (1 - d) * p.detach()
    protocol.judge()
    for n, p in model.named_parameters():
        assert torch.allclose(p, average[n], atol=1e-6), n
