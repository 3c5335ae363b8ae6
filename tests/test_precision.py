"""Precision (fp32 / bf16 / auto), the host-sync-free step and its logging, compiled nets, and the CUDA path.

The CUDA tests at the end are skipped where no GPU is present; everything else runs on the CPU.
"""
import json
from contextlib import contextmanager

import pyro
import pytest
import torch

import ppl_ssl
from ppl_ssl import precision
from ppl_ssl.errors import ConfigError
from ppl_ssl.pipeline import evaluate_run
from ppl_ssl.precision import AutocastModule, apply_precision, resolve_precision
from ppl_ssl.system import build_system
from ppl_ssl.term_log import PendingTerms
from ppl_ssl.train.loop import fit
from ppl_ssl.train.setup import make_optimiser, prepare_system
from tests.conftest import tiny_config

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _views(preset: str) -> int:
    return 1 if preset.startswith("selfvae") else 2  # selfVAE models one image at a time


def _loss_and_terms(system, views, dtype, seed=0):
    apply_precision(system, dtype)
    pyro.set_rng_seed(seed)
    loss, terms = system.training_loss(views)
    return loss, terms


@pytest.mark.parametrize("preset", ["simvae", "vae-iaf", "iwae", "selfvae-downscale"])
def test_bf16_and_fp32_losses_agree_on_the_same_draw(preset):
    # MLP/conv nets at initialisation on random images: the bf16 nets change the loss by < 1e-3 relative (each
    # term too); a log-likelihood summed in bf16 would be off by > 1e-3 of ~10^4 nats
    j = _views(preset)
    config = ppl_ssl.build_config(preset, {"model.views": j, "model.latent_dim": 4})
    shape = (1, 28, 28)
    system = build_system(config, shape)
    views = torch.rand(16, j, *shape)
    if config.model.likelihood.kind == "logistic_mixture":
        views = torch.round(views * 255) / 255
    with torch.no_grad():
        loss32, terms32 = _loss_and_terms(system, views, torch.float32)
        loss16, terms16 = _loss_and_terms(system, views, torch.bfloat16)
    assert abs(float(loss16) - float(loss32)) <= 1e-3 * abs(float(loss32))
    for name in terms32:
        assert abs(float(terms16[name]) - float(terms32[name])) <= 1e-3 * abs(float(terms32[name])) + 1.0, name


def test_under_bf16_the_nets_compute_in_bf16_and_every_term_stays_fp32():
    config = tiny_config("simvae", "model.views=3")
    system = build_system(config, (1, 8, 8))
    apply_precision(system, torch.bfloat16)
    inner_dtypes = []
    first_linear = next(m for m in system.model.decoder.modules() if isinstance(m, torch.nn.Linear))
    first_linear.register_forward_hook(lambda m, i, out: inner_dtypes.append(out.dtype))
    views = torch.rand(8, 3, 1, 8, 8)
    loss, terms = system.training_loss(views)
    assert inner_dtypes == [torch.bfloat16]  # the net ran under autocast ...
    assert system.model.decoder(torch.randn(5, 4)).dtype == torch.float32  # ... and hands fp32 to the likelihood
    assert system.guide.encoder(views[:, 0])[1].dtype == torch.float32
    assert loss.dtype == torch.float32
    assert {name: t.dtype for name, t in terms.items()} == {name: torch.float32 for name in terms}
    loss.backward()
    assert all(p.dtype == torch.float32 and (p.grad is None or p.grad.dtype == torch.float32) for p in system.parameters())


def test_apply_precision_reaches_every_net_and_fp32_turns_autocast_off():
    system = build_system(tiny_config("mocov2", "model.views=2"), (1, 8, 8))
    nets = [m for m in system.modules() if isinstance(m, AutocastModule)]
    assert len(nets) >= 3  # the encoder, the projection head and the momentum copy
    apply_precision(system, torch.bfloat16)
    assert all(m.compute_dtype == torch.bfloat16 for m in nets)
    apply_precision(system, torch.float32)
    assert all(m.compute_dtype is None for m in nets)


def test_a_bf16_run_checkpoints_in_fp32_and_evaluates_in_bf16(tmp_path):
    # its exact resume is tested with the other resumes (tests/test_fit.py)
    fit(tiny_config("simvae", "model.views=2", "train.precision='bf16'", epochs=2), tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state["system"].values())  # weights stay fp32
    moments = [t for s in state["optimiser"]["state"].values() for k, t in s.items() if k != "step"]
    assert moments and all(t.dtype == torch.float32 for t in moments)
    metrics = evaluate_run(tmp_path / "run", device="cpu", make_figures=False)
    assert metrics["precision"] == "bf16" and 0.3 < metrics["knn_accuracy"] <= 1.0
    run = ppl_ssl.load_run(tmp_path / "run")
    assert all(m.compute_dtype == torch.bfloat16 for m in run.system.modules() if isinstance(m, AutocastModule))


