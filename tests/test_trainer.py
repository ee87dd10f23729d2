import dataclasses
import math

import pytest
import torch
from datasets import class_images

from nas import build_model
from nas.genotype import Block, Genotype, Stem, Transition
from nas.scheduling import Stop
from nas.training.config import TrainConfig
from nas.training.data import DeviceData, ImageSet, channel_stats
from nas.training.trainer import evaluate, fit, param_groups

CPU = torch.device("cpu")
TINY = Genotype(Stem("cifar", 8), (Block(2, 4, bottleneck=2), Block(2, 4)), (Transition(0.5),))


def _data(n_per_class=40, classes=2, size=8, random_labels=False, seed=0):
    images, labels = class_images(n_per_class, classes, size, 3, seed)
    s = ImageSet(torch.from_numpy(images), torch.from_numpy(labels), tuple(map(str, range(classes))))
    if random_labels:
        s = ImageSet(s.images, torch.randint(0, classes, (len(labels),), generator=torch.Generator().manual_seed(1)),
                     s.classes)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = perm[: len(perm) * 3 // 4], perm[len(perm) * 3 // 4:]
    mean, std = channel_stats(s, train_idx)
    return (DeviceData(s, train_idx, CPU, mean, std, crop_padding=1, flip=True),
            DeviceData(s, val_idx, CPU, mean, std))


def _fit(cfg: TrainConfig, data=None, seed=0, genotype=TINY, classes=2, rules=()):
    train, val = data or _data()
    torch.manual_seed(seed)
    model = build_model(genotype, num_classes=classes)
    return model, fit(model, train, val, cfg, num_classes=classes, seed=seed, rules=rules)


def test_learns_an_easy_task_and_reports_everything():
    _, r = _fit(TrainConfig(epochs=4, batch_size=16, lr=0.1, progress=False))
    assert r.status == "ok" and r.reason == ""
    assert r.val_accuracy >= 0.9
    assert r.epochs == 4 and len(r.history) == 4
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.train_seconds > 0 and r.wall_seconds >= r.train_seconds and r.images_per_second > 0
    assert r.peak_memory_bytes > 0
    assert math.isfinite(r.val_loss) and math.isfinite(r.train_loss)


def test_same_seed_same_result_on_cpu():
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, progress=False)
    _, a = _fit(cfg, seed=7)
    _, b = _fit(cfg, seed=7)
    assert (a.val_accuracy, a.val_loss, a.train_loss) == (b.val_accuracy, b.val_loss, b.train_loss)
    _, c = _fit(cfg, seed=8)
    assert c.train_loss != a.train_loss


def test_divergence_stops_with_a_reason():
    _, r = _fit(TrainConfig(epochs=3, batch_size=16, lr=1e12, warmup=0.0, progress=False))
    assert r.status == "diverged" and "loss became" in r.reason
    assert r.epochs == 1


def test_chance_accuracy_stops_after_first_epoch():
    data = _data(n_per_class=100, classes=2, random_labels=True)
    _, r = _fit(TrainConfig(epochs=5, batch_size=32, lr=0.05, progress=False), data=data)
    assert r.status == "chance" and "indistinguishable from chance (0.5000)" in r.reason
    assert r.epochs == 1
    _, r = _fit(TrainConfig(epochs=2, batch_size=32, lr=0.05, stop_at_chance=False, progress=False), data=data)
    assert r.status == "ok" and r.epochs == 2


def test_a_rule_stops_the_run_after_an_epoch_but_never_after_the_last():
    asked = []

    def rule(epoch, entry):
        asked.append((epoch, entry["epoch"]))
        return Stop("outranked at epoch 2") if epoch == 2 else None

    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.1, stop_at_chance=False, progress=False)
    _, r = _fit(cfg, rules=[rule])
    assert r.status == "stopped" and r.reason == "outranked at epoch 2" and r.epochs == 2 and len(r.history) == 2
    assert asked == [(1, 1), (2, 2)]
    asked.clear()
    _, r = _fit(cfg, rules=[lambda epoch, entry: asked.append(epoch)])
    assert r.status == "ok" and r.epochs == 4 and asked == [1, 2, 3]  # the last epoch is the full budget
    _, judged = _fit(dataclasses.replace(cfg, epochs=2), rules=[lambda epoch, entry: None])
    _, plain = _fit(dataclasses.replace(cfg, epochs=2))
    assert judged.history[-1]["val_loss"] == plain.history[-1]["val_loss"]  # a rule that lets it go changes nothing


