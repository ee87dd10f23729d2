"""The unit of work of a trial: the memory cap decides, before training, whether and how it trains."""

import dataclasses

import pytest
import torch
from datasets import write_folder

from nas.genotype.presets import PRESETS
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, prepare
from nas.training.run import fit_in_memory, measure, train_genotype


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_folder(tmp_path_factory.mktemp("ds"), n_per_class=16, classes=3, size=8)
    return prepare(DataConfig("folder", str(root), download=False, val_size=12, cache_dir=str(root / "cache")),
                   torch.device("cpu"))


def _needs(model, data, batch):
    return fit_in_memory(model, data, TrainConfig(batch_size=batch, memory_limit_gb=1e6))[1]


def test_a_batch_over_the_cap_is_halved_with_the_learning_rate_when_allowed(data):
    model, _, _ = measure(PRESETS["densenet_bc40_k12"], data)
    limit = (_needs(model, data, 16) + _needs(model, data, 32)) / 2 / 2**30  # 16 fits, 32 does not
    cfg = TrainConfig(batch_size=32, lr=0.4, memory_limit_gb=limit, shrink_batch=True)
    fitted, need, cap, refusal = fit_in_memory(model, data, cfg)
    assert refusal == "" and fitted.batch_size == 16 and fitted.lr == pytest.approx(0.2) and need <= cap
    refused = fit_in_memory(model, data, dataclasses.replace(cfg, shrink_batch=False))
    assert refused[0].batch_size == 32 and "needs an estimated" in refused[3] and "train.shrink_batch" in refused[3]


def test_a_shrunk_trial_trains_and_says_at_which_batch(data):
    genotype = PRESETS["densenet_bc40_k12"]
    model, _, _ = measure(genotype, data)
    limit = (_needs(model, data, 16) + _needs(model, data, 32)) / 2 / 2**30
    cfg = TrainConfig(epochs=1, batch_size=32, memory_limit_gb=limit, shrink_batch=True, progress=False,
                      stop_at_chance=False)
    _, result = train_genotype(genotype, data, cfg, seed=0)
    assert result["status"] == "ok" and result["batch_size"] == 16
    assert "trained at batch 16 and lr 0.2" in result["reason"]
    assert result["memory_estimate_bytes"] <= result["memory_cap_bytes"]


def test_a_refused_trial_never_allocates_its_model(data, monkeypatch):
    """growth 60,000: counted and refused on the meta device; the real weights (hundreds of GB) never built."""
    from nas.genotype import Block, Genotype, Stem
    from nas.training import run as training_run

    built = []
    monkeypatch.setattr(training_run, "build", lambda *a, **k: built.append(a) or pytest.fail("the model was built"))
    giant = Genotype(Stem("cifar", 16), (Block(12, 60_000),))
    _, result = train_genotype(giant, data, TrainConfig(batch_size=16, progress=False), seed=0)
    assert result["status"] == "oom" and result["params"] > 10**11 and not built
