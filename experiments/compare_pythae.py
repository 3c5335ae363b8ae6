"""ppl-ssl against Pythae itself: the models both libraries have, trained on the same data with the same nets,
latent size, optimiser and epochs, and scored by the same code.

    pip install -c constraints/cpu.txt --no-deps pythae==0.1.2   (optional; never imported outside this script)
    python experiments/compare_pythae.py --out runs/vs-pythae [--models vae,ae --seeds 3 --epochs 3]

The work, the same for both libraries: Fashion-MNIST, the first --train-subset training images (no augmentation),
validation and test splits as ppl-ssl splits them; Pythae's benchmark ResNet (its Table 6; ppl-ssl's
`pythae_resnet` modules, handed to Pythae as its encoder and decoder), latent 16, Adam at --lr, batch 100, --epochs
epochs, the weights of the epoch with the lowest validation loss kept (Pythae's default; ppl-ssl's
`train.keep_best`). Each model's settings are Pythae 0.1.2's defaults, and ppl-ssl's preset is set to the same
values; the reconstruction terms follow Pythae's (0.5·‖x − x̂‖² for the variational models, ‖x − x̂‖² for the AE,
WAE, RAEs and VQ-VAE).

The scores, computed by the same functions for both: test reconstruction MSE (decoded E_q[z | x]); FID of
--fid-samples draws from a 10-component GMM fitted to the training codes, against as many test images, on
ppl-ssl's offline feature network (not Inception's); linear-probe test accuracy (Adam, the epoch best on validation,
mean over --probe-runs runs); k-means accuracy on the training codes (--kmeans-runs fits, majority label). And the
training images per second of each library (its training loop only).

A model passes when ppl-ssl is within 2 standard errors (over seeds, combined) of Pythae or better on every score.
OUT/compare.json holds every run's scores, with each epoch's validation loss, the epoch kept and the test
reconstruction MSE of the last epoch's weights (which tell a difference in training from one in selection);
OUT/compare.md the table. The defaults are the budget of the report in
docs/reproduction/vs_pythae_cpu.md (4,000 images, 3 epochs, 1,000 FID samples, 3 seeds).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import io
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ppl_ssl
from ppl_ssl.cli import name_list
from ppl_ssl.data import as_float
from ppl_ssl.divergences import ImageDiscriminator
from ppl_ssl.evaluation.fid import cached_feature_network
from ppl_ssl.evaluation.generation import sampler_fids
from ppl_ssl.evaluation.likelihood import reconstruction_mse
from ppl_ssl.evaluation.representation import extract_features, kmeans_scores, train_probe
from ppl_ssl.nets import build_pythae_resnet
from ppl_ssl.reporting import markdown_table, mean_and_standard_error
from ppl_ssl.runs import load_run
from ppl_ssl.storage import RunPaths, atomic_write_json, atomic_write_text, load_checkpoint
from ppl_ssl.train.setup import load_data_for

VARIANCE_1 = ("model.likelihood.kind='gaussian'", "model.likelihood.variance=1.0")  # Pythae's 0.5·‖x − x̂‖²
# Pythae's VAE, β-VAE and InfoVAE compute the Gaussian KL in closed form; ppl-ssl's default estimates it at the draw
# (Trace_ELBO), whose noisier gradient trails Pythae at this short budget (the docs' table without it)
CLOSED_FORM_KL = "objective.kl='closed_form'"


@dataclass(frozen=True)
class Shared:
    """A model both libraries have: ppl-ssl's preset and --set assignments, Pythae's class and config settings."""
    preset: str
    assignments: tuple[str, ...]
    pythae_class: str
    pythae_settings: dict


# Pythae 0.1.2's defaults (β-TC-VAE: β = 6, ppl-ssl's preset; InfoVAE: λ = 10) and ppl-ssl's presets set to them
SHARED = {
    "vae": Shared("vae", (*VARIANCE_1, CLOSED_FORM_KL), "VAE", {}),
    "beta-vae": Shared("beta-vae", (*VARIANCE_1, CLOSED_FORM_KL, "objective.beta=2.0"), "BetaVAE", {"beta": 2.0}),
    "iwae": Shared("iwae", (*VARIANCE_1, "objective.particles=10"), "IWAE", {"number_samples": 10}),
    "ciwae": Shared("ciwae", (*VARIANCE_1, "objective.particles=10", "objective.beta=0.5"), "CIWAE",
                    {"number_samples": 10, "beta": 0.5}),
    "vamp": Shared("vamp", (*VARIANCE_1, "model.prior.components=50"), "VAMP", {"number_components": 50}),
    "vae-iaf": Shared("vae-iaf", (*VARIANCE_1, "guide.flows=2", "guide.hidden=[128, 128, 128]"), "VAE_IAF",
                      {"n_made_blocks": 2, "n_hidden_in_made": 3, "hidden_size": 128}),
    "beta-tc-vae": Shared("beta-tc-vae", (*VARIANCE_1, "model.program.alpha=1.0", "model.program.beta=6.0",
                                          "model.program.gamma=1.0"), "BetaTCVAE",
                          {"alpha": 1.0, "beta": 6.0, "gamma": 1.0, "use_mss": True}),
    "factor-vae": Shared("factor-vae", (*VARIANCE_1, "model.program.gamma=2.0"), "FactorVAE", {"gamma": 2.0}),
    # β·|KL − C(t)| in closed form in both; Pythae's C(t) = C·epoch/(warm-up + 1) from epoch 1, ppl-ssl's
    # C·(epochs done)/warm-up, continuous in the step: at 3 of 25 warm-up epochs both stay at most 6 nats
    "disentangled-beta-vae": Shared("disentangled-beta-vae", (*VARIANCE_1, "objective.beta=10.0", "objective.capacity=50.0",
                                                              "objective.warmup_epochs=25.0"),
                                    "DisentangledBetaVAE", {"beta": 10.0, "C": 50.0, "warmup_epoch": 25}),
    # Pythae's loss is recon + (1 − α)·KL + (α + λ − 1)·MMD: its defaults (α = 0, λ = 1e-3) weigh the MMD by
    # −0.999, rewarding codes unlike the prior; λ = 10 (its Table 15) is ppl-ssl's MMD weight 9
    "infovae": Shared("infovae-imq", (*VARIANCE_1, CLOSED_FORM_KL, "model.program.mmd_weight=9.0",
                                      "model.program.bandwidth=1.0"),
                      "INFOVAE_MMD", {"kernel_choice": "imq", "alpha": 0.0, "lbd": 10.0, "kernel_bandwidth": 1.0}),
    "wae": Shared("wae", ("model.program.mmd_weight=3e-2", "model.program.bandwidth=1.0"), "WAE_MMD",
                  {"kernel_choice": "imq", "reg_weight": 3e-2, "kernel_bandwidth": 1.0}),
    "rae-l2": Shared("rae-l2", ("model.program.code_weight=1e-4", "model.program.decoder_weight_penalty=1e-7"), "RAE_L2",
                     {"embedding_weight": 1e-4, "reg_weight": 1e-7}),
    "rae-gp": Shared("rae-gp", ("model.program.code_weight=1e-4", "model.program.gradient_penalty=1e-7"), "RAE_GP",
                     {"embedding_weight": 1e-4, "reg_weight": 1e-7}),
    "ae": Shared("ae", (), "AE", {}),
    # the preset is Pythae's AAE: noisy codes, D an MLP of 256 ReLU units on the codes, the fooling term weighed
    # against the squared error as Pythae's 0.5·(0.5‖x − x̂‖²·2 + BCE) weighs it
    "aae": Shared("aae", (), "Adversarial_AE", {"adversarial_loss_scale": 0.5}),
    # Pythae quantises a flat code coordinate by coordinate (entry_dim 1); ppl-ssl's default is the whole code
    "vq-vae": Shared("vq-vae", ("model.program.entries=512", "model.program.commitment_weight=0.25",
                                "model.program.codebook_weight=1.0", "model.program.entry_dim=1"), "VQVAE",
                     {"num_embeddings": 512, "commitment_loss_factor": 0.25, "quantization_loss_factor": 1.0}),
    # 1 − MS-SSIM (window 11) + β·KL at Pythae's defaults (β = 1); the two MS-SSIMs differ by definition (Pythae's
    # maps each term to (v + 1)/2, pads, takes 4 scales and the whole batch), so the same β weighs them unlike
    "msssim-vae": Shared("msssim-vae", (CLOSED_FORM_KL, "objective.beta=1.0", "model.program.window_size=11"),
                         "MSSSIM_VAE", {"beta": 1.0, "window_size": 11}),
    # at β = 1 both collapse toward one image in 3 epochs; β = 0.1, the pythae suite's choice, keeps the codes
    "msssim-vae-beta-0.1": Shared("msssim-vae", (CLOSED_FORM_KL, "objective.beta=0.1", "model.program.window_size=11"),
                                  "MSSSIM_VAE", {"beta": 0.1, "window_size": 11}),
    # the features of D's third hidden layer (Pythae's MNIST discriminator, ppl-ssl's ImageDiscriminator in both),
    # 0.5·‖·‖² in them (Pythae 0.1.2's: σ² = 1), α = 0.5 and the equilibrium 0.68 ± 0.4 (Pythae's defaults)
    "vaegan": Shared("vaegan", (*VARIANCE_1, CLOSED_FORM_KL, "model.program.adversarial_weight=0.5",
                                "model.program.feature_layer=3", "model.program.feature_variance=1.0"), "VAEGAN",
                     {"adversarial_loss_scale": 0.5, "reconstruction_layer": 3, "equilibrium": 0.68, "margin": 0.4}),
}
SCORES = (("reconstruction_mse", "MSE (×10⁻³)", 1000, True), ("fid_gmm", "FID GMM", 1, True),
          ("linear_probe_accuracy", "linear probe (%)", 100, False), ("kmeans_accuracy", "k-means (%)", 100, False))


class PythaeSystem(nn.Module):
    """A trained Pythae model seen through ppl-ssl's system interface (encode, decode, reconstruct), so that both
    libraries are scored by the same functions. decode quantises first where the model does (VQ-VAE)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.encoder(images).embedding

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.model.model_name == "VQVAE":  # Pythae's own path from a flat code to the decoder (VQVAE.forward)
            grid = z.reshape(z.shape[0], 1, 1, -1).permute(0, 2, 3, 1)
            z = self.model.quantizer(grid).quantized_vector.reshape(z.shape[0], -1)
        return self.model.decoder(z).reconstruction

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


