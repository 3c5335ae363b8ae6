"""The reproduction suites: each a grid of ordinary runs (preset × setting × seed) and what its report shows.

A suite names its runs; `ppl_ssl.reproduction.runner` trains and evaluates them (skipping finished ones, resuming
interrupted ones) and `ppl_ssl.reproduction.report` sets their mean ± s.e. beside the papers' numbers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ppl_ssl.errors import ConfigError

TABLE1_MODELS = ("random", "vae", "beta-vae", "crvae-consistency", "simvae", "mocov1", "mocov2", "vicreg", "simclr")
GENERATIVE_MODELS = ("vae", "beta-vae", "crvae-consistency", "simvae")
SELFVAE_MODELS = ("vae-logistic", "selfvae-downscale", "selfvae-sketch", "selfvae-hier")
CRVAE_MODELS = ("vae", "infovae", "infomax-vae", "crvae-contrastive")
LIKELIHOOD_MODELS = ("vae", "beta-vae", "iwae", "vamp", "vae-iaf", "simvae")
LONG_MODELS = ("simvae", "vae", "crvae-consistency")  # in this order: SimVAE first, the others where time allows

# (metrics.json key, column label, scale to the paper's unit)
CONTENT = [("knn_accuracy", "kNN", 100), ("mlp_probe_accuracy", "MP", 100), ("linear_probe_accuracy", "LP", 100),
           ("gmm_accuracy", "GMM", 100), ("gmm_nmi", "NMI", 100), ("gmm_ari", "ARI", 100)]
STYLE = [("style_r2_mean", "style R²", 1), ("style_accuracy_vflip", "v-flip acc.", 100)]
VALIDATION = [("val_knn_accuracy", "kNN (validation)", 100), ("val_gmm_accuracy", "GMM (validation)", 100)]
# β of the β-VAE at the TMLR paper's likelihood variance σ² = 0.02. The workshop paper tuned β over 0.1, 0.2, 0.5 at
# σ² = 1 and chose 0.1. The loss ‖x − x̂‖²/(2σ²) + β·KL = (‖x − x̂‖²/2 + βσ²·KL)/σ² depends on βσ² alone, so its
# β = 0.1 at σ² = 1 is β = 5 at σ² = 0.02, and its range is 5, 10, 25; the sweep brackets that from β = 0.1 up.
BETAS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 25]


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: a preset, the setting it sweeps (if any) and a seed."""
    model: str                        # the row (a preset name)
    seed: int
    setting: str = ""                 # the swept value, as a label ("J=4")
    value: float | None = None        # the swept value, for the x axis of an ablation figure
    assignments: tuple[str, ...] = ()  # --set assignments of the setting

    folder_tag: str = ""              # the suite's shared setting, when it has one ("l16-b256")

    @property
    def folder(self) -> str:
        slug = "".join(c if c.isalnum() or c in ".-" else "-" for c in self.setting)
        return f"{self.model}{'-' + self.folder_tag if self.folder_tag else ''}{'-' + slug if slug else ''}-s{self.seed}"


