"""What a worker sets up before it touches CUDA: which GPU it sees, and its share of the cores."""

import os

import pytest
import torch

from nas.runtime import INHERITED_MASK, cores, threads_per_worker, use_cpu_threads, use_gpu


@pytest.fixture
def env(monkeypatch):
    """Both variables unset, and put back as they were afterwards — also the ones use_gpu sets."""
    for name in (INHERITED_MASK, "CUDA_VISIBLE_DEVICES"):
        monkeypatch.setenv(name, "")  # recorded, so that the end of the test restores the original
        monkeypatch.delenv(name)
    return monkeypatch


def test_gpu_indexes_the_mask_the_worker_inherited(env):
    env.setenv("CUDA_VISIBLE_DEVICES", "4,5")  # a scheduler gave this job physical GPUs 4 and 5
    use_gpu(1, "cpu")
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    use_gpu(0, "cpu")  # the same process, a later job (a reused launcher worker): still the inherited mask
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "4"


def test_a_gpu_outside_the_mask_is_refused(env):
    env.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with pytest.raises(ValueError, match=r"gpu=2: this worker was given 2 GPU\(s\) \(CUDA_VISIBLE_DEVICES=4,5\); use gpu=0…1"):
        use_gpu(2, "cpu")


def test_without_a_mask_gpu_is_the_physical_index(env):
    import os

    use_gpu(3, "cpu")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_worker_meant_for_a_gpu_that_sees_none_is_refused(env):
    with pytest.raises(ValueError, match="gpu=0: this worker sees no GPU .*set device=cpu"):
        use_gpu(0, "auto")


def test_a_gpu_that_is_not_an_index_is_refused(env):
    with pytest.raises(ValueError, match="gpu='first': give the index of a GPU"):
        use_gpu("first", "cpu")


def test_a_worker_takes_the_threads_it_is_given():
    before = torch.get_num_threads()
    given = 2 if before == 1 else 1  # a change, whatever the machine
    try:
        use_cpu_threads(given)
        assert torch.get_num_threads() == given
        use_cpu_threads(None)  # null: left as it is
        assert torch.get_num_threads() == given
    finally:
        torch.set_num_threads(before)


def test_workers_split_the_cores_this_process_may_use():
    assert cores() <= (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    assert threads_per_worker(1) == cores() and threads_per_worker(10**6) == 1
    assert threads_per_worker(2) == max(1, cores() // 2)
