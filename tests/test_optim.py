"""Optimisers and learning-rate schedules as components: chosen by config, logged per step, resumed exactly."""
from __future__ import annotations

import json
import math

import pytest
import torch

from ppl_ssl.config import build_config, load_config
from ppl_ssl.contracts import BuildContext
from ppl_ssl.errors import ConfigError
from ppl_ssl.optim import build_optimiser, build_schedule
from ppl_ssl.registry import SCHEDULES
from ppl_ssl.train.loop import fit
from tests.conftest import fit_stopped_after_epoch, tiny_config


def test_the_default_optimiser_is_todays_fused_adam():
    config = build_config("vae")
    assert (config.optim.kind, config.optim.options.eps, config.schedule.kind) == ("adam", 1e-4, "constant")
    optimiser = build_optimiser(config, torch.nn.Linear(2, 2))
    group = optimiser.param_groups[0]
    assert isinstance(optimiser, torch.optim.Adam) and group["fused"] and group["eps"] == 1e-4 and group["lr"] == 1e-3
    assert group["betas"] == (0.9, 0.999) and group["weight_decay"] == 0.0


@pytest.mark.parametrize("kind, cls, setting", [("adamw", torch.optim.AdamW, ("weight_decay", 0.01)),
                                                 ("adamax", torch.optim.Adamax, ("eps", 1e-8)),
                                                 ("sgd", torch.optim.SGD, ("momentum", 0.9))])
def test_each_optimiser_is_chosen_by_its_kind_with_its_options(kind, cls, setting):
    optimiser = build_optimiser(build_config("vae", assignments=[f"optim.kind={kind}", "train.lr=0.05"]), torch.nn.Linear(2, 2))
    assert isinstance(optimiser, cls) and optimiser.param_groups[0]["lr"] == 0.05
    assert optimiser.param_groups[0][setting[0]] == setting[1]


def test_schedules_follow_their_formulas():
    def factors(kind, *settings, epochs=10):
        config = build_config("vae", {"train.epochs": epochs}, [f"schedule.kind={kind}", *settings])
        return [build_schedule(config).factor(t) for t in (0, 1, 2.5, 5, 10)]

    assert factors("constant") == [1.0] * 5
    assert factors("cosine") == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi * 0.1)), 0.5 * (1 + math.cos(math.pi * 0.25)), 0.5, 0.0])
    assert factors("warmup_cosine", "schedule.warmup_epochs=2", "schedule.min_lr_ratio=0.1") == pytest.approx(
        [0.0, 0.5, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5 / 8)), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 3 / 8)), 0.1])
    assert factors("step", "schedule.step_epochs=2.5", "schedule.gamma=0.5") == [1.0, 1.0, 0.5, 0.25, 0.0625]


def test_a_plateau_lowers_the_rate_after_patience_epochs_without_improvement():
    schedule = SCHEDULES.build("plateau", SCHEDULES["plateau"].options(factor=0.5, patience=1), BuildContext(None))
    for loss in (5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0):
        schedule.epoch_end({"loss": 0.0, "validation_loss": loss})
    assert schedule.factor(7) == 0.25  # two plateaus of two epochs each
    on_training = SCHEDULES.build("plateau", SCHEDULES["plateau"].options(factor=0.5, patience=1, monitor="training"),
                                  BuildContext(None))
    assert not on_training.needs_validation_loss
    for loss in (5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0):
        on_training.epoch_end({"loss": loss})  # the epoch's mean training loss (the CR-VAE paper's)
    assert on_training.factor(7) == 0.25
    again = SCHEDULES.build("plateau", SCHEDULES["plateau"].options(), BuildContext(None))
    again.load_state_dict(schedule.state_dict())
    assert again.state_dict() == schedule.state_dict()


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="optim.momentum"):
        build_config("vae", assignments=["optim.kind=sgd", "optim.momentum=1.5"])
    with pytest.raises(ConfigError, match="warmup_epochs = 5.0 leaves no epoch"):
        from ppl_ssl.system import build_system

        build_system(tiny_config("vae", "schedule.kind=warmup_cosine", "schedule.warmup_epochs=5", epochs=3), (1, 8, 8))
    with pytest.raises(ConfigError, match="not a known optimiser"):
        build_config("vae", assignments=["optim.kind=lbfgs"])


def test_the_rate_of_every_step_is_logged(tmp_path):
    config = tiny_config("vae", "schedule.kind=cosine", epochs=2)
    fit(config, tmp_path / "run", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    steps = len(log)
    assert [r["lr"] for r in log] == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * i / steps)) for i in range(steps)])


@pytest.mark.parametrize("settings", [["optim.kind=sgd", "schedule.kind=warmup_cosine", "schedule.warmup_epochs=1"],
                                      ["optim.kind=adamax", "schedule.kind=plateau", "schedule.patience=0"]])
def test_a_resume_continues_exactly_with_any_optimiser_and_schedule(tmp_path, settings):
    config = tiny_config("vae", *settings, epochs=3)
    straight, _ = fit(config, tmp_path / "straight", progress=False)
    fit_stopped_after_epoch(config, tmp_path / "resumed")  # after the epoch's checkpoint, as a kill would land
    resumed, _ = fit(config, tmp_path / "resumed", resume=True, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    history = lambda run: json.loads((tmp_path / run / "history.json").read_text())  # noqa: E731
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in history("straight")] == \
           [{k: v for k, v in h.items() if k != "seconds"} for h in history("resumed")]


def test_configs_with_adams_eps_in_train_still_load(tmp_path):
    (tmp_path / "old.toml").write_text('name = "vae"\n[train]\nadam_eps = 0.001\n')
    assert load_config(tmp_path / "old.toml").optim.options.eps == 0.001


@pytest.mark.parametrize("fused", [True, False])
def test_a_paused_part_is_left_as_if_its_own_optimiser_had_skipped_the_step(fused):
    from ppl_ssl.train.step import held_parts, put_back

    def run(one_optimiser: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        a, b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
        if one_optimiser:  # one Adam over both, part a put back where its flag is 0
            shared = torch.optim.Adam([*a.parameters(), *b.parameters()], lr=0.1, fused=fused)
        else:  # an Adam per part, a's skipped where its flag is 0 (Pythae's way)
            own = {"a": torch.optim.Adam(a.parameters(), lr=0.1, fused=fused),
                   "b": torch.optim.Adam(b.parameters(), lr=0.1, fused=fused)}
        for a_trains in (False, True, False, True):  # a sits out the first step (no state yet) and the third
            x = torch.randn(8, 3)
            loss = b(torch.tanh(a(x))).pow(2).mean()
            loss.backward()
            if one_optimiser:
                held = held_parts(shared, [(list(a.parameters()), torch.tensor(float(a_trains)))])
                shared.step()
                put_back(shared, held)
                shared.zero_grad()
            else:
                for name, optimiser in own.items():
                    if name == "b" or a_trains:
                        optimiser.step()
                    optimiser.zero_grad()
        return [p.detach() for p in (*a.parameters(), *b.parameters())]

    for together, apart in zip(run(True), run(False)):
        assert torch.equal(together, apart)
