"""The training evaluator's zero-cost proxies: the trial's initial weights and training batches, nothing else."""


import pytest
import torch
from conftest import small_genotype
from datasets import class_images
from tables import synthetic_table

from nas.evaluators.replay import Replay
from nas.evaluators.training import Training
from nas.tabular.table_file import Table
from nas.training import zero_cost
from nas.training.config import TrainConfig
from nas.training.data import DataConfig, DeviceData, ImageSet, PreparedData, channel_stats
from nas.training.run import build

CPU = torch.device("cpu")


class _Untouchable:
    """Validation data that fails the test if anything reads it."""

    def __getattr__(self, name):
        raise AssertionError(f"validation data read: .{name}")

    def __len__(self):
        raise AssertionError("validation data read: len()")


def _data() -> PreparedData:
    images, labels = class_images(16, 3, 8, 3, 0)
    s = ImageSet(torch.from_numpy(images), torch.from_numpy(labels), ("a", "b", "c"))
    idx = torch.arange(len(labels))
    mean, std = channel_stats(s, idx)
    train = DeviceData(s, idx, CPU, mean, std, crop_padding=1, flip=True)
    return PreparedData(train, _Untouchable(), s.classes, 3, (8, 8), mean, std, DataConfig(name="folder"))


def test_proxies_score_the_trials_initial_weights_on_its_first_training_batches_and_never_validation(tmp_path):
    data = _data()
    genotype = small_genotype("nearest")
    tcfg = TrainConfig(epochs=1, batch_size=8, progress=False)
    out = Training(data, tcfg, ["val_accuracy", "params"], tmp_path).proxies(genotype, 5, zero_cost.NAMES)
    assert list(out) == list(zero_cost.NAMES) and all(v["value"] is not None for v in out.values()), out
    # the same scores from a second route: the model as trial seed 5 builds it, the batches its generator gives
    stream = data.train.train_batches(8, torch.Generator().manual_seed(5))
    batches = [next(stream), next(stream)]
    again = zero_cost.score(build(genotype, data, seed=5), genotype, batches)
    assert {k: v["value"] for k, v in out.items()} == pytest.approx({k: v["value"] for k, v in again.items()}, rel=1e-4)  # ZiCo: a ratio of tiny floats
    other = Training(data, tcfg, ["val_accuracy"], tmp_path).proxies(genotype, 6, ("synflow",))
    assert other["synflow"]["value"] != out["synflow"]["value"]  # another trial, other initial weights


class _Clock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def test_a_replayed_trial_reads_its_proxies_from_the_table_and_waits_their_seconds(tmp_path):
    synthetic_table(tmp_path / "t.json", proxies=True)
    table = Table.load(tmp_path / "t.json")
    clock = _Clock()
    replay = Replay(table, clock)
    run = table.first()[7]
    from nas.section import Section
    from search_spaces import genotype_from_params, get
    genotype = genotype_from_params(get("dense_grid"), Section.of(table.space), run.params)
    out = replay.proxies(genotype, 0, ("nn_mass", "synflow", "zico"))
    assert out["nn_mass"] == table.proxies[run.genotype_id]["nn_mass"]
    assert out["synflow"]["value"] is None and out["zico"]["reason"] == "not in the table's proxy scores"
    assert clock.now() == pytest.approx(0.5 + 0.25)
