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


@pytest.mark.slow  # another launch of two processes: make test-all
def test_resuming_with_another_number_of_ranks_is_refused(two_rank_ae):
    result = _run(["--model", "ae", "--epochs", "3", "--resume", "--quiet"], 1, two_rank_ae / "double", device=[])
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "trained with 2 rank(s) and is resumed with 1" in line and "--nproc-per-node 2" in line


def _losses_on_shards(rank: int, world_size: int, rendezvous: str, embeddings: torch.Tensor, results: str) -> None:
    """One rank of a 2-process gloo group: SimCLR's and VICReg's losses on this rank's shard of `embeddings`, as
    the baselines compute them (per-view means × the shard's view count), and their gradients."""
    import torch.distributed as dist

    from ppl_ssl.contrastive import nt_xent, vicreg_terms
    from ppl_ssl.distributed import gather_batch, global_batch

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    try:
        local = embeddings.tensor_split(world_size)[rank].clone().requires_grad_()
        views = local.shape[0] * local.shape[1]
        with global_batch(len(embeddings)):
            batch, offset = gather_batch(local)
            simclr = nt_xent(local, 0.5, batch, offset).mean() * views
            terms = {k: v * views for k, v in vicreg_terms(local, batch=batch).items()}
            simclr_grad, = torch.autograd.grad(simclr, local, retain_graph=True)
            vicreg_grad, = torch.autograd.grad(sum(terms.values()), local)
        totals = torch.stack([simclr.detach(), *[v.detach() for v in terms.values()]])
        dist.all_reduce(totals)  # what the trainer logs: the ranks' sums added up
        torch.save({"totals": totals, "simclr_grad": simclr_grad, "vicreg_grad": vicreg_grad, "offset": offset},
                   f"{results}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_simclr_and_vicreg_over_the_gathered_batch_equal_the_single_process_loss_and_gradient(tmp_path):
    # 7 images over 2 ranks (shards of 4 and 3: the uneven case), 3 views, float64
    embeddings = torch.randn(7, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.multiprocessing.spawn(_losses_on_shards, args=(2, str(tmp_path / "rendezvous"), embeddings, str(tmp_path)),
                                nprocs=2)
    ranks = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]
    assert [r["offset"] for r in ranks] == [0, 4]

    from ppl_ssl.contrastive import nt_xent, vicreg_terms
    whole = embeddings.clone().requires_grad_()
    views = 7 * 3
    simclr = nt_xent(whole, 0.5).mean() * views
    terms = {k: v * views for k, v in vicreg_terms(whole).items()}
    simclr_grad, = torch.autograd.grad(simclr, whole, retain_graph=True)
    vicreg_grad, = torch.autograd.grad(sum(terms.values()), whole)
    expected = torch.stack([simclr.detach(), *[v.detach() for v in terms.values()]])
    for r in ranks:
        torch.testing.assert_close(r["totals"], expected)
    torch.testing.assert_close(torch.cat([r["simclr_grad"] for r in ranks]), simclr_grad)
    torch.testing.assert_close(torch.cat([r["vicreg_grad"] for r in ranks]), vicreg_grad)
    # and the gather is what makes it so: each shard's loss on its own rows differs
    alone = nt_xent(embeddings[:4], 0.5).mean() * 12 + nt_xent(embeddings[4:], 0.5).mean() * 9
    assert not torch.isclose(alone, simclr.detach())


def test_outside_a_training_step_a_batch_is_this_process_alone():
    from ppl_ssl.distributed import gather_batch, global_batch, shard_sizes
    rows = torch.randn(3, 2)
    assert gather_batch(rows)[0] is rows and gather_batch(rows)[1] == 0
    with global_batch(3):  # one process: nothing to gather
        assert gather_batch(rows)[0] is rows
    assert shard_sizes(7, 3) == (3, 2, 2) and shard_sizes(8, 2) == (4, 4)


@pytest.mark.slow  # multi-process: make test-all (one torchrun test stays in make test)
def test_simclr_under_torchrun_trains_as_one_process_on_the_same_global_batch(tmp_path):
    # SimCLR without the head's batch norm (on a CPU it normalises each rank's shard alone) and augmentation off is
    # deterministic: 2 ranks whose NT-Xent sees the gathered batch must end where one process does
    args = ["--model", "simclr", "--epochs", "2", "--views", "2", "--set=method.batch_norm=false", *SETTINGS]
    single = _run(args, 1, tmp_path / "single")
    double = _run(args, 2, tmp_path / "double")
    assert single.returncode == 0, single.stderr[-2000:]
    assert double.returncode == 0, double.stderr[-2000:]
    one, two = _weights(tmp_path / "single"), _weights(tmp_path / "double")
    for name in one:
        a, b = one[name].double(), two[name].double()
        assert (a - b).norm() <= 1e-5 * b.norm() + 1e-7, name


@pytest.mark.slow  # multi-process: make test-all (one torchrun test stays in make test)
def test_vicreg_trains_under_torchrun(tmp_path):
    result = _run(["--model", "vicreg", "--epochs", "1", "--views", "2", *SETTINGS], 2, tmp_path / "vicreg")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "vicreg" / "metrics.json").read_text())
    assert metrics["knn_accuracy"] > 0.3  # 10 classes: well above chance after one epoch


@pytest.mark.slow  # multi-process: make test-all
@pytest.mark.parametrize("preset", ["mocov2", "crvae-contrastive"])
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
@pytest.mark.slow  # multi-process: make test-all (one torchrun test stays in make test)
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
