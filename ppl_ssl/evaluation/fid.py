"""Fréchet distances between image sets on the features of a classifier trained here: an offline FID.

The standard FID embeds images with an Inception-v3 network trained on ImageNet, whose weights must be
downloaded. Without them, ppl-ssl trains its own feature network: a small CNN classifier on the dataset's
training split (seeded, trained once and cached), and computes the Fréchet distance between Gaussians fitted to
its penultimate-layer features (128 dimensions). The metric is named after the dataset (`fid_fashion_mnist`):
its values are not comparable with Inception-FID in absolute terms (other features, other dimension), only
orderings of models scored with the same feature network are. If torchvision and its Inception-v3 weights are
present locally, `inception_features` gives the standard embedding as well.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from torch import nn
from torch.nn import functional as F

from ppl_ssl.data import DataSplits, as_float
from ppl_ssl.storage import atomic_torch_save


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½): the squared 2-Wasserstein distance between two Gaussians."""
    with warnings.catch_warnings():  # a near-singular product is handled below, not warned about
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # a singular product: shift both covariances slightly (as pytorch-fid does)
        shift = 1e-6 * np.eye(len(cov_a))
        root = scipy.linalg.sqrtm((cov_a + shift) @ (cov_b + shift))
    root = root.real  # sqrtm of a product of PSD matrices has real eigenvalues; imaginary parts are round-off
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features (N, D), in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(0), np.cov(features, rowvar=False)


