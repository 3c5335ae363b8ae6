"""Reproducing the papers: the transcribed numbers, budgets, suites, the report's verdicts, and the resumable runner."""
import json
import math
import time

import pytest

import ppl_ssl
from ppl_ssl.errors import ConfigError
from ppl_ssl.reproduction import BUDGETS, SUITES, PaperValue, budget, paper_tables, paper_value, reproduce, suite
from ppl_ssl.config import build_config
from ppl_ssl.reproduction.report import markdown, select_on_validation, summarise, verdict
from ppl_ssl.reproduction.runner import RunResult
from ppl_ssl.reproduction.suites import RunSpec
from tests.conftest import TINY

NOT_PRESETS = {"infovae", "infomax-vae", "vae-realnvp"}  # rows of models no preset of ppl-ssl names so


def test_every_paper_table_parses_and_names_known_models():
    tables = paper_tables()
    assert {"simvae-table1", "simvae-table5", "simvae-table6", "simvae-table7", "crvae-table3", "selfvae-table1"} <= set(tables)
    presets = set(ppl_ssl.config.preset_names())
    for table in tables.values():
        assert table.source and table.values
        assert set(table.models) <= presets | NOT_PRESETS, table.key


@pytest.mark.parametrize("metric, model, dataset, expected", [
    ("knn_accuracy", "simvae", "fashion-mnist", (86.5, 0.0, "simvae-table1")),
    ("mlp_probe_accuracy", "vae", "cifar10", (30.3, 0.4, "simvae-table1")),
    ("gmm_accuracy", "beta-vae", "fashion-mnist", (68.0, 0.3, "simvae-table5")),
    ("gmm_ari", "simclr", "cifar10", (52.2, 0.1, "simvae-table6")),
    ("fid", "vae", "cifar10", (365.4, 3.3, "simvae-table7")),
    ("reconstruction_mse", "simvae", "mnist", (0.026, 0.0, "simvae-table7")),
    # the SimVAE paper's CR-VAE is Sinha & Dieng's consistency-regularised VAE, not the contrastive CR-VAE
    ("knn_accuracy", "crvae-consistency", "fashion-mnist", (86.4, 0.0, "simvae-table1")),
    ("knn_accuracy", "crvae-contrastive", "fashion-mnist", (82.29, 0.72, "crvae-table3")),  # its own paper
    ("knn_accuracy", "random", "fashion-mnist", (66.5, 0.4, "simvae-table1")),
    ("mlp_probe_accuracy", "mocov1", "fashion-mnist", (65.1, 0.4, "simvae-table1")),
])
def test_transcribed_numbers_match_the_papers(metric, model, dataset, expected):
    value, table = paper_value(metric, model, dataset)
    assert (value.mean, value.se, table) == expected
    crvae = paper_tables()["crvae-table3"].get("crvae-contrastive", "knn_accuracy", "fashion-mnist")
    assert crvae == PaperValue(82.29, 0.72)
    assert paper_value("gmm_nmi", "mocov1", "celeba") is None  # "—" in the paper
    # the table1 suite reads the SimVAE tables only, where the contrastive CR-VAE has no row of its own
    assert paper_value("knn_accuracy", "crvae-contrastive", "fashion-mnist", SUITES["table1"].paper_tables) is None
    assert paper_value("knn_accuracy", "crvae-consistency", "fashion-mnist", SUITES["crvae"].paper_tables) is None


def test_verdicts_read_noise_and_direction():
    paper = PaperValue(80.0, 0.5)
    assert verdict(80.8, 0.2, paper, lower_is_better=False, percent=True) == "≈"   # within 1 point
    assert verdict(84.0, 0.2, paper, lower_is_better=False, percent=True) == "▲"
    assert verdict(70.0, 0.2, paper, lower_is_better=False, percent=True) == "▼"
    assert verdict(83.0, 2.0, paper, lower_is_better=False, percent=True) == "≈"   # 3 points, but 2 s.e. ≈ 4.1
    assert verdict(0.010, math.nan, PaperValue(0.012, 0.0), lower_is_better=True, percent=False) == "▲"
    assert verdict(12.0, 0.1, PaperValue(8.41, 0.09), lower_is_better=None, percent=False) == "↑"  # a KL: no better