def pythae_model(shared: Shared, image_shape: tuple[int, int, int], latent: int):
    """Pythae's model with ppl-ssl's ResNet modules as its encoder and decoder: the trunk and a linear head of
    2L outputs read as (mean, log variance), Pythae's parameterisation; the decoder's sigmoid, which ppl-ssl's
    likelihood applies, applied here."""
    import pythae.models as models
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseEncoder

    trunk_and_head, body = build_pythae_resnet(image_shape, latent)

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.trunk, self.head = trunk_and_head.trunk, nn.Linear(2048, 2 * latent)

        def forward(self, x):
            mean, log_variance = self.head(self.trunk(x)).chunk(2, dim=-1)
            return ModelOutput(embedding=mean, log_covariance=log_variance)

    # Pythae names a model's config after it, with "Config" or "_Config" (VAEConfig, VAE_IAF_Config)
    name = shared.pythae_class
    config_class = getattr(models, name + "Config", None) or getattr(models, name + "_Config")
    settings = dict(shared.pythae_settings)
    if shared.pythae_class not in ("AE", "WAE_MMD", "RAE_L2", "RAE_GP", "VQVAE"):
        settings["reconstruction_loss"] = "mse"
    config = config_class(input_dim=tuple(image_shape), latent_dim=latent, **settings)
    networks = {"encoder": Encoder(), "decoder": pythae_decoder(body)}
    if shared.pythae_class == "VAEGAN":
        networks["discriminator"] = pythae_discriminator(ImageDiscriminator(tuple(image_shape)))
    return getattr(models, shared.pythae_class)(config, **networks)


