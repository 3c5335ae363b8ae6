"""Validation curves during training (`train.track_every`): they are scores of the validation split only, they leave
the training itself untouched, and the reproduction draws them against epochs."""
import json

import torch

from ppl_ssl.reproduction import BUDGETS, SUITES
from ppl_ssl.train.loop import fit
from tests.conftest import tiny_config


def test_tracking_scores_validation_every_few_epochs_and_leaves_the_training_bit_identical(tmp_path):
    plain, _ = fit(tiny_config("vae", epochs=3), tmp_path / "plain", progress=False)
    tracked, _ = fit(tiny_config("vae", "train.track_every=2", epochs=3), tmp_path / "tracked", progress=False)
    for (name, a), (_, b) in zip(plain.state_dict().items(), tracked.state_dict().items()):
        assert torch.equal(a, b), name  # the scores draw no random number the training would have drawn
    history = json.loads((tmp_path / "tracked" / "history.json").read_text())
    assert [("val_knn_accuracy" in h) for h in history] == [False, True, True]  # every 2 epochs, and the last
    for h in history[1:]:
        assert 0 <= h["val_gmm_accuracy"] <= 1 and 0 < h["val_knn_accuracy"] <= 1 and 1 <= h["val_knn_k"] <= 15
        assert h["val_mutual_information"] <= h["val_kl"] + 1e-6 and 0 <= h["val_active_units"] <= 4  # MI + KL_agg = KL


def test_the_long_budget_and_suite_and_the_beta_tuning_suite():
    long, suite = BUDGETS["long"], SUITES["long"]
    assert long.overrides("svi")["train.epochs"] == 32 and suite.curves and suite.seeds == 1
    assert "schedule.kind='warmup_cosine'" in suite.shared and "train.track_every=2" in suite.shared
    assert [spec.model for spec in suite.specs([1])] == ["simvae", "vae", "crvae-consistency"]
    tune = SUITES["tune-beta"]
    assert {spec.setting for spec in tune.specs([1])} == {f"beta={b:g}" for b in (0.1, 0.2, 0.5, 1, 2, 5, 10, 25)}
    assert [key for key, _, _ in tune.metrics] == ["val_knn_accuracy", "val_gmm_accuracy"]  # never the test split
    assert BUDGETS["paper"].overrides("random")["train.epochs"] == 1  # an encoder that does not learn: one epoch


def test_table1_has_the_papers_rows():
    assert [model for model, *_ in SUITES["table1"].runs] == [
        "random", "vae", "beta-vae", "crvae-consistency", "simvae", "mocov1", "mocov2", "vicreg", "simclr"]
    assert "crvae-contrastive" in [model for model, *_ in SUITES["crvae"].runs]