def test_budgets_set_epochs_and_learning_rates_by_method_family():
    paper = budget("paper")
    assert paper.overrides("svi")["train.epochs"] == 400 and paper.overrides("svi")["train.lr"] == 8e-5
    assert paper.overrides("simclr")["train.epochs"] == 600 and paper.overrides("simclr")["train.lr"] == 8e-5
    assert "train.lr" not in paper.overrides("mocov2")  # not in the paper: the preset's
    assert paper.overrides("vicreg")["train.lr"] == 1e-4 and paper.overrides("svi")["eval.gmm_n_init"] == 200
    assert "400 epochs" in paper.describe() and "lr 8e-05" in paper.describe()
    cpu = budget("cpu")  # ablation sweeps (settings × seeds) train shorter; the tables keep their epochs
    assert cpu.overrides("svi", "ablation")["train.epochs"] == 5 and cpu.overrides("svi", "table")["train.epochs"] == 10
    assert paper.overrides("svi", "ablation")["train.epochs"] == 400 and "5 for every run of an ablation" in cpu.describe()
    with pytest.raises(ConfigError, match="unknown budget 'fast'; choose one of paper, cpu, long, smoke"):
        budget("fast")
    with pytest.raises(ConfigError, match="unknown suite 'table2'"):
        suite("table2")


def test_suites_run_each_setting_in_a_folder_of_its_own():
    folders = {}
    for s in SUITES.values():
        for spec in s.specs([1, 2]):
            # the budget trains ablation sweeps for their own number of epochs, so that is part of the configuration
            key = (spec.model, spec.assignments, spec.seed, s.kind == "ablation")
            assert folders.setdefault(spec.folder, key) == key  # one folder, one configuration (shared across suites)
    assert {spec.value for spec in SUITES["ablation-views"].specs([1])} == {1, 2, 4, 6, 8, 10}
    # seed-major: a reproduction stopped part-way holds every row at its first seed before any at a second
    table = SUITES["table1"].specs([1, 2])
    assert [spec.seed for spec in table] == sorted(spec.seed for spec in table) and len({s.model for s in table[:9]}) == 9
    crvae = SUITES["crvae"].specs([1])  # the CR-VAE paper's setting, in folders of its own
    assert all("model.latent_dim=16" in spec.assignments and spec.folder.endswith("-protocol-s1") for spec in crvae)
    assert SUITES["crvae"].seeds == 5
    at_cpu = SUITES["crvae"].with_budget("cpu")  # the suite's own epochs and data at a budget, after the protocol
    assert at_cpu.shared[-2:] == ("train.epochs=8", "data.train_subset=10000")
    assert SUITES["crvae"].with_budget("paper").shared[-1] == "train.epochs=50" and SUITES["table1"].with_budget("cpu") == SUITES["table1"]
    # the two long sweeps train on part of the split at cpu only, so that each fits a sitting on 2 cores
    assert SUITES["ablation-variance"].with_budget("cpu").shared[-1] == "data.train_subset=20000"
    assert SUITES["ablation-augment"].with_budget("cpu").shared[-1] == "data.train_subset=10000"
    assert SUITES["ablation-augment"].with_budget("paper") == SUITES["ablation-augment"]
    gamma = SUITES["crvae-gamma"].specs([1])
    assert [spec.value for spec in gamma] == [0.0, 0.1, 0.5, 1.0, 2.0] and all(s.model == "crvae-contrastive" for s in gamma)
    assert len(suite("all")) == len(SUITES) and set(BUDGETS) == {"paper", "cpu", "long", "smoke"}


def test_models_cuts_the_suites_to_their_rows_and_names_a_row_that_is_not_there():
    from ppl_ssl.reproduction.reproduce import only_models
    cut = only_models(suite("all"), ["iwae", "vamp"])
    assert {s.name for s in cut} >= {"likelihood", "pythae"} and "ablation-views" not in {s.name for s in cut}
    assert {model for s in cut for model, *_ in s.runs} == {"iwae", "vamp"}
    likelihood = next(s for s in cut if s.name == "likelihood")
    assert [r for r in SUITES["likelihood"].runs if r[0] in ("iwae", "vamp")] == list(likelihood.runs)
    with pytest.raises(ConfigError, match="--models: simclr is not a row"):
        only_models(suite("likelihood"), ["vae", "simclr"])