def pythae_decoder(raw: nn.Module):
    """A ppl-ssl decoder (codes -> raw image parameters) behind Pythae's decoder interface, with the sigmoid that
    ppl-ssl's likelihood applies."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.raw = raw

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.raw(z)))

    return Decoder()


def pythae_discriminator(network: ImageDiscriminator):
    """ppl-ssl's ImageDiscriminator behind Pythae's discriminator interface: D(x) as a probability, or the features
    of the hidden layers asked for."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDiscriminator

    class Discriminator(BaseDiscriminator):
        def __init__(self):
            super().__init__()
            self.network = network
            self.depth = len(network.blocks) + 1  # the hidden layers and the output, as Pythae counts them

        def forward(self, x, output_layer_levels=None):
            if output_layer_levels is None:
                return ModelOutput(embedding=torch.sigmoid(self.network.logit(x)))
            return ModelOutput(**{f"embedding_layer_{level}": self.network.features(x, level)
                                  for level in output_layer_levels})

    return Discriminator()


@dataclass
class Trained:
    """One library's fit: the system with the kept weights (the lowest validation loss), the same system with the
    last epoch's weights, the training images per second and each epoch's validation loss."""
    system: nn.Module
    last_epoch: nn.Module
    images_per_second: float
    validation_by_epoch: list[float]


