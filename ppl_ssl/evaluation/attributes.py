"""Attribute probes (the SimVAE paper's Figure 6): an MLP probe per binary attribute on the frozen representation.

The paper probes 20 of CelebA's 40 attributes, "removing those with high class imbalance", without naming them.
Here the 20 are the attributes whose share of positives on the training split is closest to one half — a rule
stated rather than a list guessed — and each probe is the MLP probe of the content task (one hidden layer of L
units, Adam, the epoch chosen on the validation split, accuracy on the test split).
"""
from __future__ import annotations

import numpy as np

from ppl_ssl.data import Attributes, DataSplits
from ppl_ssl.evaluation.representation import Features, embed, probe_accuracy


def balanced_attributes(attributes: Attributes, count: int) -> list[int]:
    """Indices of the `count` attributes with the training share of positives closest to 1/2 (ties: file order)."""
    share = attributes.train.float().mean(0).cpu().numpy()
    return sorted(np.argsort(np.abs(share - 0.5), kind="stable")[:count].tolist())


def attribute_probe_scores(encode, data: DataSplits, count: int, epochs: int, lr: float, batch_size: int,
                           seed: int = 0) -> dict[str, float]:
    """{"attribute_accuracy_NAME": test accuracy, ..., "attribute_accuracy_mean", "attribute_majority_mean"}."""
    attributes = data.attributes
    features = {split: embed(encode, data.split(split)[0]).numpy() for split in ("train", "val", "test")}
    scores: dict[str, float] = {}
    majority = []
    for index in balanced_attributes(attributes, count):
        labels = {split: attributes.split(split)[:, index].long().cpu().numpy() for split in ("train", "val", "test")}
        f = Features(features["train"], labels["train"], features["val"], labels["val"], features["test"], labels["test"])
        accuracy, _ = probe_accuracy(f, f.train.shape[1], epochs, lr, batch_size, seed, data.train_x.device)
        scores[f"attribute_accuracy_{attributes.names[index]}"] = accuracy
        majority.append(max(labels["test"].mean(), 1 - labels["test"].mean()))
    scores["attribute_accuracy_mean"] = float(np.mean(list(scores.values())))
    scores["attribute_majority_mean"] = float(np.mean(majority))  # what always guessing the commoner value scores
    return scores