def test_the_report_sets_ours_beside_the_papers_with_a_verdict(tmp_path):
    results = [RunResult(RunSpec(model, seed), tmp_path, {"knn_accuracy": knn, "gmm_nmi": 0.5, "train_seconds": 60.0,
                                                          "eval_seconds": 30.0, "precision": "fp32"})
               for model, seed, knn in [("simvae", 1, 0.86), ("simvae", 2, 0.87), ("simclr", 1, 0.70), ("simclr", 2, 0.71)]]
    summary = summarise(SUITES["table1"], results, "fashion-mnist")
    assert summary["simvae"]["knn_accuracy"]["mean"] == pytest.approx(86.5)
    assert summary["simvae"]["knn_accuracy"]["verdict"] == "≈" and summary["simclr"]["knn_accuracy"]["verdict"] == "▼"
    text = markdown(SUITES["table1"], budget("cpu"), "fashion-mnist", results, summary, [])
    assert "| simvae | 86.5 ± 0.5 | 86.5 ± 0.0 ≈ |" in text and "| simclr | 70.5 ± 0.5 | 76.0 ± 0.1 ▼ |" in text
    assert "budget 'cpu'" in text and "Seeds 1, 2" in text and "4 runs, 6.0 min" in text
    assert "NMI" in text and "MP" not in text.split("\n")[2]  # columns without any value are left out


@pytest.mark.slow  # twelve fits and their resumption: make test-all
def test_a_reproduction_runs_resumes_and_reports(tmp_path):
    # the smoke budget on digits with tiny nets: the whole path in seconds
    settings = [s for s in TINY if not s.startswith("data.dataset")]
    report = reproduce("ablation-views", "smoke", "digits", seeds=2, out=tmp_path, device="cpu", assignments=settings)
    (key, section), = report["sections"].items()
    assert key.startswith("smoke-set") and key.endswith("/digits/ablation-views")  # --set runs kept apart from plain ones
    assert len(section["runs"]) == 12 and set(section["summary"]) == {f"simvae J={j}" for j in (1, 2, 4, 6, 8, 10)}
    assert all(len(row["knn_accuracy"]["values"]) == 2 for row in section["summary"].values())
    assert (tmp_path / "ablation-views-j.png").stat().st_size > 1000
    text = (tmp_path / "report.md").read_text()
    assert "| simvae J=4 |" in text and "![ablation-views" in text

    # a rerun reuses finished runs; a run killed after its checkpoint (no metrics yet) is resumed, not restarted
    folders = [tmp_path / name for name in section["runs"]]
    stamps = {f: (f / "checkpoint.pt").stat().st_mtime_ns for f in folders}
    (folders[0] / "metrics.json").unlink()
    again = reproduce("ablation-views", "smoke", "digits", seeds=2, out=tmp_path, device="cpu", assignments=settings)
    assert all((f / "checkpoint.pt").stat().st_mtime_ns == stamps[f] for f in folders)  # nothing retrained
    assert (folders[0] / "metrics.json").exists()
    assert again["sections"].keys() == report["sections"].keys()


def test_a_suites_scoring_time_is_recorded_once_per_run(tmp_path, monkeypatch):
    from ppl_ssl.reproduction import runner

    def score(folder, budget, out, device, progress):  # a scorer that takes a known while and merges one score
        metrics = json.loads((folder / "metrics.json").read_text())
        calls.append(folder)
        time.sleep(0.2)
        (folder / "metrics.json").write_text(json.dumps({**metrics, "fid_samples": budget.fid_samples}))

    calls = []
    monkeypatch.setitem(runner.SCORERS, "generation",
                        runner.Scorer(lambda m, b: m.get("fid_samples") == b.fid_samples, score))
    settings = [s for s in TINY if not s.startswith("data.dataset")]
    report = reproduce("generation", "smoke", "digits", seeds=1, out=tmp_path, device="cpu", assignments=settings,
                       models=["vae"])
    (section,) = report["sections"].values()
    (metrics,) = section["runs"].values()
    assert 0.2 <= metrics["scoring_seconds"] < 60 and metrics["fid_samples"] == budget("smoke").fid_samples
    again = reproduce("generation", "smoke", "digits", seeds=1, out=tmp_path, device="cpu", assignments=settings,
                      models=["vae"])  # scored once: a rerun neither scores again nor loses the recorded time
    assert len(calls) == 1 and list(again["sections"].values())[0]["runs"] == section["runs"]