def train_pythae(shared: Shared, data, args, seed: int) -> Trained:
    """Pythae's trainer for the model, as its TrainingPipeline picks and sets it (RAE-L2: coupled optimisers with
    the decoder's weight decay; FactorVAE: the adversarial trainer; VAEGAN: three coupled optimisers, with
    --pythae-own-gradients each stepped by its own loss alone, `own_gradient_trainer`; else the base trainer), built
    directly (the pipeline module imports Pythae's samplers, which need imageio); the model with the lowest
    validation loss (the first lowest: its trainer's test is a strict <)."""
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import (AdversarialTrainer, AdversarialTrainerConfig, BaseTrainer, BaseTrainerConfig,
                                 CoupledOptimizerAdversarialTrainer, CoupledOptimizerAdversarialTrainerConfig,
                                 CoupledOptimizerTrainer, CoupledOptimizerTrainerConfig)

    for name in list(logging.root.manager.loggerDict):  # its modules log each epoch at INFO, each to its own handler
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = pythae_model(shared, tuple(data.train_x.shape[1:]), args.latent)
    common = dict(num_epochs=args.epochs, learning_rate=args.lr, per_device_train_batch_size=100,
                  per_device_eval_batch_size=100, no_cuda=True, seed=seed)
    train = BaseDataset(as_float(data.train_x).contiguous(), torch.zeros(len(data.train_x)))
    val = BaseDataset(as_float(data.val_x).contiguous(), torch.zeros(len(data.val_x)))
    with tempfile.TemporaryDirectory() as out:
        if shared.pythae_class == "RAE_L2":
            trainer_class = CoupledOptimizerTrainer
            config = CoupledOptimizerTrainerConfig(
                output_dir=out, encoder_learning_rate=args.lr, decoder_learning_rate=args.lr,
                decoder_optimizer_params={"weight_decay": model.model_config.reg_weight}, **common)
        elif shared.pythae_class == "VAEGAN":
            trainer_class = (own_gradient_trainer(CoupledOptimizerAdversarialTrainer) if args.pythae_own_gradients
                             else CoupledOptimizerAdversarialTrainer)
            config = CoupledOptimizerAdversarialTrainerConfig(
                output_dir=out, encoder_learning_rate=args.lr, decoder_learning_rate=args.lr,
                discriminator_learning_rate=args.lr, **common)
        elif shared.pythae_class in ("FactorVAE", "Adversarial_AE"):
            trainer_class = AdversarialTrainer
            config = AdversarialTrainerConfig(output_dir=out, autoencoder_learning_rate=args.lr,
                                              discriminator_learning_rate=args.lr, **common)
        else:
            trainer_class, config = BaseTrainer, BaseTrainerConfig(output_dir=out, **common)
        quiet = io.StringIO()  # its progress bars and training summary
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            trainer = trainer_class(model=model, train_dataset=train, eval_dataset=val, training_config=config)
            seconds, validation = timed_training_steps(trainer), validation_losses(trainer)
            trainer.train()
    return Trained(PythaeSystem(trainer._best_model).eval(), PythaeSystem(trainer.model).eval(),
                   len(data.train_x) * args.epochs / sum(seconds), validation)


