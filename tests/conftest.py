"""Shared fixtures: tiny configs on scikit-learn's digits (always available) and tiny nets, so tests run in seconds."""
from __future__ import annotations

import pytest
import torch

import ppl_ssl

TINY = [
    "data.dataset=digits", "data.val_size=200", "data.train_subset=256", "nets.encoder_hidden=[32]",
    "nets.decoder_hidden=[32]", "model.latent_dim=4", "train.batch_size=32", "train.device='cpu'",
    "eval.probe_epochs=3", "eval.gmm_n_init=1", "eval.tsne_points=0", "eval.figures=false",
    "train.precision='fp32'",  # the default `auto` depends on the machine's CPU; tests ask for bf16 where they mean it
]


def tiny_config(preset: str = "simvae", *assignments: str, epochs: int = 1) -> ppl_ssl.Config:
    return ppl_ssl.build_config(preset, {"train.epochs": epochs}, [*TINY, *assignments])


def fit_stopped_after_epoch(config: ppl_ssl.Config, out, epoch: int = 1) -> None:
    """Train into `out` and stop after `epoch`'s checkpoint, as an interrupt would land (the run is left to resume)."""
    from ppl_ssl.train.loop import fit

    def stop(done: int, _summary: dict) -> None:
        if done == epoch:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, out, progress=False, on_epoch_end=stop)


@pytest.fixture(autouse=True)
def _fast_torch():
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    yield


# Property-based tests (Hypothesis): a fixed seed and a small budget of examples in `make test`; `make test-all` runs
# HYPOTHESIS_PROFILE=thorough, a longer random search. Each test's budget is `examples(n)`: n here, ten times n there.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(n: int) -> settings:
    return settings(max_examples=n * (10 if PROFILE == "thorough" else 1))