@pytest.mark.slow
def test_every_suite_runs_at_the_smoke_budget(tmp_path):
    report = reproduce("all", "smoke", "fashion-mnist", out=tmp_path, device="cpu", precision="fp32")
    assert {key.split("/")[-1] for key in report["sections"]} == set(SUITES)
    text = (tmp_path / "report.md").read_text()
    for name in SUITES:
        assert f"## {name}:" in text
    assert "86.5 ± 0.0" in text and "fid_fashion_mnist" in text and "The paper's selfvae-table1 reports cifar10" in text
    generation = report["sections"]["smoke/fashion-mnist/generation"]["summary"]
    assert all(row["fid_class_conditional"]["mean"] > 0 for row in generation.values())
    scored = report["sections"]["smoke/fashion-mnist/generation"]["runs"].values()
    assert all(metrics["scoring_seconds"] > 0 for metrics in scored)  # the scorer's time is counted in the report


def test_the_pythae_report_keeps_per_task_the_configuration_best_on_validation(tmp_path):
    """Pythae's selection: per model and task, the setting whose validation score (mean over seeds) is best, shown
    with its test value, whatever the test values of the other settings are."""
    pythae = SUITES["pythae"]
    runs = [  # β = 0.1 reconstructs best on validation, β = 2 clusters best on validation; the test values disagree
        ("beta-vae", "beta=0.1", 1, {"val_reconstruction_mse": 0.010, "reconstruction_mse": 0.020,
                                     "val_kmeans_accuracy": 0.5, "kmeans_accuracy": 0.9}),
        ("beta-vae", "beta=0.1", 2, {"val_reconstruction_mse": 0.012, "reconstruction_mse": 0.022,
                                     "val_kmeans_accuracy": 0.5, "kmeans_accuracy": 0.9}),
        ("beta-vae", "beta=2", 1, {"val_reconstruction_mse": 0.030, "reconstruction_mse": 0.001,
                                   "val_kmeans_accuracy": 0.7, "kmeans_accuracy": 0.6}),
        ("beta-vae", "beta=2", 2, {"val_reconstruction_mse": 0.030, "reconstruction_mse": 0.001,
                                   "val_kmeans_accuracy": 0.7, "kmeans_accuracy": 0.6}),
        ("ae", "", 1, {"val_reconstruction_mse": 0.005, "reconstruction_mse": 0.006,
                       "val_fid_fashion_mnist_sampler_gmm": 9.0, "fid_fashion_mnist_sampler_gmm": 11.0}),
    ]
    results = [RunResult(RunSpec(model, seed, setting), tmp_path, metrics) for model, setting, seed, metrics in runs]
    summary = summarise(pythae, results, "fashion-mnist")
    assert set(summary) == {"beta-vae beta=0.1", "beta-vae beta=2", "ae"}  # every configuration summarised
    chosen = select_on_validation(pythae, results, summary, "fashion-mnist")
    assert chosen["beta-vae"]["reconstruction_mse"]["setting"] == "beta=0.1"
    assert chosen["beta-vae"]["reconstruction_mse"]["mean"] == pytest.approx(21.0)  # ×10⁻³, test, of β = 0.1
    assert chosen["beta-vae"]["kmeans_accuracy"]["setting"] == "beta=2"
    assert chosen["ae"]["fid_sampler_gmm"]["mean"] == pytest.approx(11.0)  # feature scores under the dataset's name
    text = markdown(pythae, budget("cpu"), "fashion-mnist", results, summary, [])
    assert "| beta-vae | 21.00 ± 1.00 (beta=0.1) |" in text and "60.0 ± 0.0 (beta=2)" in text
    assert "| ae | 6.00 |" in text and "chosen" not in text.split("\n")[2]


def test_the_report_names_the_feature_network_and_warns_when_runs_were_scored_by_different_ones(tmp_path):
    pythae = SUITES["pythae"]

    def text(*digests):
        results = [RunResult(RunSpec("ae", seed), tmp_path, {"val_fid_fashion_mnist_sampler_gmm": 9.0,
                                                              "fid_fashion_mnist_sampler_gmm": 11.0 + seed,
                                                              "fid_feature_accuracy": 0.83,
                                                              **({"fid_feature_digest": d} if d else {})})
                   for seed, d in enumerate(digests, 1)]
        return markdown(pythae, budget("cpu"), "fashion-mnist", results, summarise(pythae, results, "fashion-mnist"), [])

    assert "Feature network aaaaaaaaaaaa (sha1 of its weights) for the 2 runs" in text("aaaaaaaaaaaa", "aaaaaaaaaaaa", None)
    mixed = text("aaaaaaaaaaaa", "bbbbbbbbbbbb")
    assert "scored by 2 different feature networks (aaaaaaaaaaaa, bbbbbbbbbbbb)" in mixed and "Feature network aaa" not in mixed
    assert "Feature network" not in text(None) and "Warning" not in text(None)


