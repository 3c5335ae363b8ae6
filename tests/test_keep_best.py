"""The validation loss after every epoch, the best checkpoint it chooses (train.keep_best) and early stopping."""
import torch

import ppl_ssl
from ppl_ssl.train import loop
from tests.conftest import tiny_config


def test_every_epoch_logs_a_validation_loss_that_leaves_training_as_it_was(tmp_path):
    on = ppl_ssl.fit_and_evaluate(tiny_config("vae", epochs=2), tmp_path / "on", progress=False)
    off = ppl_ssl.fit_and_evaluate(tiny_config("vae", "train.validation_loss=false", epochs=2), tmp_path / "off",
                                   progress=False)
    history = lambda run: torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)["history"]  # noqa: E731
    assert all("validation_loss" in h for h in history("on")) and not any("validation_loss" in h for h in history("off"))
    weights = lambda run: torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)["system"]  # noqa: E731
    assert all(torch.equal(weights("on")[k], weights("off")[k]) for k in weights("on"))  # the same training
    assert on["knn_accuracy"] == off["knn_accuracy"]


def test_keep_best_evaluates_the_lowest_validation_loss_and_early_stopping_ends_the_run(tmp_path, monkeypatch):
    scripted = iter([5.0, 4.0, 6.0, 7.0, 8.0, 9.0])
    monkeypatch.setattr(loop, "validation_loss", lambda *args, **kwargs: next(scripted))
    config = tiny_config("vae", "train.keep_best=true", "train.early_stopping_patience=2", epochs=6)
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3, 4] and state["history"][-1]["stopped_early"]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["epoch"] == 2 and best["validation_loss"] == 4.0 and metrics["best_epoch"] == 2
    run = ppl_ssl.load_run(tmp_path / "run")
    assert run.best_epoch == 2
    assert all(torch.equal(run.system.state_dict()[k].cpu(), best["system"][k]) for k in best["system"])
    assert not all(torch.equal(state["system"][k], best["system"][k]) for k in best["system"])  # not the last epoch's
    again = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", resume=True, progress=False)  # finished: nothing to train
    assert len(torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["history"]) == 4
    assert again["best_epoch"] == 2



def test_the_training_curves_draw_the_loss_per_epoch_and_mark_the_lowest_validation_loss(tmp_path, monkeypatch):
    from ppl_ssl import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig))
    log = [{"step": s, "epoch": 1 + s // 4, "elbo": -100.0 + s, "lr": 1e-3} for s in range(12)]
    history = [{"epoch": e, "loss": 100.0 - e, "validation_loss": v} for e, v in ((1, 99.0), (2, 97.5), (3, 98.0))]
    figures.training_curves(log, history, tmp_path / "curves.png")
    panels = drawn[-1].axes
    assert [ax.get_title() for ax in panels] == ["ELBO (per view)", "loss per view, per epoch"]  # lr is no term per view
    legend = [text.get_text() for text in panels[-1].get_legend().get_texts()]
    assert "lowest validation loss: epoch 2" in legend
    figures.training_curves(log, [{"epoch": 1, "loss": 99.0}], tmp_path / "curves.png")  # no validation loss: no panel
    assert [ax.get_title() for ax in drawn[-1].axes] == ["ELBO (per view)"]
