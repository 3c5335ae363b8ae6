"""What a GPU would meet, checked on the CPU by simulating CUDA where the behaviour depends on it: a resume whose
checkpoint states would land off the CPU, the RNG state of one GPU, the probes' seeding, a rank's GPU index, the
opt-in SyncBatchNorm, a step's constants, and a rank 0 that evaluates longer than the group's timeout."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ppl_ssl import distributed
from ppl_ssl.augment import AugmentConfig, augment
from ppl_ssl.errors import ConfigError
from ppl_ssl.evaluation.representation import Features, probe_accuracy
from ppl_ssl.runtime import rng_state, set_rng_state
from ppl_ssl.storage import RunPaths
from ppl_ssl.train.checkpoint import Checkpointer
from ppl_ssl.train.loop import fit
from ppl_ssl.train.setup import build_train_step
from tests.conftest import TINY, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def test_a_resume_reads_the_checkpoint_to_the_cpu_whatever_the_training_device(tmp_path):
    # map_location=device put the saved generator states on the GPU, which Generator.set_state refuses; "meta"
    # stands for a device whose tensors the CPU cannot read
    config = tiny_config("vae", epochs=1)
    trained, _ = fit(config, tmp_path / "run", progress=False)
    step = build_train_step(config, (1, 8, 8), torch.device("cpu"))
    order = torch.Generator()
    checkpoints = Checkpointer(RunPaths(tmp_path / "run"), step.system, step.optimiser, step.augmenter, order,
                               distributed.Ranks())
    position = checkpoints.restore(torch.device("meta"))
    assert position.epoch == 1 and position.step == 0
    for (name, a), b in zip(trained.state_dict().items(), step.system.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.fixture
def simulated_gpus(monkeypatch):
    """torch.cuda as seen by code that asks: two GPUs whose RNG states are recorded, never every GPU's at once."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: torch.full((8,), torch.device(device).index, dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append((state.device.type, state[0].item(), torch.device(device).index)))

    def every_gpu(*_):
        raise AssertionError("the state of every visible GPU was read or written")

    monkeypatch.setattr(torch.cuda, "get_rng_state_all", every_gpu)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", every_gpu)
    return calls


def test_only_the_training_gpus_random_state_is_saved_and_restored(simulated_gpus):
    state = rng_state(torch.device("cuda", 1))
    assert state["cuda_device"].tolist() == [1] * 8 and "cuda" not in state
    set_rng_state(state, torch.device("cuda", 1))
    assert simulated_gpus == [("cpu", 1, 1)]
    # a checkpoint that kept every visible GPU's state restores its training GPU's, by index
    set_rng_state({**rng_state(), "cuda": [torch.zeros(8, dtype=torch.uint8), torch.full((8,), 7, dtype=torch.uint8)]},
                  torch.device("cuda", 1))
    assert simulated_gpus[-1] == ("cpu", 7, 1)
    assert "cuda_device" not in rng_state("cpu")  # a CPU run saves no GPU state even where GPUs are visible


def test_probes_seed_their_own_initialisation_and_leave_the_gpus_alone(monkeypatch):
    reseeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: reseeded.append(seed))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    split = lambda: rng.normal(size=(60, 4)).astype(np.float32) + labels[:, None]  # noqa: E731
    features = Features(split(), labels, split(), labels, split(), labels)
    before = torch.get_rng_state()
    first = probe_accuracy(features, None, 3, 1e-2, 16, seed=5)
    assert torch.equal(torch.get_rng_state(), before) and reseeded == []
    assert probe_accuracy(features, None, 3, 1e-2, 16, seed=5) == first  # seeded: the same probe again


def test_a_rank_gets_the_visible_gpu_of_its_local_rank_or_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert distributed.rank_device(torch.device("cuda"), distributed.Ranks(0, 2, 0)) == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match=r"LOCAL_RANK=1 needs GPU 1, but CUDA_VISIBLE_DEVICES='3' leaves 1 visible"):
        distributed.rank_device(torch.device("cuda"), distributed.Ranks(1, 2, 1))


def test_sync_batch_norm_is_opt_in(monkeypatch):
    converted = []
    monkeypatch.setattr(nn.parallel, "DistributedDataParallel", lambda module, device_ids=None: module)
    monkeypatch.setattr(nn.SyncBatchNorm, "convert_sync_batchnorm", lambda module: converted.append(module) or module)
    system, gpu, two = nn.BatchNorm1d(3), torch.device("cuda", 0), distributed.Ranks(0, 2, 0)
    distributed.wrap(system, gpu, two)
    assert converted == []
    distributed.wrap(system, gpu, two, sync_batch_norm=True)
    assert converted == [system]
    assert tiny_config("simclr").train.sync_batch_norm is False


def test_a_step_of_colour_augmentation_builds_no_tensor_from_python_values(monkeypatch):
    # on a GPU each torch.tensor([...]) inside a step is a blocking host-to-device copy
    colour = AugmentConfig(crop_scale=[0.6, 1.0], brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, jitter_prob=1.0,
                           grayscale_prob=0.5)
    images, generator = torch.rand(4, 3, 8, 8), torch.Generator().manual_seed(0)
    first = augment(images, 2, colour, generator).images  # constants are made here, once per device
    made = []
    real = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **k: made.append(a) or real(*a, **k))
    again = augment(images, 2, colour, torch.Generator().manual_seed(0)).images
    assert made == [] and torch.equal(first, again)


@pytest.mark.slow  # two processes under torchrun
def test_rank_zero_may_evaluate_longer_than_the_group_timeout(tmp_path):
    # the other rank used to wait for rank 0's evaluation in a barrier, which the group's timeout ended
    settings = [f"--set={s}" for s in TINY] + ["--set=train.rank_timeout_minutes=0.05", "--set=eval.style_probe=false"]
    env = {**os.environ, "PPL_SSL_INJECT_DELAY": "evaluation:8", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             "experiments/fit.py", "--model", "vae", "--epochs", "1", *settings, "--device", "cpu",
                             "--no-figures", "--quiet", "--out", str(tmp_path / "run")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