def own_gradient_trainer(trainer_class):
    """Pythae's coupled-optimiser adversarial trainer with the encoder, decoder and discriminator each stepped by the
    gradient of its own loss alone, Larsen et al.'s three rules. Pythae 0.1.2's step backpropagates the three losses
    one after another into gradients that each optimiser zeroes only just before its own loss: the encoder steps by
    ∇(KL + L_llike) + ∇(1 − α) L_llike and, while D trains, the decoder by ∇((1 − α) L_llike − α L_D) + ∇L_D, which
    helps D where it should fool it. This trainer tells that apart from the rest of the method."""

    class OwnGradients(trainer_class):
        def _optimizers_step(self, output):
            parts = [(self.encoder_optimizer, output.encoder_loss, output.update_encoder),
                     (self.decoder_optimizer, output.decoder_loss, output.update_decoder),
                     (self.discriminator_optimizer, output.discriminator_loss, output.update_discriminator)]
            updates = []
            for optimiser, loss, update in parts:  # every gradient before any step changes the weights
                weights = [w for group in optimiser.param_groups for w in group["params"]]
                gradients = torch.autograd.grad(loss, weights, retain_graph=True, allow_unused=True)
                if update:
                    updates.append((optimiser, weights, gradients))
            for optimiser, weights, gradients in updates:
                for weight, gradient in zip(weights, gradients):
                    weight.grad = gradient
                optimiser.step()

    return OwnGradients


def timed_training_steps(trainer) -> list[float]:
    """The seconds of each of the trainer's epoch loops (`train_step`), filled in as it trains: like ppl-ssl's
    epoch seconds, without its evaluation on the validation split or its checkpoints."""
    seconds, step = [], trainer.train_step

    def timed(*args, **kwargs):
        started = time.perf_counter()
        result = step(*args, **kwargs)
        seconds.append(time.perf_counter() - started)
        return result

    trainer.train_step = timed
    return seconds


def validation_losses(trainer) -> list[float]:
    """Each epoch's validation loss of a Pythae trainer (what it keeps the best weights by), filled in as it trains."""
    losses, step = [], trainer.eval_step

    def recorded(*args, **kwargs):
        result = step(*args, **kwargs)
        losses.append(float(result[0] if isinstance(result, (tuple, list)) else result))  # coupled trainers: the sum first
        return result

    trainer.eval_step = recorded
    return losses


def train_ppl_ssl(shared: Shared, args, seed: int, out: Path, images: int) -> Trained:
    """ppl-ssl's fit at the same settings (images per second from the epochs' training loops in the run's
    history)."""
    from ppl_ssl.train.loop import fit

    overrides = {"train.epochs": args.epochs, "train.seed": seed, "train.device": "cpu", "train.lr": args.lr,
                 "train.batch_size": 100, "model.latent_dim": args.latent, "data.train_subset": args.train_subset,
                 "data.dataset": args.dataset}
    config = ppl_ssl.build_config(shared.preset, overrides, [
        "augment.enabled=false", "nets.kind='pythae_resnet'", "optim.kind='adam'", "optim.eps=1e-8",
        "schedule.kind='constant'",
        "train.keep_best=true", "train.validation_loss=true", "train.loss_reduction='mean'", "train.precision='fp32'",
        *shared.assignments, *args.assignments])
    fit(config, out, progress=False)
    checkpoint = load_checkpoint(RunPaths(out).checkpoint)
    validation = [epoch["validation_loss"] for epoch in checkpoint["history"]]
    kept = load_run(out, device="cpu")
    if kept.best_epoch != kept_epoch(validation):
        raise RuntimeError(f"{out}: the run kept epoch {kept.best_epoch}, not the first of its lowest validation loss")
    last = copy.deepcopy(kept.system)
    last.load_state_dict(checkpoint["system"])  # the checkpoint holds the last epoch's weights, best.pt the kept
    return Trained(kept.system.eval(), last.eval(),
                   images * args.epochs / sum(epoch["seconds"] for epoch in checkpoint["history"]), validation)


def kept_epoch(validation: list[float]) -> int:
    """The epoch (from 1) both libraries keep the weights of: the first of the lowest validation loss."""
    return 1 + validation.index(min(validation))