@dataclass(frozen=True)
class Suite:
    name: str
    summary: str
    kind: str                                  # "table" | "ablation" | "generation" | "selfvae" | "likelihood"
    runs: tuple[tuple[str, str, float | None, tuple[str, ...]], ...]  # (model, setting, value, assignments) per seed
    metrics: tuple[tuple[str, str, float], ...]
    paper_tables: tuple[str, ...] = ()
    x_label: str = ""
    x_log: bool = False                         # the ablation figure's swept setting on a log₂ axis (latent sizes)
    lower_is_better: tuple[str, ...] = field(default=())
    neither_is_better: tuple[str, ...] = ()   # metrics where a difference is a difference, not a gain (the KL)
    paper_names: tuple[tuple[str, str], ...] = (("fid_class_conditional", "fid"), ("test_bpd", "bits_per_dim"))  # ours → paper's
    seeds: int | None = None                   # the paper's number of seeds, used when --seeds is not given
    shared: tuple[str, ...] = ()               # --set assignments of every run of the suite (the paper's setting)
    folder_tag: str = ""                       # names the shared setting in run folders
    curves: bool = False                       # draw the curve metrics against epochs (train.track_every)
    curve_metrics: tuple[tuple[str, str, float], ...] = (("val_knn_accuracy", "kNN accuracy (%)", 100),
                                                         ("val_gmm_accuracy", "GMM accuracy (%)", 100))
    # --set assignments by budget name where the suite follows its own paper's protocol (the CR-VAE paper's 50
    # epochs at `paper`), applied after the budget's own settings; a budget not named here sets everything
    at_budget: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # the ± of the report's cells: "se", the standard error of the mean (the SimVAE paper's), or "sd", the standard
    # deviation over seeds (the CR-VAE paper's; its paper column then holds deviations too)
    spread: str = "se"
    # what the runner adds to each finished run before the report (ppl_ssl.reproduction.runner.SCORERS); empty: the
    # kind's own scores (generation, selfvae, likelihood) or none
    scoring: str = ""
    # Pythae's "best configuration on the validation split": (reported metric, metric that chooses, lower is better)
    # per task; the report then has one row per model, each cell the chosen setting's test value
    selection: tuple[tuple[str, str, bool], ...] = ()

    @property
    def scorer(self) -> str:
        return self.scoring or self.kind

    def settings_at(self, budget: str) -> tuple[str, ...]:
        """The suite's own --set assignments at this budget (none: the budget's settings stand)."""
        return dict(self.at_budget).get(budget, ())

    def paper_name(self, key: str) -> str:
        return dict(self.paper_names).get(key, key)

    def specs(self, seeds: list[int]) -> list[RunSpec]:
        # Seed-major: every row of the table has its first seed before any row gets a second, so a reproduction
        # stopped part-way already holds a complete one-seed table (the report gives each row its seed count).
        return [RunSpec(model, seed, setting, value, (*self.shared, *assignments), self.folder_tag)
                for seed in seeds for model, setting, value, assignments in self.runs]

    def with_budget(self, budget: str) -> "Suite":
        """This suite with its own settings at `budget` appended to its shared ones."""
        extra = self.settings_at(budget)
        return dataclasses.replace(self, shared=(*self.shared, *extra)) if extra else self


# The CR-VAE paper's protocol (Lygerakis & Rueckert, Section V-A and Appendix: Tables IV, V, VI), every run of the
# crvae suites: latent 16, batch 256, its conv nets, SGD (momentum 0.9, weight decay 1e-8, lr 1e-3 on the loss's mean
# over the batch's images, as its code takes it) with the rate
# × 0.9 after 20 epochs without a lower training loss, summed squared error as reconstruction loss (a Gaussian of
# variance ½: −log p(x|z) = ‖x − x̂‖² + const), its augmentations (Table IV), kNN with 200 distance-weighted cosine
# voters, the linear probe 200 epochs at lr 1e-3 (the budget sets the epochs); MI, KL and active units on held-out
# images after every epoch (Figure 4). docs/guide/protocol.md lists each with its source.
CRVAE_PROTOCOL = (
    "model.latent_dim=16", "train.batch_size=256", "nets.kind='crvae_conv'",
    "optim.kind='sgd'", "optim.momentum=0.9", "optim.weight_decay=1e-8", "train.lr=1e-3", "train.loss_reduction='mean'",
    "schedule.kind='plateau'", "schedule.patience=20", "schedule.factor=0.9", "schedule.monitor='training'",
    "model.likelihood.kind='gaussian'", "model.likelihood.variance=0.5",
    "augment.crop_scale=[0.08, 1.0]", "augment.crop_ratio=[0.75, 1.3333]", "augment.hflip=0.5", "augment.vflip=0.0",
    "augment.brightness=0.4", "augment.contrast=0.4", "augment.saturation=0.4", "augment.hue=0.1",
    "augment.jitter_prob=0.8", "augment.grayscale_prob=0.2",
    "eval.knn_k=200", "eval.knn_metric='cosine'", "eval.knn_weights='distance'", "eval.probe_lr=1e-3",
    "train.track_every=1", "train.validation_loss=false", "eval.style_probe=false",
)
CRVAE_COLUMNS = (("reconstruction_mse", "SSE/image", 784), ("kl", "KL", 1), ("aggregate_kl", "KL(q(z)‖p(z))", 1),
                 ("mutual_information", "MI", 1), ("active_units", "AU", 1), ("linear_probe_accuracy", "LP", 100),
                 ("knn_accuracy", "kNN", 100))
