"""Run folders and presets written before the objective became a component ([objective] kind, particles, beta,
kl_warmup_epochs) still load, resume and evaluate. The folders in tests/data/runs_written_before_the_objective_section
were written by that code: `model.beta`, `train.objective`, `train.particles` and `train.kl_warmup_epochs`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tomllib
import torch

from ppl_ssl.config import build_config, load_config, migrate
from ppl_ssl.errors import ConfigError
from ppl_ssl.pipeline import evaluate_run
from ppl_ssl.runs import load_run
from ppl_ssl.train.loop import fit

OLD_RUNS = Path(__file__).parent / "data" / "runs_written_before_the_objective_section"


def test_the_old_folders_really_use_the_old_spelling():
    beta = tomllib.loads((OLD_RUNS / "beta-vae" / "config.toml").read_text())
    assert beta["model"]["beta"] == 2.0 and beta["train"]["kl_warmup_epochs"] == 0.5 and "objective" not in beta
    iwae = tomllib.loads((OLD_RUNS / "iwae" / "config.toml").read_text())
    assert (iwae["train"]["objective"], iwae["train"]["particles"], iwae["model"]["beta"]) == ("iwae", 3, 1.0)


def test_old_configs_load_into_the_objective_section():
    beta = load_config(OLD_RUNS / "beta-vae" / "config.toml")
    assert beta.objective.kind == "elbo"
    assert (beta.objective.options.beta, beta.objective.options.kl_warmup_epochs, beta.objective.options.particles) == (2.0, 0.5, 1)
    iwae = load_config(OLD_RUNS / "iwae" / "config.toml")
    assert iwae.objective.kind == "iwae" and iwae.objective.options.particles == 3  # its neutral β = 1 is dropped
    simclr = load_config(OLD_RUNS / "simclr" / "config.toml")
    assert simclr.objective == build_config("simclr").objective


@pytest.mark.parametrize("name", ["beta-vae", "iwae", "simclr"])
def test_old_runs_load_with_their_weights(name):
    run = load_run(OLD_RUNS / name, device="cpu")
    saved = torch.load(OLD_RUNS / name / "checkpoint.pt", weights_only=True)["system"]
    for key, value in run.system.state_dict().items():
        assert torch.equal(value, saved[key]), key
    codes = run.encode(torch.rand(3, 1, 8, 8))
    assert codes.shape == (3, 2) and torch.isfinite(codes).all()


@pytest.mark.parametrize("name", ["beta-vae", "simclr"])
def test_old_runs_resume_and_evaluate(tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(OLD_RUNS / name, folder)
    config = load_config(folder / "config.toml")
    longer = config.__class__(**{**config.__dict__, "train": config.train.__class__(**{**config.train.__dict__, "epochs": 2})})
    fit(longer, folder, resume=True, progress=False)
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert "[objective]" in (folder / "config.toml").read_text()  # written back in today's spelling
    metrics = evaluate_run(folder, device="cpu", make_figures=False)
    assert metrics["epochs"] == 2 and 0 <= metrics["knn_accuracy"] <= 1


def test_the_old_spelling_still_reads_on_the_command_line_and_refuses_what_it_cannot_mean():
    assert build_config("vae", assignments=["model.beta=0.5"]).objective.options.beta == 0.5
    assert build_config("vae", assignments=["train.objective=iwae", "train.particles=7"]).objective.options.particles == 7
    with pytest.raises(ConfigError, match="unknown key 'objective.beta'"):
        build_config("vae", assignments=["train.objective=iwae", "model.beta=2.0"])  # a weighted IWAE bound is no bound


def test_migrate_leaves_todays_spelling_alone():
    today = {"model": {"views": 2}, "objective": {"kind": "elbo", "beta": 3.0}}
    assert migrate(today) is today
    moved = migrate({"model": {"beta": 3.0, "views": 2}, "train": {"epochs": 4, "kl_warmup_epochs": 1.0}})
    assert moved == {"model": {"views": 2}, "train": {"epochs": 4}, "objective": {"beta": 3.0, "kl_warmup_epochs": 1.0}}


def test_an_option_added_after_a_run_was_trained_is_its_old_behaviour_at_its_default():
    """A checkpoint's config lacks options that came later; at their defaults (which reproduce earlier runs) they are
    no difference, at any other value they are."""
    from ppl_ssl.config import _to_dict, trained_differences

    config = build_config("vae")
    saved = _to_dict(config)
    del saved["objective"]["kl"]
    assert trained_differences(saved, config) == []
    changed = build_config("vae", assignments=["objective.kl='closed_form'"])
    assert trained_differences(saved, changed) == [("objective.kl", "(absent)", "closed_form")]
