"""Figures of a fitted run: reconstructions, class-conditional and prior samples, training curves, t-SNE."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ppl_ssl.data import DataSplits, as_float  # noqa: E402
from ppl_ssl.evaluation.generation import class_conditional_codes  # noqa: E402
from ppl_ssl.graphs import write_graphs  # noqa: E402
from ppl_ssl.storage import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: Path) -> None:
    """Render to memory, then write atomically: a killed run never leaves half a PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def image_grid(images: torch.Tensor, rows: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows·H, cols·W[, 3]) array with 1-px white separators."""
    n, c, h, w = images.shape
    cols = int(np.ceil(n / rows))
    grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), dtype=np.float32)
    for i, img in enumerate(images.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()):
        r, k = divmod(i, cols)
        grid[r * (h + 1) : r * (h + 1) + h, k * (w + 1) : k * (w + 1) + w] = img
    return grid[..., 0] if c == 1 else grid


def _save_grid(grid: np.ndarray, path: Path, title: str, ylabels: list[str] | None = None) -> None:
    fig, ax = plt.subplots(figsize=(max(4, grid.shape[1] / 28), max(2, grid.shape[0] / 28) + 0.5))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    if ylabels:
        step = grid.shape[0] / len(ylabels)
        ax.set_yticks([(i + 0.5) * step for i in range(len(ylabels))], ylabels, fontsize=7)
    else:
        ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)


@torch.no_grad()
def reconstructions(system, data: DataSplits, path: Path, n: int = 16) -> None:
    x = as_float(data.test_x[:n])
    grid = image_grid(torch.cat([x, system.reconstruct(x)]), rows=2)
    _save_grid(grid, path, "test images (top) and reconstructions from E_q[z|x] (bottom)")


def straight_lines(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` evenly spaced points from each code of `start` (P, L) to its partner in `end`, both ends included:
    (P, steps, L)."""
    t = torch.linspace(0, 1, steps, device=start.device).view(1, steps, 1)
    return (1 - t) * start.unsqueeze(1) + t * end.unsqueeze(1)


@torch.no_grad()
def interpolations(system, data: DataSplits, path: Path, pairs: int, steps: int = 10) -> None:
    """Pythae's Task 5: for each pair of test images (the first `pairs` with the next `pairs`), the decoded points of
    the straight line between their codes, E_q[z|x] at both ends; a row per pair, the ends' own reconstructions
    first and last."""
    device = next(system.parameters()).device
    x = as_float(data.test_x[: 2 * pairs]).to(device)
    codes = system.encode(x)
    start, end = codes[:pairs], codes[pairs: 2 * pairs]
    images = system.decode(straight_lines(start, end, steps).flatten(0, 1))
    _save_grid(image_grid(images.cpu(), rows=len(start)), path,
               "decoded straight lines between the codes of two test images (a row per pair)")


@torch.no_grad()
def interpolations_by_model(systems: dict, data: DataSplits, path: Path, steps: int = 10) -> None:
    """Pythae's interpolation figure: the same two test images (the first two of different classes) for every model,
    a row per model with the decoded straight line between their codes, E_q[z|x] at both ends."""
    labels = data.test_y.cpu()
    first, second = 0, int(torch.nonzero(labels != labels[0])[0])
    rows = []
    for system in systems.values():
        device = next(system.parameters()).device
        codes = system.encode(as_float(data.test_x[[first, second]]).to(device))
        rows.append(system.decode(straight_lines(codes[:1], codes[1:], steps)[0]).float().cpu())
    _save_grid(image_grid(torch.cat(rows), rows=len(rows)), path,
               "decoded straight lines between the codes of the same two test images", list(systems))


@torch.no_grad()
def class_samples(system, features, data: DataSplits, path: Path, per_class: int = 10, seed: int = 0) -> None:
    """The paper's generation protocol: a full-covariance Gaussian fitted to the training codes of each class."""
    counts = {label: per_class for label in range(data.spec.num_classes) if (features.train_y == label).sum() >= 2}
    codes = class_conditional_codes(features.train, features.train_y, counts, seed)
    device = next(system.parameters()).device
    images = system.decode(torch.as_tensor(codes, dtype=torch.float32, device=device))
    _save_grid(image_grid(images, rows=len(counts)), path, "samples from a Gaussian fitted to each class's codes",
               [data.spec.class_names[label] for label in sorted(counts)])


@torch.no_grad()
def prior_samples(system, views: int, path: Path, groups: int = 8) -> None:
    """Each row: one draw of content from the prior, and `views` views drawn around it."""
    j = max(1, min(views, 10))
    z = system.sample_prior(groups, j)  # (groups, J, L)
    images = system.decode(z.flatten(0, 1))
    title = "prior samples" if j == 1 else f"prior samples: each row shares content y, {j} views z^j | y"
    _save_grid(image_grid(images, rows=groups if j > 1 else 2), path, title)