CRVAE_CURVES = (("val_mutual_information", "MI I_q(x; z) (nats)", 1), ("val_knn_accuracy", "kNN accuracy (%)", 100),
                ("val_active_units", "active units", 1))
# The paper's 50 epochs on the whole training split at `paper`; at `cpu`, 8 epochs on 10,000 training images, so
# that the suite's 5 seeds of 4 models take about 2 hours on the 2-core EPYC (an epoch of 10,000 images: VAE 21 s,
# contrastive CR-VAE 53 s with its two views and momentum encoder, and about 6 s of tracking; each run's evaluation
# about a minute; the whole split would allow 2 epochs)
CRVAE_BUDGETS = (("paper", ("train.epochs=50",)), ("cpu", ("train.epochs=8", "data.train_subset=10000")))
GAMMAS = [0.0, 0.1, 0.5, 1.0, 2.0]


# Pythae's benchmark (its Section 4 and Appendix C): every model with the same nets (its ConvNet, Table 5), latent 16
# on MNIST, Adam at 1e-4, batch 100, the rate halved after 10 epochs without a lower validation loss, 100 epochs; the
# last 10,000 training images as validation split; no augmentation; the loss a mean over the batch; the weights of
# the epoch with the lowest validation loss kept (its trainer's). Its reconstruction terms, model by model:
# 0.5·‖x − x̂‖² for the variational models and the AAE (a Gaussian of variance 1), ‖x − x̂‖² for the AE, WAE, VQ-VAE
# and RAEs (variance ½, their presets'). The tasks' settings: the linear probe over 20 runs, 100 k-means fits, FID
# and inception score of 4 samplers, interpolations. docs/guide/protocol-pythae.md lists each with its source.
PYTHAE_PROTOCOL = (
    "nets.kind='pythae_convnet'", "model.latent_dim=16", "train.batch_size=100", "train.lr=1e-4", "optim.kind='adam'",
    "schedule.kind='plateau'", "schedule.factor=0.5", "schedule.patience=10", "schedule.monitor='validation'",
    "train.loss_reduction='mean'", "train.keep_best=true", "train.validation_loss=true",
    "augment.enabled=false", "data.val_size=10000", "eval.probe_runs=20", "eval.probes=['linear']", "eval.kmeans_runs=100",
    "eval.interpolation_pairs=4", "eval.style_probe=false", "eval.tsne_points=0",
)
# At `cpu`: Pythae's ResNet (Table 6; 20 times fewer parameters than its ConvNet), 10,000 training images, 5 epochs
# at 1e-3, probes 20 epochs (108 runs at 3 seeds)
PYTHAE_BUDGETS = (("paper", ("train.epochs=100",)),
                  ("cpu", ("nets.kind='pythae_resnet'", "train.epochs=5", "train.lr=1e-3", "data.train_subset=10000",
                           "eval.probe_epochs=20")),
                  ("smoke", ("nets.kind='pythae_resnet'", "data.val_size=1000", "eval.probe_runs=2", "eval.kmeans_runs=3")))
