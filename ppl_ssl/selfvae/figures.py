"""selfVAE's figures: its generation and reconstruction modes, and quality against sent information."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ppl_ssl.figures import _save_grid, image_grid, save_figure


def _to_size(images: torch.Tensor, size: tuple[int, int], channels: int) -> torch.Tensor:
    """Nearest-neighbour resize and channel broadcast, so a coarse or one-channel level sits in a row of x's."""
    images = torch.nn.functional.interpolate(images.float(), size=size, mode="nearest")
    return images.expand(-1, channels, -1, -1) if images.shape[1] != channels else images


def modes_grid(truth: torch.Tensor, results: list, path: Path, title: str) -> None:
    """Rows: the test images, then each mode's images (a given coarse level drawn beside its mode's name)."""
    rows, labels = [truth.cpu()], ["test images x*"]
    for result in results:
        if result.given is not None and result.mode in ("super-resolution", "conditional-generation"):
            rows.append(_to_size(result.given, tuple(truth.shape[-2:]), truth.shape[1]).cpu())
            labels.append(f"given y (for {result.mode})")
        rows.append(result.images.cpu())
        labels.append(result.mode)
    _save_grid(image_grid(torch.cat(rows), rows=len(rows)), path, title, labels)


def quality_vs_sent_information(points: list[dict], path: Path, original_bits: float) -> None:
    """The selfVAE paper's Figure 6: reconstruction quality (PSNR) against the information each mode sends."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    labels: dict[tuple[float, float], tuple[float, float, list[str]]] = {}  # modes at one point share a label
    for p in points:
        share = 100 * p["sent_bits"] / original_bits
        ax.scatter(share, p["psnr"], s=30)
        labels.setdefault((round(share, 1), round(p["psnr"], 1)), (share, p["psnr"], []))[2].append(p["mode"])
    for i, (share, psnr, modes) in enumerate(labels.values()):
        ax.annotate(" = ".join(modes), (share, psnr), fontsize=7, xytext=(4, 2 if i % 2 == 0 else -9), textcoords="offset points")
    largest = max(100 * p["sent_bits"] / original_bits for p in points)
    ax.set_xlim(-0.05 * largest - 1, 1.7 * largest + 1)  # room for the labels right of the points
    ax.set_xlabel(f"sent information, % of the 8-bit image ({original_bits:.0f} bits)", fontsize=8)
    ax.set_ylabel("PSNR of x against x* (dB)", fontsize=8)
    ax.set_title("selfVAE: quality vs amount of sent information", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    save_figure(fig, path)
