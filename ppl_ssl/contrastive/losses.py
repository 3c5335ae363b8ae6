"""Loss functions of discriminative SSL, per anchor (no reduction over the batch unless the loss needs it).

- `info_nce`: one query against its positive key and a bank of negatives (MoCo, CR-VAE).
- `nt_xent`: SimCLR's normalised-temperature cross-entropy among the J views of N images (J = 2: SimCLR's own).
- `vicreg_terms`: VICReg's invariance, variance and covariance terms among J views.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def info_nce(query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    """−log [exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_m exp(q·k_m/τ))] per query, all vectors L2-normalised first.

    query (..., D); positive broadcastable to it; negatives (M, D). Returns (...). With the positive aligned
    (cosine 1) and every negative orthogonal (cosine 0) it equals log(1 + M e^{−1/τ})."""
    q = F.normalize(query, dim=-1)
    positive_logit = (q * F.normalize(positive, dim=-1)).sum(-1, keepdim=True) / temperature
    negative_logits = q @ F.normalize(negatives, dim=-1).T / temperature
    return torch.cat([positive_logit, negative_logits], dim=-1).logsumexp(-1) - positive_logit[..., 0]


def nt_xent(embeddings: torch.Tensor, temperature: float, batch: torch.Tensor | None = None, offset: int = 0) -> torch.Tensor:
    """NT-Xent of embeddings (n, J, D): each of the n·J views is an anchor whose positives are the other J − 1
    views of its image and whose candidates are all other views of the batch; −log softmax averaged over positives.
    Returns (n, J). For J = 2 this is SimCLR's loss (Chen et al. 2020, eq. 1).

    `batch` (N, J, D) is the whole batch when `embeddings` are its rows offset … offset + n (one rank's shard,
    with the batch from `distributed.gather_batch`): each anchor then meets all N·J − 1 candidates, and the rows
    equal those of the whole batch's loss. Without it the batch is `embeddings`."""
    n, j, d = embeddings.shape
    if j < 2:
        raise ValueError(f"nt_xent needs at least 2 views per image, got J = {j}")
    if batch is None:
        batch, offset = embeddings, 0
    anchors = F.normalize(embeddings.reshape(n * j, d), dim=-1)
    candidates = F.normalize(batch.reshape(-1, d), dim=-1)
    similarity = anchors @ candidates.T / temperature                                    # (n·J, N·J)
    anchor_view = torch.arange(n * j, device=anchors.device) + offset * j
    candidate_view = torch.arange(len(candidates), device=anchors.device)
    self_mask = anchor_view[:, None] == candidate_view[None, :]
    log_softmax = similarity.masked_fill(self_mask, float("-inf")).log_softmax(-1)
    positive = (anchor_view[:, None] // j == candidate_view[None, :] // j) & ~self_mask
    return -(log_softmax.masked_fill(~positive, 0.0).sum(-1) / (j - 1)).reshape(n, j)


def vicreg_terms(embeddings: torch.Tensor, target_std: float = 1.0, eps: float = 1e-4,
                 batch: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """VICReg's three terms (Bardes et al. 2022) of embeddings (n, J, D), each a scalar:

    - invariance: mean squared distance between the views of an image, averaged over the J(J−1)/2 pairs;
    - variance: mean over dimensions of max(0, target_std − sqrt(Var + eps)), per view, averaged over views;
    - covariance: sum of squared off-diagonal covariances / D, per view, averaged over views.

    `batch` (N, J, D), the whole batch of which `embeddings` are rows (`distributed.gather_batch`), supplies the
    variance and covariance (statistics of the batch); the invariance, a mean over images, stays a mean over
    `embeddings`, as in VICReg's own distributed code. Without it the batch is `embeddings`."""
    batch = embeddings if batch is None else batch
    n, j, d = batch.shape
    if j < 2 or n < 2:
        raise ValueError(f"vicreg_terms needs at least 2 images and 2 views, got N = {n}, J = {j}")
    pairs = list(itertools.combinations(range(j), 2))
    invariance = torch.stack([F.mse_loss(embeddings[:, a], embeddings[:, b]) for a, b in pairs]).mean()
    centred = batch - batch.mean(0, keepdim=True)
    std = torch.sqrt(centred.pow(2).sum(0) / (n - 1) + eps)                      # (J, D)
    variance = F.relu(target_std - std).mean()
    views = centred.transpose(0, 1)                                              # (J, N, D)
    covariance = views.transpose(1, 2) @ views / (n - 1)                         # (J, D, D)
    off_diagonal = covariance.pow(2).sum((1, 2)) - covariance.diagonal(dim1=1, dim2=2).pow(2).sum(-1)
    return {"invariance": invariance, "variance": variance, "covariance": (off_diagonal / d).mean()}