PYTHAE_SAMPLERS = ("prior", "gmm", "maf", "two_stage")
VARIANCE_1 = ("model.likelihood.kind='gaussian'", "model.likelihood.variance=1.0")  # Pythae's 0.5·‖x − x̂‖²
# (preset, [(setting label, its --set assignments)]): a few configurations of Pythae's Appendix D grid (its Tables
# 8-21) per model, in ppl-ssl's parameters; the report keeps, per task, the one that does best on validation
PYTHAE_GRID: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = (
    ("ae", (("", ()),)),
    ("vae", (("", VARIANCE_1),)),
    ("vamp", (("K=10", (*VARIANCE_1, "model.prior.components=10")), ("K=100", (*VARIANCE_1, "model.prior.components=100")))),
    ("iwae", (("K=3", (*VARIANCE_1, "objective.particles=3")), ("K=5", (*VARIANCE_1, "objective.particles=5")))),
    ("vae-lin-nf", (("PPPPP", (*VARIANCE_1, "guide.flows=['planar', 'planar', 'planar', 'planar', 'planar']")),
                    ("PRPRP", (*VARIANCE_1, "guide.flows=['planar', 'radial', 'planar', 'radial', 'planar']")))),
    ("vae-iaf", (("", (*VARIANCE_1, "guide.hidden=[32, 32]")),)),
    ("beta-vae", (("beta=0.1", (*VARIANCE_1, "objective.beta=0.1")), ("beta=0.5", (*VARIANCE_1, "objective.beta=0.5")),
                  ("beta=2", (*VARIANCE_1, "objective.beta=2.0")))),
    ("beta-tc-vae", (("beta=1", (*VARIANCE_1, "model.program.beta=1.0")), ("beta=5", (*VARIANCE_1, "model.program.beta=5.0")))),
    ("factor-vae", (("gamma=2", (*VARIANCE_1, "model.program.gamma=2.0")), ("gamma=10", (*VARIANCE_1, "model.program.gamma=10.0")))),
    ("infovae", (("lambda=10", (*VARIANCE_1, "model.program.mmd_weight=9.0")),
                 ("lambda=100", (*VARIANCE_1, "model.program.mmd_weight=99.0")))),
    ("infovae-imq", (("lambda=10", (*VARIANCE_1, "model.program.mmd_weight=9.0")),
                     ("lambda=100", (*VARIANCE_1, "model.program.mmd_weight=99.0")))),
    ("msssim-vae", (("beta=0.1", ("objective.beta=0.1",)), ("beta=1", ("objective.beta=1.0",)))),
    ("vaegan", (("alpha=0.3", (*VARIANCE_1, "model.program.adversarial_weight=0.3")),
                ("alpha=0.8", (*VARIANCE_1, "model.program.adversarial_weight=0.8")))),
    ("aae", (("alpha=0.1", (*VARIANCE_1, "model.program.adversarial_weight=0.1")),
             ("alpha=0.5", (*VARIANCE_1, "model.program.adversarial_weight=0.5")))),
    ("wae", (("lambda=1", ("model.program.mmd_weight=1.0",)), ("lambda=10", ("model.program.mmd_weight=10.0",)))),
    ("wae-rbf", (("lambda=1", ("model.program.mmd_weight=1.0",)), ("lambda=10", ("model.program.mmd_weight=10.0",)))),
    ("vq-vae", (("K=128", ("model.program.entries=128",)), ("K=512", ("model.program.entries=512",)))),
    ("rae-l2", (("beta=1e-3", ("model.program.code_weight=1e-3", "model.program.decoder_weight_penalty=1e-6")),
                ("beta=1e-2", ("model.program.code_weight=1e-2", "model.program.decoder_weight_penalty=1e-3")))),
    ("rae-gp", (("beta=1e-3", ("model.program.code_weight=1e-3", "model.program.gradient_penalty=1e-6")),
                ("beta=1e-2", ("model.program.code_weight=1e-2", "model.program.gradient_penalty=1e-3")))),
)
PYTHAE_MODELS = tuple(model for model, _ in PYTHAE_GRID)
# (key, column label, scale): test values; the validation value that chooses each is in PYTHAE_SELECTION
PYTHAE_COLUMNS = (("reconstruction_mse", "MSE (×10⁻³)", 1000), ("fid_reconstructions", "FID recon.", 1),
                  *((f"fid_sampler_{s}", f"FID {label}", 1) for s, label in
                    (("prior", "N(0, I)"), ("gmm", "GMM"), ("two_stage", "2-stage"), ("maf", "MAF"))),
                  ("is_sampler_gmm", "IS GMM", 1), ("linear_probe_accuracy", "classification", 100),
                  ("kmeans_accuracy", "k-means", 100))