def scores(system, data, network, args, seed: int) -> dict:
    """The same scores for either library's system."""
    result = {"reconstruction_mse": reconstruction_mse(system, data.test_x)}
    result["fid_gmm"] = sampler_fids(system, data, network, args.fid_samples, ("gmm",), seed=seed)[
        f"{network.metric_name}_sampler_gmm"]
    features = extract_features(system.encode, data)
    probes = [train_probe(features, None, args.probe_epochs, 1e-3, 128, seed + run) for run in range(args.probe_runs)]
    result["linear_probe_accuracy"] = float(np.mean([p.test_accuracy for p in probes]))
    result["kmeans_accuracy"] = kmeans_scores(features, data.spec.num_classes, args.kmeans_runs, seed)["kmeans_accuracy"]
    return result


def verdict(ours: list[float], theirs: list[float], lower_is_better: bool) -> tuple[bool, float]:
    """(passes, gap in combined standard errors): ppl-ssl within 2 combined standard errors of Pythae, or better."""
    (a, se_a), (b, se_b) = mean_and_standard_error(ours), mean_and_standard_error(theirs)
    spread = math.sqrt(sum(0.0 if math.isnan(s) else s * s for s in (se_a, se_b))) or 1e-12
    worse_by = (a - b) if lower_is_better else (b - a)
    return worse_by <= 2 * spread, worse_by / spread


def report(results: dict, args, threads: int | None = None) -> str:
    """The table; `threads`: the torch threads the runs used (None where unknown, as for combined parts)."""
    rows = []
    for model, by_library in results.items():
        ours, theirs = by_library["ppl-ssl"], by_library["pythae"]
        if not ours or not theirs:
            continue
        cells, passes = [model], []
        for key, _, scale, lower in SCORES:
            a, b = [scale * r[key] for r in ours], [scale * r[key] for r in theirs]
            ok, gap = verdict(a, b, lower)
            passes.append(ok)
            (ma, sa), (mb, sb) = mean_and_standard_error(a), mean_and_standard_error(b)
            digits = 2 if scale == 1000 else 1
            cells.append(f"{ma:.{digits}f} ± {0 if math.isnan(sa) else sa:.{digits}f} / {mb:.{digits}f} ± "
                         f"{0 if math.isnan(sb) else sb:.{digits}f}{'' if ok else ' ✗'}")
        speed = [np.mean([r["images_per_second"] for r in rs]) for rs in (ours, theirs)]
        cells += [f"{speed[0]:,.0f} / {speed[1]:,.0f}", "pass" if all(passes) else "differs"]
        rows.append(cells)
    header = ["model", *(f"{label}: ppl-ssl / Pythae" for _, label, _, _ in SCORES), "images/s: ppl-ssl / Pythae", ""]
    return (markdown_table(header, rows) + f"\n\nFashion-MNIST, {args.train_subset or 'all'} training images, "
            f"{args.epochs} epochs, Adam lr {args.lr:g}, batch 100, latent {args.latent}, Pythae's ResNet, seeds "
            f"{', '.join(map(str, sorted({r['seed'] for m in results.values() for rs in m.values() for r in rs})))}; mean ± standard error over seeds; ✗: ppl-ssl more than 2 "
            f"combined standard errors worse than Pythae. torch {torch.__version__}"
            f"{f', {threads} threads' if threads else ''}.\n")