def test_auto_picks_bf16_only_where_the_cpu_runs_it_natively_and_faster(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == torch.float32
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: 0.55)  # an AVX512-BF16 CPU whose bf16 is slower
    assert resolve_precision("auto", cpu) == torch.float32
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: 2.2)
    assert resolve_precision("auto", cpu) == torch.bfloat16
    assert resolve_precision("fp32", cpu) == torch.float32 and resolve_precision("bf16", cpu) == torch.bfloat16


def test_auto_is_recorded_as_what_it_became(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "has_native_bf16", lambda device: True)
    fit(tiny_config("vae", "train.precision='auto'"), tmp_path / "run", progress=False)
    assert ppl_ssl.load_config(tmp_path / "run" / "config.toml").train.precision == "bf16"


def test_an_unknown_precision_is_a_one_line_error():
    with pytest.raises(ConfigError, match="train.precision.*fp32, bf16 or auto"):
        tiny_config("vae", "train.precision='fp16'")


# ------------------------------------------------------------------------------------------ logging without syncs


def _log(path):
    return [json.loads(line) for line in (path / "train_log.jsonl").read_text().splitlines()]


def test_logging_every_n_steps_keeps_every_steps_terms(tmp_path):
    # 256 images / batch 32 = 8 steps per epoch; log_every=3 leaves a remainder of 2 that the epoch's end reads
    straight = fit(tiny_config("simvae", "model.views=2", "train.log_every=1", epochs=2), tmp_path / "every", progress=False)
    batched = fit(tiny_config("simvae", "model.views=2", "train.log_every=3", epochs=2), tmp_path / "batched", progress=False)
    every, grouped = _log(tmp_path / "every"), _log(tmp_path / "batched")
    assert [r["step"] for r in grouped] == list(range(16))
    assert grouped == every  # the same values, step by step
    history = json.loads((tmp_path / "batched" / "history.json").read_text())
    for epoch, summary in enumerate(history):
        lines = [r for r in grouped if r["epoch"] == epoch]
        assert summary["elbo"] == pytest.approx(sum(r["elbo"] for r in lines) / len(lines), rel=1e-9)  # equal batches
    del straight, batched


def test_pending_terms_read_all_steps_at_once_in_nats_per_view():
    pending = PendingTerms()
    pending.add(0, {"loss": torch.tensor(10.0), "elbo": torch.tensor(-10.0)}, views=5)
    pending.add(1, {"loss": torch.tensor(4.0), "elbo": torch.tensor(-4.0)}, views=2)
    assert len(pending) == 2
    assert pending.drain() == [{"step": 0, "views": 5, "loss": 2.0, "elbo": -2.0},
                               {"step": 1, "views": 2, "loss": 2.0, "elbo": -2.0}]
    assert pending.drain() == [] and len(pending) == 0
    with pytest.raises(ValueError, match="terms"):
        pending.add(2, {"loss": torch.tensor(1.0)}, views=1)
        pending.add(3, {"other": torch.tensor(1.0)}, views=1)


@contextmanager
def _no_host_reads(monkeypatch):
    """Inside: reading a tensor's value on the host (what makes a GPU wait) raises."""
    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name}() inside the training step waits for the device")
        return method

    with monkeypatch.context() as patch:
        for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__"):
            patch.setattr(torch.Tensor, name, refuse(name))
        yield


@pytest.mark.parametrize("preset", ["vae", "simvae", "iwae", "vae-iaf", "vamp", "crvae-contrastive", "crvae-consistency", "selfvae-downscale", "simclr",
                                    "vicreg", "mocov2"])
def test_the_training_step_never_reads_a_value_back_to_the_host(preset, monkeypatch):
    j = _views(preset)
    config = tiny_config(preset, f"model.views={j}", "train.precision='bf16'")
    image_shape = (1, 8, 8)
    system = prepare_system(build_system(config, image_shape), config, torch.device("cpu"))
    optimiser = make_optimiser(system, config)  # the trainer's (fused) Adam
    views = torch.round(torch.rand(8, j, *image_shape) * 255) / 255
    pending = PendingTerms()
    with pyro.validation_enabled(False), _no_host_reads(monkeypatch):
        for step in range(2):
            loss, terms = system.training_loss(views, 1.0)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            system.after_step()
            pending.add(step, terms, 16)
    assert len(pending.drain()) == 2