def test_out_of_memory_is_a_result_not_a_crash():
    # 65,536 stem channels on 256×256 images, batch 16: 275 GB for the first activation, more than any test machine.
    huge = Genotype(Stem("cifar", 65_536), (Block(1, 4),))
    model, r = _fit(TrainConfig(epochs=1, batch_size=16, progress=False), data=_data(12, size=256), genotype=huge)
    assert r.status == "oom" and "out of memory on cpu" in r.reason
    _, ok = _fit(TrainConfig(epochs=1, batch_size=16, progress=False))  # and the process goes on
    assert ok.status == "ok"


def test_no_weight_decay_on_bn_and_biases():
    model = build_model(TINY)
    decay, no_decay = param_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in no_decay["params"]} == {
        id(p) for n, p in model.named_parameters() if "norm" in n or n.endswith("bias")}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_evaluate_counts_every_image():
    """20 images in batches of 7 (7, 7, 6): the last, partial batch counts like the others."""
    train, val = _data()
    model = build_model(TINY, num_classes=2).eval()
    seen = []
    model.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    acc, loss = evaluate(model, val, TrainConfig(eval_batch_size=7).on(CPU))
    assert seen == [7, 7, 6]
    ((x, y),) = list(val.eval_batches(len(val)))  # every image at once: the reference
    with torch.no_grad():
        logits = model(x)
    assert acc == (logits.argmax(1) == y).sum().item() / 20
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-6)


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "train.epochs=0"), ("batch_size", -1, "train.batch_size"), ("lr", 0.0, "train.lr"),
    ("warmup", 1.0, "train.warmup"), ("protocol", "step", "train.protocol=step: unknown training protocol; choose one of onecycle"),
    ("lr", "abc", "train.lr='abc': must be > 0"), ("momentum", 0.0, "train.momentum=0 with train.nesterov=true"),
    ("shrink_batch", "yes", "train.shrink_batch='yes': must be true or false"),
])
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{field: value})


def test_memory_efficient_training_matches_plain():
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05, progress=False)
    _, a = _fit(cfg)
    _, b = _fit(TrainConfig(**{**cfg.__dict__, "memory_efficient": True}))
    assert a.val_accuracy == b.val_accuracy
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)


def _counting_backend(calls, clock=None):
    """A torch.compile backend that records each graph it is given (and runs it as traced); with a
    ``clock`` (a one-item list the trainer's stand-in clock reads), each compilation takes a second on it."""
    def backend(gm, example_inputs):
        calls.append(len(gm.graph.nodes))
        if clock is not None:
            clock[0] += 1.0  # compilation time, as inductor would spend it
        return gm.forward
    return backend


def test_compile_is_still_active_at_a_workers_twelfth_trial(monkeypatch):
    """Twelve different models through one ``forward``: Dynamo's recompile limit is 8 per code object."""
    from nas.training import trainer

    data = _data(n_per_class=16)
    compiled_per_trial = []
    for trial in range(12):
        calls = []
        monkeypatch.setattr(trainer, "COMPILE_BACKEND", _counting_backend(calls))
        genotype = Genotype(Stem("cifar", 4 + trial), (Block(2, 2 + trial % 3),))
        _fit(TrainConfig(epochs=1, batch_size=16, progress=False, compile=True, stop_at_chance=False),
             data=data, genotype=genotype)
        compiled_per_trial.append(len(calls))
    assert all(n >= 1 for n in compiled_per_trial), compiled_per_trial


def test_compile_time_is_kept_out_of_the_training_throughput(monkeypatch):
    import time
    import types

    from nas.training import trainer

    calls, clock = [], [0.0]  # a clock on which compiling takes a second and anything else a microsecond a reading

    def now():
        clock[0] += 1e-6
        return clock[0]

    monkeypatch.setattr(trainer, "COMPILE_BACKEND", _counting_backend(calls, clock))
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=now, process_time=time.process_time))
    cfg = TrainConfig(epochs=2, batch_size=16, progress=False, compile=True, stop_at_chance=False)
    model, r = _fit(cfg)
    # The stand-in clock (not the machine's) charges each compilation one whole unit and each reading a
    # millionth, so the whole units in an interval count the compilations that fell in it.
    def compilations(units: float) -> int:
        return int(units)

    assert calls and compilations(r.compile_seconds) == len(calls)  # the warm-up step paid for every one
    assert compilations(r.train_seconds) == 0 and [compilations(h["seconds"]) for h in r.history] == [0, 0]
    eager, _ = _fit(dataclasses.replace(cfg, compile=False))
    for (name, a), b in zip(model.state_dict().items(), eager.state_dict().values()):  # the warm-up changed nothing
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name
    assert r.images_per_second == pytest.approx(sum(h["seconds"] * h["images_per_second"] for h in r.history)
                                                / r.train_seconds)


def test_compile_and_memory_efficient_together_are_refused():
    with pytest.raises(ValueError, match="train.compile=true with train.memory_efficient=true.*choose one of them"):
        TrainConfig(compile=True, memory_efficient=True)