def test_the_pythae_suites_follow_its_protocol_and_grid():
    pythae = SUITES["pythae"]
    assert len({model for model, *_ in pythae.runs}) == 19 and pythae.scorer == "pythae"
    assert "nets.kind='pythae_convnet'" in pythae.shared and "train.lr=1e-4" in pythae.shared
    at_cpu = pythae.with_budget("cpu").shared
    assert at_cpu.index("nets.kind='pythae_resnet'") > at_cpu.index("nets.kind='pythae_convnet'")  # the budget's wins
    for model, setting, _, assignments in pythae.runs:  # every configuration builds
        build_config(model, {}, [*pythae.shared, *assignments])
    variational = {m for m, _, _, a in pythae.runs if "model.likelihood.variance=1.0" in a}
    assert "vae" in variational and "aae" in variational and not {"ae", "wae", "vq-vae", "rae-l2"} & variational
    latent = SUITES["pythae-latent"]
    assert latent.kind == "ablation" and latent.scorer == "pythae"
    assert sorted({spec.value for spec in latent.specs([1])}) == [16, 32, 64, 128, 256]


def test_the_interpolation_figure_draws_each_models_configuration_with_the_best_validation_fid(tmp_path, monkeypatch):
    """Pythae's Appendix B: a row per model, the configuration whose GMM sampler had the lowest validation FID."""
    import ppl_ssl.figures as figures
    from ppl_ssl.reproduction.report import interpolation_figure
    from tests.conftest import tiny_config

    runs = []
    for model, setting, fid in (("vae", "", 5.0), ("beta-vae", "beta=0.1", 9.0), ("beta-vae", "beta=2", 3.0)):
        folder = tmp_path / f"{model}-{setting or 'only'}"
        ppl_ssl.fit_and_evaluate(tiny_config(model, "eval.style_probe=false"), folder, progress=False, make_figures=False)
        runs.append(RunResult(RunSpec(model, 1, setting), folder, {"val_fid_digits_sampler_gmm": fid,
                                                                   "fid_digits_sampler_gmm": fid + 1}))
    drawn = {}
    monkeypatch.setattr(figures, "interpolations_by_model",
                        lambda systems, data, path: drawn.update(systems) or figures.plt.figure().savefig(path))
    pythae = SUITES["pythae"]
    path = interpolation_figure(pythae, runs, summarise(pythae, runs, "digits"), tmp_path, "digits", device="cpu")
    assert path.exists() and list(drawn) == ["vae", "beta-vae beta=2"]


def test_interpolations_by_model_decode_the_line_between_the_same_two_test_images(tmp_path):
    from ppl_ssl.figures import interpolations_by_model
    from ppl_ssl.runs import load_run
    from ppl_ssl.train.setup import load_data_for
    from tests.conftest import tiny_config

    ppl_ssl.fit_and_evaluate(tiny_config("vae", "eval.style_probe=false"), tmp_path / "vae", progress=False,
                             make_figures=False)
    run = load_run(tmp_path / "vae", device="cpu")
    data = load_data_for(run.config, run.device)
    interpolations_by_model({"vae": run.system, "again": run.system}, data, tmp_path / "lines.png", steps=5)
    assert (tmp_path / "lines.png").stat().st_size > 1000