PYTHAE_SELECTION = (("reconstruction_mse", "val_reconstruction_mse", True),
                    ("fid_reconstructions", "val_reconstruction_mse", True),
                    *((f"fid_sampler_{s}", f"val_fid_sampler_{s}", True) for s in PYTHAE_SAMPLERS),
                    ("is_sampler_gmm", "val_fid_sampler_gmm", True),
                    ("linear_probe_accuracy", "val_linear_probe_accuracy", False),
                    ("kmeans_accuracy", "val_kmeans_accuracy", False))
PYTHAE_LATENTS = [16, 32, 64, 128, 256]
PYTHAE_LATENT_MODELS = ("ae", "vae", "wae")  # one of each family (its grid's first configuration)


# At `cpu` the variance and augmentation sweeps train on part of the training split so that each fits a 3-hour
# sitting on the 2-core CPU: SimVAE (J = 10) costs about 100 s an epoch on the whole split, so the variance sweep's 18
# runs would be about 3 hours and the augmentation sweep's 96 runs about 10 (the views sweep, 18 runs of J = 1 to 10,
# keeps the whole split: 103 minutes). Their kNN classifiers vote among the same subset's codes.
VARIANCE_BUDGETS = (("cpu", ("data.train_subset=20000",)),)
AUGMENT_BUDGETS = (("cpu", ("data.train_subset=10000",)),)


def _sweep(models: tuple[str, ...], label: str, values: list[float], assignment) -> tuple:
    return tuple((model, f"{label}={v:g}", float(v), tuple(assignment(v))) for model in models for v in values)