class FeatureNet(nn.Module):
    """A small CNN classifier; `features` is its 128-dimensional penultimate layer."""

    feature_dim = 128

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, self.feature_dim), nn.ReLU())
        self.classify = nn.Linear(self.feature_dim, classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify(self.body(images))


@dataclass
class FeatureNetwork:
    """A trained feature network and what it was trained on (its test accuracy says how good its features are)."""
    net: FeatureNet
    dataset: str
    test_accuracy: float

    @property
    def metric_name(self) -> str:
        return "fid_" + self.dataset.replace("-", "_")

    def digest(self) -> str:
        """sha1 (12 hex digits) of the network's weights: scores compared across runs made apart are comparable only
        when this agrees. The same recipe, seed and data give other weights on another thread count or another CPU's
        kernels (floating point rounds differently), so a lost network cannot be retrained to the same digest."""
        sha = hashlib.sha1()
        for name, tensor in sorted(self.net.state_dict().items()):
            sha.update(name.encode())
            sha.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return sha.hexdigest()[:12]

    def provenance(self) -> dict:
        """What a run's metrics record beside its FID scores: how good the network's features are and which it was."""
        return {"fid_feature_accuracy": self.test_accuracy, "fid_feature_digest": self.digest()}

    def _chunks(self, images: torch.Tensor, batch_size: int):
        """The images (N, C, H, W; uint8 or floats in [0, 1]) in batches of floats on the network's device, the
        network in eval mode: what every pass below feeds it."""
        self.net.eval()
        device = next(self.net.parameters(), torch.empty(0)).device  # a network without parameters runs on the CPU
        for chunk in images.split(batch_size):
            yield (as_float(chunk) if chunk.dtype == torch.uint8 else chunk).to(device)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
        """Features of images (N, C, H, W): uint8 or floats in [0, 1]."""
        return torch.cat([self.net.features(chunk).cpu() for chunk in self._chunks(images, batch_size)]).double().numpy()

    def statistics(self, images: torch.Tensor) -> "FeatureStatistics":
        """The Gaussian of the images' features: computed once for a reference set (the test images) that several
        samples are compared with."""
        return FeatureStatistics(*feature_statistics(self.embed(images)))

    def fid(self, images_a: "torch.Tensor | FeatureStatistics", images_b: "torch.Tensor | FeatureStatistics") -> float:
        """Fréchet distance between two image sets, either given as images or as their `statistics`."""
        a, b = (x if isinstance(x, FeatureStatistics) else self.statistics(x) for x in (images_a, images_b))
        return frechet_distance(a.mean, a.covariance, b.mean, b.covariance)

    @torch.no_grad()
    def describe(self, images: torch.Tensor, batch_size: int = 1000) -> tuple["FeatureStatistics", np.ndarray]:
        """The images' feature statistics and the classifier's p(y | x), from one pass through the network (a
        sampler's draws need both: their FID and their inception score)."""
        features, probabilities = [], []
        for chunk in self._chunks(images, batch_size):
            hidden = self.net.features(chunk)
            features.append(hidden.cpu())
            probabilities.append(torch.softmax(self.net.classify(hidden).double(), -1).cpu())
        return FeatureStatistics(*feature_statistics(torch.cat(features).double().numpy())), torch.cat(probabilities).numpy()

    @torch.no_grad()
    def class_probabilities(self, images: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
        """p(y | x) of the network's classifier for images (N, C, H, W): uint8 or floats in [0, 1]."""
        return torch.cat([torch.softmax(self.net(chunk).double(), -1).cpu()
                          for chunk in self._chunks(images, batch_size)]).numpy()

    def inception_score(self, images: torch.Tensor, splits: int = 10) -> tuple[float, float]:
        """exp(E_x KL(p(y | x) ‖ p(y))) with this network as the classifier (Salimans et al.'s score, on the project's
        feature network rather than Inception: compare orderings, not values, with published scores), computed on
        `splits` equal parts of the images as usual; their mean and standard deviation. 1 for images the classifier
        cannot tell apart, the number of classes for confidently classified images spread evenly over them."""
        return inception_score(self.class_probabilities(images), splits)


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean and covariance of an image set's features (float64)."""
    mean: np.ndarray
    covariance: np.ndarray


def inception_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """The inception score of class probabilities p(y | x) (N, classes), on `splits` equal parts: mean and s.d."""
    scores = []
    for part in np.array_split(probabilities, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def train_feature_network(data: DataSplits, seed: int = 0, epochs: int = 3, batch_size: int = 256,
                          lr: float = 1e-3) -> FeatureNetwork:
    """Train the classifier on the training split (labels) with Adam; report its test accuracy."""
    if int((data.train_y >= 0).sum()) == 0:
        raise ValueError(f"dataset '{data.spec.name}' has no training labels: the FID feature network is a classifier")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = data.train_x.device
    net = FeatureNet(data.spec.image_shape[0], data.spec.num_classes).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    labelled = (data.train_y >= 0).nonzero().squeeze(1).cpu()
    net.train()
    for _ in range(epochs):
        for index in labelled[torch.randperm(len(labelled), generator=generator)].split(batch_size):
            index = index.to(device)
            loss = F.cross_entropy(net(as_float(data.train_x[index])), data.train_y[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    net.eval()
    with torch.no_grad():
        predictions = torch.cat([net(as_float(chunk)).argmax(1) for chunk in data.test_x.split(1000)])
    accuracy = float((predictions == data.test_y).float().mean())
    return FeatureNetwork(net, data.spec.name, accuracy)


def cached_feature_network(data: DataSplits, folder: str | Path, seed: int = 0, epochs: int = 3) -> FeatureNetwork:
    """The feature network for `data`, trained once and cached in `folder` (e.g. the runs folder), so every model of a
    comparison is scored by the same features. The file names the training split it learnt from (its labelled image
    count: another validation size is another split), so runs over other splits never share a network by accident;
    the network cannot be rebuilt bit for bit elsewhere (see `FeatureNetwork.digest`), so keep the file."""
    labelled = int((data.train_y >= 0).sum())
    path = Path(folder) / f"fid-{data.spec.name}-n{labelled}-s{seed}-e{epochs}.pt"
    device = data.train_x.device
    if path.exists():
        state = torch.load(path, map_location=device, weights_only=True)
        net = FeatureNet(data.spec.image_shape[0], data.spec.num_classes).to(device)
        net.load_state_dict(state["net"])
        return FeatureNetwork(net.eval(), state["dataset"], state["test_accuracy"])
    network = train_feature_network(data, seed=seed, epochs=epochs)
    atomic_torch_save(path, {"net": network.net.state_dict(), "dataset": network.dataset,
                             "test_accuracy": network.test_accuracy})
    return network


def inception_features_available() -> bool:
    """Whether the standard Inception-FID can be computed here: torchvision importable and its Inception-v3 weights
    already in torch's hub cache (nothing is downloaded)."""
    try:
        from torchvision.models import Inception_V3_Weights
    except Exception:  # noqa: BLE001  (torchvision missing, or built for another torch)
        return False
    filename = Path(Inception_V3_Weights.IMAGENET1K_V1.url).name
    return (Path(torch.hub.get_dir()) / "checkpoints" / filename).exists()


@torch.no_grad()
def inception_features(images: torch.Tensor, batch_size: int = 100) -> np.ndarray:
    """2048-dimensional pool features of torchvision's Inception-v3 (ImageNet weights from the local hub cache),
    images resized to 299×299, grey images repeated to 3 channels. Close to, not identical with, the TensorFlow
    Inception of the original FID."""
    from torchvision.models import Inception_V3_Weights, inception_v3

    model = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, aux_logits=True).eval()
    model.fc = nn.Identity()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    parts = []
    for chunk in images.split(batch_size):
        x = (as_float(chunk) if chunk.dtype == torch.uint8 else chunk).cpu()
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        parts.append(model((x - mean) / std))
    return torch.cat(parts).double().numpy()