def test_runs_recorded_in_an_earlier_report_join_a_new_one_when_made_with_the_same_settings(tmp_path):
    settings = [s for s in TINY if not s.startswith("data.dataset")]
    run = dict(budget_name="smoke", dataset="digits", device="cpu", assignments=settings, models=["random", "vae"])
    first = reproduce("table1", seeds=1, out=tmp_path / "a", **run)
    record = tmp_path / "a" / "report.json"
    from ppl_ssl.reproduction.runner import recorded_runs
    assert len(recorded_runs(record, budget("smoke"))) == 2 and recorded_runs(record, budget("cpu")) == {}

    both = reproduce("table1", seeds=2, out=tmp_path / "b", recorded=record, **run)
    (key, section), = both["sections"].items()
    assert all(len(row["knn_accuracy"]["values"]) == 2 for row in section["summary"].values())
    root = tmp_path / "b" / key.rsplit("/", 1)[0]
    assert not (root / "vae-s1").exists() and (root / "vae-s2" / "metrics.json").exists()  # seed 1 not trained again
    recorded_vae = first["sections"][key]["runs"][f"{key.rsplit('/', 1)[0]}/vae-s1"]
    assert section["runs"][f"{key.rsplit('/', 1)[0]}/vae-s1"] == recorded_vae
    text = (tmp_path / "b" / "report.md").read_text()
    assert "2 of the runs taken from an earlier report" in text and "Code version: 0.1.0" in text

    # a recorded run whose settings differ from the run's now is trained again, not reused
    report = json.loads(record.read_text())
    report["sections"][key]["runs"][f"{key.rsplit('/', 1)[0]}/vae-s1"]["config_digest"] = "0" * 12
    record.write_text(json.dumps(report))
    reproduce("table1", seeds=1, out=tmp_path / "c", recorded=record, **run)
    root_c = tmp_path / "c" / key.rsplit("/", 1)[0]
    assert (root_c / "vae-s1" / "metrics.json").exists() and not (root_c / "random-s1").exists()


def test_a_file_that_is_not_a_report_is_refused_as_a_record(tmp_path):
    from ppl_ssl.reproduction.runner import recorded_runs

    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a report.json written by `ppl-ssl reproduce`"):
        recorded_runs(tmp_path / "metrics.json", budget("smoke"))


def test_several_reports_are_one_record_the_later_over_the_earlier(tmp_path):
    from ppl_ssl.reproduction.runner import recorded_runs

    def report(path, runs, budget_line="budget 'cpu': 5 epochs"):
        path.write_text(json.dumps({"sections": {"cpu/fashion-mnist/pythae": {"budget": budget_line, "runs": runs}}}))
        return path

    seed_1 = report(tmp_path / "a.json", {"cpu/fashion-mnist/vae-s1": {"mse": 1.0, "config_digest": "a"},
                                          "cpu/fashion-mnist/ae-s1": {"mse": 2.0}})
    seed_2 = report(tmp_path / "b.json", {"cpu/fashion-mnist/vae-s2": {"mse": 3.0},
                                          "cpu/fashion-mnist/ae-s1": {"mse": 4.0, "fid": 9.0}})
    smoke = report(tmp_path / "c.json", {"cpu/fashion-mnist/vae-s3": {"mse": 5.0}}, "budget 'smoke': 1 epoch")
    runs = recorded_runs([seed_1, seed_2, smoke], budget("cpu"))
    assert set(runs) == {"cpu/fashion-mnist/vae-s1", "cpu/fashion-mnist/vae-s2", "cpu/fashion-mnist/ae-s1"}
    assert runs["cpu/fashion-mnist/ae-s1"] == {"mse": 4.0, "fid": 9.0}  # the later report's run
    assert recorded_runs(str(seed_1), budget("cpu")) == recorded_runs([seed_1], budget("cpu"))
    with pytest.raises(ConfigError, match="--recorded .*metrics.json: not a report.json"):
        (tmp_path / "metrics.json").write_text("[]")
        recorded_runs([seed_1, tmp_path / "metrics.json"], budget("cpu"))


def test_reproductions_side_by_side_into_one_folder_keep_each_others_sections(tmp_path, monkeypatch):
    import importlib

    module = importlib.import_module("ppl_ssl.reproduction.reproduce")  # the module, not the function it exports

    real_run_suite = module.run_suite

    def meanwhile(*args, **kwargs):  # another suite's reproduction finishes into OUT while this one trains
        (tmp_path / "report.json").write_text(json.dumps({"sections": {"smoke/digits/other-suite": {"markdown": "x"}}}))
        return real_run_suite(*args, **kwargs)

    monkeypatch.setattr(module, "run_suite", meanwhile)
    settings = [s for s in TINY if not s.startswith("data.dataset")]
    report = reproduce("table1", "smoke", "digits", seeds=1, out=tmp_path, device="cpu", assignments=settings,
                       models=["random"])
    assert "smoke/digits/other-suite" in report["sections"] and len(report["sections"]) == 2
    assert set(json.loads((tmp_path / "report.json").read_text())["sections"]) == set(report["sections"])