SUITES: dict[str, Suite] = {suite.name: suite for suite in [
    Suite("table1", "SimVAE paper Tables 1, 5 and 6: content (kNN, MLP/linear probes, GMM accuracy, NMI, ARI) and style "
          "retention of the paper's nine rows", "table", tuple((m, "", None, ()) for m in TABLE1_MODELS),
          tuple(CONTENT + STYLE), ("simvae-table1", "simvae-table5", "simvae-table6")),
    Suite("ablation-views", "SimVAE paper Figure 8: SimVAE with J = 1, 2, 4, 6, 8, 10 views per image", "ablation",
          _sweep(("simvae",), "J", [1, 2, 4, 6, 8, 10], lambda v: [f"model.views={int(v)}"]),
          tuple(CONTENT[:4]), x_label="views per image J"),
    Suite("ablation-variance", "SimVAE paper Figure 9: SimVAE with likelihood variance σ² from 0.005 to 0.2", "ablation",
          _sweep(("simvae",), "var", [0.005, 0.01, 0.02, 0.05, 0.1, 0.2], lambda v: [f"model.likelihood.variance={v}"]),
          tuple(CONTENT[:4]), x_label="likelihood variance σ²", at_budget=VARIANCE_BUDGETS),
    Suite("ablation-augment", "SimVAE paper Figure 7: crop scale (smallest crop area) and brightness/contrast jitter "
          "strength for SimVAE, the VAE, SimCLR and VICReg", "ablation",
          _sweep(("simvae", "vae", "simclr", "vicreg"), "crop", [0.2, 0.4, 0.6, 0.8],
                 lambda v: [f"augment.crop_scale=[{v}, 1.0]"])
          + _sweep(("simvae", "vae", "simclr", "vicreg"), "jitter", [0.0, 0.2, 0.4, 0.8],
                   lambda v: [f"augment.brightness={v}", f"augment.contrast={v}", "augment.jitter_prob=0.8"]),
          tuple(CONTENT[:2]), x_label="augmentation strength", at_budget=AUGMENT_BUDGETS),
    Suite("tune-beta", "β of the β-VAE chosen as the SimVAE workshop paper did (on downstream accuracy), here on the "
          "validation split only: validation kNN and GMM accuracy at the end of training for each β", "ablation",
          _sweep(("beta-vae",), "beta", BETAS, lambda v: [f"objective.beta={v}"]),
          tuple(VALIDATION), x_label="β (KL weight) at likelihood variance 0.02",
          shared=("train.track_every=1000",), folder_tag="tracked"),  # tracked once: at the last epoch
    Suite("generation", "SimVAE paper Table 7 and Figure 10: reconstruction MSE and FID of class-conditional and prior "
          "samples; SimVAE's views drawn from one shared content", "generation",
          tuple((m, "", None, ()) for m in GENERATIVE_MODELS),
          (("reconstruction_mse", "MSE", 1), ("fid_class_conditional", "FID (class-cond.)", 1), ("fid_prior", "FID (prior)", 1),
           ("fid_reconstructions", "FID (recon.)", 1), ("is_class_conditional", "IS (class-cond.)", 1),
           ("is_prior", "IS (prior)", 1)),
          ("simvae-table7",), lower_is_better=("reconstruction_mse", "fid_class_conditional", "fid_prior", "fid",
                                              "fid_reconstructions")),
    Suite("crvae", "CR-VAE paper Table III (Fashion-MNIST rows) and Figure 4, at that paper's protocol: VAE, InfoVAE, "
          "InfoMax-VAE and the contrastive CR-VAE with its conv nets, SGD and plateau schedule, latent 16, batch 256; "
          "MI on held-out images after every epoch; 5 seeds, mean ± standard deviation as the paper prints",
          "table", tuple((m, "", None, ()) for m in CRVAE_MODELS), CRVAE_COLUMNS, ("crvae-table3",),
          lower_is_better=("reconstruction_mse",), neither_is_better=("kl", "aggregate_kl"),
          paper_names=(("reconstruction_mse", "nll"),), seeds=5, shared=CRVAE_PROTOCOL, folder_tag="protocol",
          curves=True, curve_metrics=CRVAE_CURVES, at_budget=CRVAE_BUDGETS, spread="sd"),
    Suite("crvae-gamma", "CR-VAE paper Figure 4's ablation: the contrastive weight γ of CR-VAE (0 is the VAE on two "
          "views), MI, kNN and active units at the end of training and MI against epochs, at the CR-VAE paper's protocol",
          "ablation", _sweep(("crvae-contrastive",), "gamma", GAMMAS, lambda v: [f"model.program.gamma={v}"]),
          (("mutual_information", "MI (nats)", 1), ("knn_accuracy", "kNN", 100), ("active_units", "AU", 1)),
          x_label="γ (weight of the contrastive term)", seeds=1, shared=CRVAE_PROTOCOL, folder_tag="protocol",
          curves=True, curve_metrics=CRVAE_CURVES, at_budget=CRVAE_BUDGETS),
    Suite("long", "SimVAE (then the VAE and Sinha & Dieng's CR-VAE) on the whole Fashion-MNIST training split for at most "
          "90 minutes of training each on the 2-core CPU, warm-up and cosine learning-rate schedule, validation kNN and "
          "GMM accuracy every 2 epochs; one seed", "table", tuple((m, "", None, ()) for m in LONG_MODELS),
          tuple(CONTENT), ("simvae-table1", "simvae-table5", "simvae-table6"), seeds=1,
          shared=("train.track_every=2", "schedule.kind='warmup_cosine'", "schedule.warmup_epochs=1"), folder_tag="wc",
          curves=True),
    Suite("likelihood", "How tight the test NLL is: the importance-weighted estimate at growing K, AIS with HMC at "
          "growing T (per image, in nats; lower is tighter, both are stochastic upper bounds on the NLL) and the BDMC "
          "sandwich on images simulated from each model", "likelihood", tuple((m, "", None, ()) for m in LIKELIHOOD_MODELS),
          (("iw_nll_elbo", "−ELBO (IW, K = 1)", 1), ("iw_nll", "IW, largest K", 1), ("ais_nll_short", "AIS, smallest T", 1),
           ("ais_nll", "AIS, largest T", 1), ("iw_nll_long_images", "IW, largest K (long-run images)", 1),
           ("ais_nll_long_images", "AIS, largest T (long-run images)", 1), ("ais_nll_long", "AIS, long run", 1),
           ("bdmc_gap", "BDMC gap", 1), ("ais_seconds", "AIS s (largest T)", 1)), (),
          lower_is_better=("iw_nll_elbo", "iw_nll", "ais_nll_short", "ais_nll", "iw_nll_long_images",
                           "ais_nll_long_images", "ais_nll_long", "bdmc_gap", "ais_seconds"), seeds=1),
    Suite("selfvae", "selfVAE paper Table 1 shape: test bits/dim (importance-weighted) and kNN accuracy of the VAE and "
          "the selfVAEs with the same nets, discretised-logistic likelihood and RealNVP prior", "selfvae", tuple((m, "", None, ()) for m in SELFVAE_MODELS),
          (("test_bpd", "bits/dim", 1), ("knn_accuracy", "kNN", 100)), ("selfvae-table1",),
          lower_is_better=("test_bpd", "bits_per_dim")),
    Suite("pythae", "Pythae's benchmark (its Tables 1-3): reconstruction (MSE, FID of reconstructions), generation (FID "
          "and IS of N(0, I), GMM, 2-stage VAE and MAF samplers), classification (a linear probe, 20 runs) and clustering "
          "(100 k-means fits, majority label) of its models, each task's configuration chosen on the validation split "
          "from a small grid of its Appendix D", "pythae",
          tuple((model, setting, None, assignments) for model, grid in PYTHAE_GRID for setting, assignments in grid),
          PYTHAE_COLUMNS, lower_is_better=("reconstruction_mse", "fid_reconstructions",
                                           *(f"fid_sampler_{s}" for s in PYTHAE_SAMPLERS)),
          shared=PYTHAE_PROTOCOL, folder_tag="pythae", at_budget=PYTHAE_BUDGETS, selection=PYTHAE_SELECTION),
    Suite("pythae-latent", "Pythae's Figure 2: the four tasks against the latent dimension (16 to 256) for the AE, the "
          "VAE and the WAE at Pythae's protocol", "ablation",
          tuple((model, f"L={latent}", float(latent), (*dict(PYTHAE_GRID)[model][0][1], f"model.latent_dim={latent}"))
                for model in PYTHAE_LATENT_MODELS for latent in PYTHAE_LATENTS),
          (("reconstruction_mse", "MSE (×10⁻³)", 1000), ("fid_sampler_gmm", "FID GMM", 1),
           ("linear_probe_accuracy", "classification", 100), ("kmeans_accuracy", "k-means", 100)),
          x_label="latent dimension", x_log=True, shared=PYTHAE_PROTOCOL, folder_tag="pythae", at_budget=PYTHAE_BUDGETS,
          scoring="pythae", lower_is_better=("reconstruction_mse", "fid_sampler_gmm")),
]}


def suite(name: str) -> list[Suite]:
    """The suites a --suite name stands for ('all': every one)."""
    if name == "all":
        return list(SUITES.values())
    if name not in SUITES:
        raise ConfigError(f"unknown suite '{name}'; choose one of {', '.join(SUITES)} or all")
    return [SUITES[name]]