def combine(parts: list[dict]) -> dict:
    """One comparison from several processes' results: every model's runs per library, one per seed (the first
    part's where two hold the same seed), models in SHARED's order."""
    merged: dict = {}
    for part in parts:
        for model, by_library in part.items():
            for library, rows in by_library.items():
                kept = merged.setdefault(model, {"ppl-ssl": [], "pythae": []})[library]
                kept += [r for r in rows if all(r["seed"] != k["seed"] for k in kept)]
    for by_library in merged.values():
        for rows in by_library.values():
            rows.sort(key=lambda r: r["seed"])
    return {m: merged[m] for m in [*SHARED, *sorted(set(merged) - set(SHARED))] if m in merged}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=name_list, default=list(SHARED), help=f"comma-separated, of {', '.join(SHARED)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1, help="the seeds are this and the next ones (default 1)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--latent", type=int, default=16)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--fid-samples", type=int, default=1000)
    parser.add_argument("--probe-runs", type=int, default=3)
    parser.add_argument("--probe-epochs", type=int, default=20)
    parser.add_argument("--kmeans-runs", type=int, default=20)
    parser.add_argument("--feature-net-epochs", type=int, default=3, help="epochs of the FID feature network")
    parser.add_argument("--feature-nets", help="folder of cached feature networks (default OUT/feature_nets)")
    parser.add_argument("--out", default="runs/vs-pythae")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="assignments",
                        help="applied to every ppl-ssl run after the model's own (e.g. objective.kl='closed_form', to "
                             "test an explanation of a difference); give such runs an --out of their own")
    parser.add_argument("--pythae-own-gradients", action="store_true",
                        help="VAEGAN: Pythae's trainer with each part stepped by its own loss's gradient alone "
                             "(own_gradient_trainer); give such runs an --out of their own")
    parser.add_argument("--libraries", type=name_list, default=["ppl-ssl", "pythae"], help="comma-separated: which libraries to train (default both)")
    parser.add_argument("--combine", nargs="+", metavar="FOLDER", help="no training: merge these folders' compare.json "
                        "(parts of one comparison run as separate processes, e.g. --models split two ways) into OUT")
    args = parser.parse_args(argv)
    if args.combine:
        results = combine([json.loads((Path(folder) / "compare.json").read_text()) for folder in args.combine])
        atomic_write_json(Path(args.out) / "compare.json", results)
        return publish(results, args)
    if importlib.util.find_spec("pythae") is None:
        raise SystemExit("Pythae is not installed; this check needs it: pip install -c constraints/cpu.txt --no-deps "
                         "pythae==0.1.2")
    logging.getLogger("pythae").setLevel(logging.WARNING)
    libraries, models = args.libraries, args.models
    if not libraries or set(libraries) - {"ppl-ssl", "pythae"}:
        raise SystemExit(f"--libraries: {','.join(libraries)!r}; choose from ppl-ssl, pythae (comma-separated)")
    unknown = sorted(set(models) - set(SHARED))
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(SHARED)}")
    out = Path(args.out)
    path = out / "compare.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    results = {m: stored.get(m, {"ppl-ssl": [], "pythae": []}) for m in models}
    config = ppl_ssl.build_config("vae", {"data.train_subset": args.train_subset, "data.dataset": args.dataset,
                                          "train.device": "cpu"}, ["augment.enabled=false"])
    data = load_data_for(config, torch.device("cpu"))
    whole = load_data_for(ppl_ssl.build_config("vae", {"data.dataset": args.dataset, "train.device": "cpu"}),
                          torch.device("cpu"))
    network = cached_feature_network(whole, Path(args.feature_nets or out / "feature_nets"), seed=0,
                                     epochs=args.feature_net_epochs)
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # seed-major: a stopped comparison has every model at its first seed
        for model in models:
            shared = SHARED[model]
            for library in libraries:
                if any(r["seed"] == seed for r in results[model][library]):
                    continue  # finished before: kept
                if library == "ppl-ssl":
                    folder = out / "runs" / f"{model}-s{seed}"
                    if folder.exists():
                        shutil.rmtree(folder)  # an interrupted run: started again from nothing
                    trained = train_ppl_ssl(shared, args, seed, folder, len(data.train_x))
                else:
                    trained = train_pythae(shared, data, args, seed)
                validation = trained.validation_by_epoch
                row = {"seed": seed, "images_per_second": trained.images_per_second,
                       "kept_epoch": kept_epoch(validation), "validation_by_epoch": validation,
                       # the kept epoch's weights are scored; the last epoch's reconstruct too, to tell the step from
                       # the selection
                       "last_epoch_reconstruction_mse": reconstruction_mse(trained.last_epoch, data.test_x),
                       **scores(trained.system, data, network, args, seed)}
                results[model][library].append(row)
                print(f"{model} seed {seed} {library}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in row.items() if k not in ("seed", "validation_by_epoch"))
                      + " (validation by epoch " + ", ".join(f"{v:.4g}" for v in validation) + ")", flush=True)
                atomic_write_json(path, {**stored, **results})
    return publish(results, args, torch.get_num_threads())


def publish(results: dict, args, threads: int | None = None) -> dict:
    """OUT/compare.md, the table of these results (also printed)."""
    text = report(results, args, threads)
    atomic_write_text(Path(args.out) / "compare.md", text)
    print(text)
    return results


if __name__ == "__main__":
    main()
