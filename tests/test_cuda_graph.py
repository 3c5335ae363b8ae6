"""train.cuda_graph: the step captured once and replayed. The capture needs CUDA (its test is skipped without it);
on the CPU the replay path's bookkeeping runs with the capture replaced by an eager stand-in that, like a graph,
records once and reruns on the static buffers at each replay."""
from __future__ import annotations

import pytest
import torch

from ppl_ssl.errors import ConfigError
from ppl_ssl.train.graph import EagerBackend, GraphedTrainStep, check_graph_config
from ppl_ssl.train.loop import fit
from tests.conftest import tiny_config

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def recorded(monkeypatch):
    """Every GraphedTrainStep built by fit records through one EagerBackend; the CPU stands in for a GPU."""
    backend = EagerBackend()
    real = GraphedTrainStep.__init__
    monkeypatch.setattr(GraphedTrainStep, "__init__",
                        lambda self, step, warmup_steps=3, backend_=None: real(self, step, warmup_steps, backend))
    monkeypatch.setattr("ppl_ssl.train.loop.check_graph_config", lambda *args: None)
    return backend


@pytest.mark.parametrize("preset", ["vae", "mocov2"])
def test_replayed_steps_train_exactly_as_eager_steps(tmp_path, recorded, preset):
    # 250 images in batches of 32: 7 full batches and a partial one of 26 per epoch; β warms up, so the KL weight
    # changes every step and reaches the replays through the device scalar
    settings = ["data.train_subset=250", "model.views=2", "objective.kl_warmup_epochs=1.5"] if preset == "vae" else \
        ["data.train_subset=250", "model.views=2"]
    eager, _ = fit(tiny_config(preset, *settings, epochs=2), tmp_path / "eager", progress=False)
    graphed, _ = fit(tiny_config(preset, *settings, "train.cuda_graph=true", epochs=2), tmp_path / "graphed", progress=False)
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values()):
        assert torch.equal(a, b), name
    assert recorded.events == ["warm-up"] * 3 + ["capture"] + ["replay"] * (2 * 7 - 3)  # partial batches eager
    log = lambda run: (tmp_path / run / "train_log.jsonl").read_text()  # noqa: E731
    assert log("eager") == log("graphed")  # every step's terms, the replayed ones included


def test_a_resumed_graphed_run_continues_exactly(tmp_path, recorded):
    config = tiny_config("vae", "data.train_subset=250", "train.cuda_graph=true", epochs=2)
    straight, _ = fit(config, tmp_path / "straight", progress=False)
    fit(tiny_config("vae", "data.train_subset=250", "train.cuda_graph=true", epochs=1), tmp_path / "resumed", progress=False)
    resumed, _ = fit(config, tmp_path / "resumed", resume=True, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_what_a_captured_step_cannot_do_is_refused_in_one_line():
    config = tiny_config("vae", "train.cuda_graph=true")
    with pytest.raises(ConfigError, match="trains on cpu; use --device cuda"):
        check_graph_config(config, torch.device("cpu"), distributed_run=False)
    with pytest.raises(ConfigError, match="under torchrun"):
        check_graph_config(config, torch.device("cuda", 0), distributed_run=True)
    with pytest.raises(ConfigError, match="choose one"):
        check_graph_config(tiny_config("vae", "train.cuda_graph=true", "train.compile=true"), torch.device("cuda", 0), False)


def test_a_cpu_run_asking_for_a_cuda_graph_stops_before_training(tmp_path):
    with pytest.raises(ConfigError, match="train.cuda_graph"):
        fit(tiny_config("vae", "train.cuda_graph=true"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@CUDA
@pytest.mark.parametrize("preset, precision", [("simvae", "bf16"), ("crvae-contrastive", "fp32"), ("crvae-consistency", "fp32"), ("simclr", "bf16")])
def test_cuda_graph_trains_as_the_eager_step_on_a_gpu(tmp_path, preset, precision):
    settings = ["model.views=2", "train.device='cuda'", f"train.precision='{precision}'", "data.train_subset=250"]
    eager, _ = fit(tiny_config(preset, *settings, epochs=2), tmp_path / "eager", progress=False)
    graphed, _ = fit(tiny_config(preset, *settings, "train.cuda_graph=true", epochs=2), tmp_path / "graphed", progress=False)
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


def test_the_gpu_benchmark_runs_dry_on_the_cpu(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    epoch = bench.main(["--dry-run", "--models", "vae", "simvae", "--modes", "fp32", "bf16", "cuda-graph"])
    assert set(epoch) == {(m, mode) for m in ("vae", "simvae") for mode in ("fp32", "bf16", "cuda-graph")}
    assert all(seconds > 0 for seconds in epoch.values())
    printed = capsys.readouterr().out
    assert "| simvae | 10 |" in printed and "the paper's SimVAE run (400 epochs, J = 10)" in printed
