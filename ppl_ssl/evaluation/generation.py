"""Generation quality (the SimVAE paper's Table 7 protocol): reconstruction error and FID of samples.

Samples are drawn as the paper draws them: a full-covariance Gaussian fitted to each class's training codes
E_q[z | x], as many samples per class as the class's share of the training set, decoded to mean images; and from
the model's own prior. Both are compared with the test images by the FID of `ppl_ssl.evaluation.fid`, beside
the FID of as many training images (the floor a perfect generator would reach with this sample size).
"""
from __future__ import annotations

import numpy as np
import torch

from ppl_ssl.data import DataSplits, as_float
from ppl_ssl.evaluation.fid import FeatureNetwork, inception_score
from ppl_ssl.evaluation.representation import embed


def class_conditional_codes(codes: np.ndarray, labels: np.ndarray, per_class: dict[int, int], seed: int = 0) -> np.ndarray:
    """Codes drawn from a full-covariance Gaussian fitted to each class's codes (classes with < 2 codes skipped),
    per_class[c] of class c, concatenated in class order."""
    rng = np.random.default_rng(seed)
    drawn = []
    for label, count in sorted(per_class.items()):
        z = codes[labels == label]
        if len(z) < 2 or count == 0:
            continue
        cov = np.cov(z, rowvar=False) + 1e-6 * np.eye(z.shape[1])  # jitter: a rank-deficient class still samples
        drawn.append(rng.multivariate_normal(z.mean(0), cov, size=count))
    return np.concatenate(drawn)


@torch.no_grad()
def _decode(system, codes: np.ndarray | torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    device = next(system.parameters()).device
    codes = torch.as_tensor(codes, dtype=torch.float32)
    return torch.cat([system.decode(chunk.to(device)).float().clamp(0, 1).cpu() for chunk in codes.split(batch_size)])


@torch.no_grad()
def generation_scores(system, data: DataSplits, network: FeatureNetwork, samples: int, seed: int = 0) -> dict:
    """FID of class-conditional and prior samples against the test images, and of training images (the floor)."""
    system.eval()
    name = network.metric_name
    labelled = (data.train_y >= 0)
    codes = embed(system.encode, data.train_x[labelled]).numpy()
    labels = data.train_y[labelled].cpu().numpy()
    shares = np.bincount(labels, minlength=data.spec.num_classes) / len(labels)
    per_class = dict(enumerate(np.random.default_rng(seed).multinomial(samples, shares).tolist()))
    test = data.test_x[:samples].cpu()
    torch.manual_seed(seed)
    class_samples = _decode(system, class_conditional_codes(codes, labels, per_class, seed))
    prior_samples = _decode(system, system.sample_prior(samples, 1)[:, 0])
    # each image set goes through the feature network once: its statistics serve every FID, its p(y | x) the
    # inception score (Pythae's Task 2 complement; the test images' own score is the ceiling at this sample size)
    described = {label: network.describe(images) for label, images in
                 (("class_conditional", class_samples), ("prior", prior_samples), ("test", test))}
    reference = described["test"][0]
    scores = {f"{name}_class_conditional": network.fid(reference, described["class_conditional"][0]),
              f"{name}_prior": network.fid(reference, described["prior"][0]),
              f"{name}_train_vs_test": network.fid(reference, training_images(data, samples, seed)), "fid_samples": samples,
              **network.provenance()}
    # Pythae's Task 1 complement: FID of the test images' reconstructions
    scores[f"{name}_reconstructions"] = network.fid(reference, reconstruct_images(system, test))
    is_name = "is_" + name.removeprefix("fid_")
    for label, (_, probabilities) in described.items():
        scores[f"{is_name}_{label}"], scores[f"{is_name}_{label}_sd"] = inception_score(probabilities)
    return scores


def training_images(data: DataSplits, samples: int, seed: int = 0) -> torch.Tensor:
    """`samples` training images drawn without replacement (seeded), on the CPU: their FID against the test images
    is the floor a perfect generator would reach at this sample size."""
    order = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(seed))
    return data.train_x[order[:samples]].cpu()


@torch.no_grad()
def reconstruct_images(system, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The system's reconstructions of `images` (decoded means of their codes), on the CPU."""
    return torch.cat([system.reconstruct(as_float(chunk).to(_device(system))).cpu() for chunk in images.split(batch_size)])


def _device(system) -> torch.device:
    return next(system.parameters()).device


@torch.no_grad()
def sampler_fids(system, data: DataSplits, network: FeatureNetwork, samples: int, samplers: tuple[str, ...],
                 seed: int = 0, validation: bool = False) -> dict:
    """Pythae's generation task: FID (and inception score on the feature network) of samples from ex-post samplers
    (`ppl_ssl.samplers`: prior, gmm, maf, two_stage) fitted to the training codes, each decoded to mean images and
    compared with as many test images: {'<fid>_sampler_<name>': ..., '<is>_sampler_<name>': ...}. With `validation`,
    the same samples' FID against as many validation images too ('val_<fid>_sampler_<name>'), on which a
    configuration is chosen without looking at the test images."""
    from ppl_ssl.samplers import build_sampler  # the samplers train flows and VAEs: loaded when asked for

    system.eval()
    name, is_name = network.metric_name, "is_" + network.metric_name.removeprefix("fid_")
    codes = embed(system.encode, data.train_x).to(_device(system))
    test = network.statistics(data.test_x[:samples].cpu())  # the references, embedded once for every sampler
    val = network.statistics(data.val_x[:samples].cpu()) if validation else None
    scores = {}
    for sampler_name in samplers:
        torch.manual_seed(seed)
        with torch.enable_grad():  # fitting a flow or a second VAE takes gradients
            sampler = build_sampler(sampler_name, system, codes.shape[1]).to(codes.device).fit(codes)
        drawn, probabilities = network.describe(_decode(system, sampler.sample(samples)))
        scores[f"{name}_sampler_{sampler_name}"] = network.fid(test, drawn)
        scores[f"{is_name}_sampler_{sampler_name}"], _ = inception_score(probabilities)
        if val is not None:
            scores[f"val_{name}_sampler_{sampler_name}"] = network.fid(val, drawn)
    return scores
