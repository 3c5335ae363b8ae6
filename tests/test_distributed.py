"""Data-parallel training under torchrun (gloo on the CPU, 2 processes, digits): what a user runs, as a subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ppl_ssl.distributed import Ranks, rank_seed, shard
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [f"--set={s}" for s in TINY] + ["--set=augment.enabled=false", "--set=eval.style_probe=false",
                                           "--set=eval.diagnostics_points=0", "--no-figures", "--quiet"]


def _run(args: list[str], ranks: int, out: Path, timeout: int = 300, device: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"] if ranks > 1 else [sys.executable]
    return subprocess.run([*launcher, "experiments/fit.py", *args, *(["--device", "cpu"] if device is None else device), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["system"]


def test_global_batches_are_split_into_contiguous_shards_with_the_remainder_first():
    index = torch.arange(7)
    parts = [shard(index, Ranks(r, 3)) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4], [5, 6]]
    assert shard(index, Ranks()).tolist() == index.tolist()
    assert rank_seed(10, Ranks(0, 2)) == 10 and rank_seed(10, Ranks(1, 2)) != 10


@pytest.fixture(scope="module")
def two_rank_ae(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    args = ["--model", "ae", "--epochs", "2", *SETTINGS]
    single = _run(args, 1, root / "single")
    double = _run(args, 2, root / "double")
    assert single.returncode == 0, single.stderr[-2000:]
    assert double.returncode == 0, double.stderr[-2000:]
    return root


def test_two_ranks_of_a_deterministic_objective_match_one_process(two_rank_ae):
    # ae: a point-mass guide and no augmentation, so nothing random; the 2-rank run sees each global batch split in
    # two and its gradients averaged (× world size), which must equal the single-process gradient of the batch
    one, two = _weights(two_rank_ae / "single"), _weights(two_rank_ae / "double")
    assert one.keys() == two.keys()
    for name in one:
        a, b = one[name].double(), two[name].double()
        assert (a - b).norm() <= 1e-5 * b.norm() + 1e-7, name
    log_one = [json.loads(x) for x in (two_rank_ae / "single" / "train_log.jsonl").read_text().splitlines()]
    log_two = [json.loads(x) for x in (two_rank_ae / "double" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_two] == [r["step"] for r in log_one]  # every step logged once, by rank 0
    assert [r["loss"] for r in log_two] == pytest.approx([r["loss"] for r in log_one], rel=1e-5)  # summed over ranks


def test_only_rank_zero_writes_the_run_folder(two_rank_ae):
    run = two_rank_ae / "double"
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in (two_rank_ae / "single").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.3 < metrics["knn_accuracy"] <= 1.0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rank_states"]) == 2
    assert not torch.equal(state["rank_states"][0]["rng"]["torch"], state["rank_states"][1]["rng"]["torch"])


def test_resuming_with_another_number_of_ranks_is_refused(two_rank_ae):
    result = _run(["--model", "ae", "--epochs", "3", "--resume", "--quiet"], 1, two_rank_ae / "double", device=[])
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "trained with 2 rank(s) and is resumed with 1" in line and "--nproc-per-node 2" in line


def test_losses_over_in_batch_negatives_are_refused_under_torchrun(tmp_path):
    result = _run(["--model", "simclr", "--epochs", "1", *SETTINGS], 2, tmp_path / "simclr")
    assert result.returncode != 0
    assert "NT-Xent's in-batch negatives must see the projections of every rank" in result.stderr


@pytest.mark.parametrize("preset", ["mocov2", "crvae"])
def test_key_queues_take_every_ranks_keys_and_stay_identical(tmp_path, preset):
    # 2 epochs × 256 images: a queue fed by every rank has taken 512 keys; one fed by rank 0's shard alone, 256.
    # At each checkpoint the trainer compares every parameter and buffer (queue, momentum network) across ranks
    # and stops on a difference, so a clean exit means the replicas agreed.
    result = _run(["--model", preset, "--epochs", "2", "--views", "2", *SETTINGS], 2, tmp_path / preset)
    assert result.returncode == 0, result.stderr[-2000:]
    state = _weights(tmp_path / preset)
    pointer = next(v for k, v in state.items() if k.endswith("queue.pointer"))
    assert int(pointer) == 512


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find torchrun's workers")
def test_a_rank_killed_mid_run_resumes_under_torchrun_to_the_uninterrupted_result(tmp_path):
    # vae with augmentation: Pyro's samples and each rank's views are random, so an exact resume needs every
    # rank's generator states from the checkpoint
    import signal
    import time

    args = ["--model", "vae", "--epochs", "8", *[s for s in SETTINGS if "augment" not in s]]
    reference = _run(args, 2, tmp_path / "straight")
    assert reference.returncode == 0, reference.stderr[-2000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                                 "experiments/fit.py", *args, "--device", "cpu", "--out", str(tmp_path / "killed")],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    while not checkpoint.exists() and launcher.poll() is None:
        time.sleep(0.01)
    workers = _children(launcher.pid)
    assert workers and launcher.poll() is None, "the run ended before a rank could be killed"
    os.kill(workers[-1], signal.SIGKILL)  # one rank dies; torchrun ends the job
    assert launcher.wait(timeout=120) != 0
    epochs_done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= epochs_done < 8
    resumed = _run(["--model", "vae", "--resume", "--quiet"], 2, tmp_path / "killed", device=[])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight, again = _weights(tmp_path / "straight"), _weights(tmp_path / "killed")
    assert all(torch.equal(straight[k], again[k]) for k in straight)