# ------------------------------------------------------------------------------------------------- compiled nets


@pytest.mark.slow  # inductor compiles C++ for the CPU: about a minute
def test_compiled_nets_train_to_the_same_loss_and_keep_parameter_names(tmp_path):
    plain, _ = fit(tiny_config("vae", epochs=1), tmp_path / "plain", progress=False)
    compiled, _ = fit(tiny_config("vae", "train.compile=true", epochs=1), tmp_path / "compiled", progress=False)
    assert plain.state_dict().keys() == compiled.state_dict().keys()
    a, b = _log(tmp_path / "plain"), _log(tmp_path / "compiled")
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=1e-3)


# -------------------------------------------------------------------------------------------------- the CUDA path

GPU_PRESETS = ["vae", "simvae", "iwae", "crvae-contrastive", "crvae-consistency", "selfvae-downscale", "simclr", "vicreg", "mocov2"]


@CUDA
@pytest.mark.parametrize("preset", GPU_PRESETS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_cuda_fit_and_evaluate(tmp_path, preset, dtype):
    config = tiny_config(preset, f"model.views={_views(preset)}", "train.device='cuda'", f"train.precision='{dtype}'", epochs=1)
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False, make_figures=False)
    assert metrics["precision"] == dtype and 0.0 <= metrics["knn_accuracy"] <= 1.0
    again = evaluate_run(tmp_path / "run", device="cuda", make_figures=False)
    assert again["knn_accuracy"] == pytest.approx(metrics["knn_accuracy"], abs=0.05)


@CUDA
def test_cuda_step_does_not_synchronise():
    config = tiny_config("simvae", "model.views=2", "train.device='cuda'", "train.precision='bf16'")
    device = torch.device("cuda")
    system = prepare_system(build_system(config, (1, 8, 8)).to(device), config, device)
    optimiser = make_optimiser(system, config)
    views = torch.rand(8, 2, 1, 8, 8, device=device)
    system.training_loss(views)  # warm-up: lazy initialisation may synchronise once
    torch.cuda.set_sync_debug_mode("error")
    try:
        with pyro.validation_enabled(False):
            loss, _ = system.training_loss(views)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@CUDA
def test_cuda_step_with_colour_augmentation_does_not_synchronise():
    from ppl_ssl.train.setup import build_train_step

    config = tiny_config("simclr", "model.views=2", "train.device='cuda'", "train.precision='bf16'", "augment.jitter_prob=0.8",
                         "augment.brightness=0.4", "augment.contrast=0.4", "augment.saturation=0.4", "augment.hue=0.1",
                         "augment.grayscale_prob=0.2")
    step = build_train_step(config, (3, 8, 8), torch.device("cuda"))
    images = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8, device="cuda")
    step(images)  # warm-up: constants and lazy initialisation
    torch.cuda.set_sync_debug_mode("error")
    try:
        with pyro.validation_enabled(False):
            step(images)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@CUDA
def test_cuda_run_resumes_to_the_uninterrupted_result(tmp_path):
    from ppl_ssl.train.loop import fit

    config = tiny_config("vae", "train.device='cuda'", epochs=2)
    straight, _ = fit(config, tmp_path / "straight", progress=False)
    fit(tiny_config("vae", "train.device='cuda'", epochs=1), tmp_path / "resumed", progress=False)
    resumed, _ = fit(config, tmp_path / "resumed", resume=True, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@CUDA
def test_cuda_scripts_sample_and_nll(tmp_path):
    from ppl_ssl.pipeline import sample_run

    config = tiny_config("simvae", "model.views=2", "train.device='cuda'", epochs=1)
    ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False, make_figures=False)
    result = sample_run(tmp_path / "run", "gmm", n=4, device="cuda")
    assert (tmp_path / "run" / "figures" / "samples_gmm.png").exists() and result["test_code_log_density"] == result["test_code_log_density"]
    metrics = evaluate_run(tmp_path / "run", device="cuda", make_figures=False, nll_samples=8, nll_images=16,
                           representation=False)
    assert metrics["test_nll"] == metrics["test_nll"]  # finite, not NaN


def test_fit_keeps_freed_host_memory_on_linux_with_glibc():
    import sys

    from ppl_ssl.runtime import keep_freed_memory

    took = keep_freed_memory()
    assert isinstance(took, bool)
    if sys.platform.startswith("linux"):
        import platform
        assert took == (platform.libc_ver()[0] == "glibc")