def training_curves(log_lines: list[dict], history: list[dict], path: Path) -> None:
    """One panel per logged term (the ELBO's terms, or a discriminative loss and its parts), per view; where the
    run computed a validation loss, a last panel of the loss per epoch on the training and validation splits with
    the epoch of the lowest validation loss marked (the one `train.keep_best` keeps)."""
    keys = [k for k in (log_lines[0] if log_lines else {}) if k not in ("epoch", "step", "lr")]
    order = ["elbo", "reconstruction", "log_prior", "entropy"]
    keys = sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))[:5] or ["loss"]
    labels = {"elbo": "ELBO", "reconstruction": "reconstruction E_q log p(x|z)", "log_prior": "log prior E_q log p(z|y)",
              "entropy": "entropy −E_q log q(z|x)"}
    validated = [h for h in history if "validation_loss" in h]
    fig, axes = plt.subplots(1, len(keys) + bool(validated), figsize=(3.5 * (len(keys) + bool(validated)), 3),
                             squeeze=False)
    if validated:
        _loss_per_epoch(axes[0][-1], history, validated)
    steps = np.array([r["step"] for r in log_lines])
    for ax, key in zip(axes[0], keys):
        values = np.array([r[key] for r in log_lines])
        if len(values):
            ax.plot(steps, values, lw=0.5, alpha=0.4, label="step")
            window = max(1, len(values) // 50)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1 :], smooth, lw=1.2, label=f"mean of {window}")
        ax.set_title(labels.get(key, key) + " (per view)", fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def loss_per_epoch(history: list[dict], path: Path, title: str = "") -> None:
    """The training and validation loss per epoch alone (the last panel of `training_curves`), for a report."""
    validated = [h for h in history if "validation_loss" in h]
    if not validated:
        raise ValueError("the run's history holds no validation_loss (train.validation_loss was off)")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    _loss_per_epoch(ax, history, validated)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _loss_per_epoch(ax, history: list[dict], validated: list[dict]) -> None:
    ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], marker=".", lw=1, label="training (mean over the epoch)")
    ax.plot([h["epoch"] for h in validated], [h["validation_loss"] for h in validated], marker=".", lw=1,
            label="validation (after the epoch)")
    best = min(validated, key=lambda h: h["validation_loss"])
    ax.axvline(best["epoch"], color="grey", ls="--", lw=0.8, label=f"lowest validation loss: epoch {best['epoch']}")
    ax.set_title("loss per view, per epoch", fontsize=8)
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)


def tsne(features, class_names: tuple[str, ...], path: Path, points: int, seed: int = 0) -> None:
    from sklearn.manifold import TSNE

    n = min(points, len(features.test))
    idx = np.random.default_rng(seed).choice(len(features.test), n, replace=False)
    xy = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, max(2.0, n / 4))).fit_transform(features.test[idx])
    labels = features.test_y[idx]
    fig, ax = plt.subplots(figsize=(6, 5))
    for c in np.unique(labels):
        ax.scatter(*xy[labels == c].T, s=3, label=class_names[c] if c < len(class_names) else str(c))
    ax.legend(fontsize=6, markerscale=3, loc="best")
    ax.set_title(f"t-SNE of {n} test representations", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)


def attribute_accuracies(metrics: dict, path: Path) -> None:
    """The attribute probes' test accuracies (the SimVAE paper's Figure 6), lowest first, beside the majority share."""
    prefix = "attribute_accuracy_"
    scores = sorted((v, k[len(prefix):]) for k, v in metrics.items() if k.startswith(prefix) and k != prefix + "mean")
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(scores) + 1))
    ax.barh([name for _, name in scores], [100 * v for v, _ in scores])
    ax.axvline(100 * metrics["attribute_majority_mean"], color="gray", linestyle="--", label="majority (mean)")
    ax.set_xlabel("MLP probe test accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def write_all(system, features, data: DataSplits, views: int, log_lines: list[dict], history: list[dict],
              folder: Path, tsne_points: int, metrics: dict | None = None, interpolation_pairs: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    if metrics and "attribute_majority_mean" in metrics:
        attribute_accuracies(metrics, folder / "attributes.png")
    if system.can_decode:  # discriminative systems have no decoder (ppl-ssl decode fits one post hoc)
        reconstructions(system, data, folder / "reconstructions.png")
        if features is not None:  # classes need labels
            class_samples(system, features, data, folder / "class_samples.png")
        prior_samples(system, views, folder / "prior_samples.png")
        if interpolation_pairs:
            interpolations(system, data, folder / "interpolations.png", interpolation_pairs)
        write_graphs(system, views, data.spec.image_shape, folder)  # model_graph.png, model_and_guide.png
    training_curves(log_lines, history, folder / "training_curves.png")
    if tsne_points > 0 and features is not None:
        tsne(features, data.spec.class_names, folder / "tsne.png", tsne_points)
    return sorted(folder.glob("*.png"))


def sample_grid(images: torch.Tensor, path: Path, title: str) -> None:
    """A square-ish grid of generated images (N, C, H, W) in [0, 1]."""
    rows = max(1, int(np.floor(np.sqrt(len(images)))))
    _save_grid(image_grid(images, rows=rows), path, title)


def comparison_grid(rows: list[torch.Tensor], labels: list[str], path: Path, title: str) -> None:
    """Rows of images (each (n, C, H, W), the same n): e.g. originals, then each model's reconstructions."""
    _save_grid(image_grid(torch.cat([r.cpu() for r in rows]), rows=len(rows)), path, title, labels)
