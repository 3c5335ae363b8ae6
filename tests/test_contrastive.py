"""The contrastive pieces alone: losses against closed forms and independent formulations, the FIFO queue, the EMA."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ppl_ssl.contrastive import (KeyQueue, MomentumContrast, ProjectionHead, frozen_copy, info_nce, momentum_update,
                                 nt_xent, vicreg_terms)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_info_nce_of_an_aligned_positive_and_orthogonal_negatives_is_the_closed_form(temperature):
    negatives = torch.eye(8)[1:]                      # 7 unit vectors orthogonal to the query
    query, positive = torch.eye(8)[0] * 3.0, torch.eye(8)[0] * 0.2  # scale is irrelevant: vectors are normalised
    expected = math.log(1 + 7 * math.exp(-1 / temperature))
    assert float(info_nce(query, positive, negatives, temperature)) == pytest.approx(expected, abs=1e-6)  # float32: absolute error ~ eps · 1/τ


def test_info_nce_matches_cross_entropy_with_the_positive_at_index_0():
    torch.manual_seed(0)
    q, k, negatives = torch.randn(6, 5), torch.randn(6, 5), torch.randn(20, 5)
    qn, kn, nn_ = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(negatives, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ nn_.T], dim=1) / 0.2
    reference = F.cross_entropy(logits, torch.zeros(6, dtype=torch.long), reduction="none")
    assert torch.allclose(info_nce(q, k, negatives, 0.2), reference, atol=1e-5)
    # leading particle dims broadcast against one key per datum (CR-VAE with several particles)
    assert info_nce(q.expand(3, 6, 5), k, negatives, 0.2).shape == (3, 6)


def test_nt_xent_of_identical_views_and_orthogonal_images_is_the_closed_form():
    n, temperature = 5, 0.5
    embeddings = torch.eye(n).unsqueeze(1).expand(n, 2, n)  # both views of image i are e_i
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / temperature))
    assert torch.allclose(nt_xent(embeddings, temperature), torch.full((n, 2), expected), atol=1e-6)


def test_nt_xent_with_two_views_matches_simclrs_cross_entropy_form():
    torch.manual_seed(1)
    n, temperature = 7, 0.3
    a, b = torch.randn(n, 4), torch.randn(n, 4)
    z = F.normalize(torch.cat([a, b]), dim=1)  # SimCLR's layout: [views 1; views 2]
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    reference = F.cross_entropy(logits, targets, reduction="none")
    ours = nt_xent(torch.stack([a, b], dim=1), temperature)
    assert torch.allclose(ours[:, 0], reference[:n], atol=1e-5) and torch.allclose(ours[:, 1], reference[n:], atol=1e-5)


def test_nt_xent_with_more_views_averages_over_the_other_views():
    torch.manual_seed(2)
    n, j, temperature = 4, 3, 0.5
    e = torch.randn(n, j, 6)
    z = F.normalize(e.reshape(n * j, 6), dim=1)
    expected = torch.zeros(n * j)
    for i in range(n * j):
        others = [k for k in range(n * j) if k != i]
        log_denominator = torch.logsumexp(torch.stack([z[i] @ z[k] / temperature for k in others]), 0)
        positives = [k for k in others if k // j == i // j]
        expected[i] = -torch.stack([z[i] @ z[p] / temperature - log_denominator for p in positives]).mean()
    assert torch.allclose(nt_xent(e, temperature).reshape(-1), expected, atol=1e-5)


def test_vicreg_terms_on_constructed_inputs():
    torch.manual_seed(3)
    a = torch.randn(64, 6) * 3
    identical = vicreg_terms(torch.stack([a, a], dim=1))
    assert float(identical["invariance"]) == 0.0
    shifted = vicreg_terms(torch.stack([a, a + 0.5], dim=1))
    assert float(shifted["invariance"]) == pytest.approx(0.25)            # mean squared difference 0.5²
    collapsed = vicreg_terms(torch.zeros(64, 2, 6))
    assert float(collapsed["variance"]) == pytest.approx(1 - math.sqrt(1e-4))  # std 0: hinge at its maximum
    spread = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]) * 2  # std 2.31 > 1, uncorrelated
    decorrelated = vicreg_terms(torch.stack([spread, spread], dim=1))
    assert float(decorrelated["variance"]) == 0.0 and float(decorrelated["covariance"]) == pytest.approx(0.0, abs=1e-12)
    column = torch.tensor([1.0, -1.0, 2.0, -2.0])
    twins = torch.stack([column, column], dim=1)                          # two copies of one dimension, D = 2
    variance = float(column.var())
    assert float(vicreg_terms(torch.stack([twins, twins], dim=1))["covariance"]) == pytest.approx(2 * variance**2 / 2)


def test_projection_head_shapes_and_batch_norm():
    head = ProjectionHead(10, [32, 16], batch_norm=True)
    assert head(torch.randn(5, 10)).shape == (5, 16) and head.out_dim == 16
    assert sum(isinstance(m, nn.BatchNorm1d) for m in head) == 1  # between layers, none after the last


def test_queue_is_first_in_first_out():
    queue = KeyQueue(size=5, dim=2)
    keys = F.normalize(torch.randn(9, 2), dim=1)
    queue.enqueue(keys[:3])
    queue.enqueue(keys[3:7])
    assert torch.allclose(queue.oldest_first(), keys[2:7], atol=1e-6)  # the oldest (keys 0, 1) left first
    assert int(queue.pointer) == 2
    queue.enqueue(keys[:0])  # nothing
    queue.enqueue(torch.cat([keys[7:], keys[:6]]))  # more than fits: only the newest 5 stay
    assert torch.allclose(queue.oldest_first(), keys[1:6], atol=1e-6)


def test_queue_round_trips_through_a_state_dict():
    queue = KeyQueue(size=4, dim=3)
    queue.enqueue(torch.randn(3, 3))
    restored = KeyQueue(size=4, dim=3)
    restored.load_state_dict(queue.state_dict())
    assert torch.equal(restored.keys, queue.keys) and int(restored.pointer) == 3


def test_momentum_update_is_the_ema_rule():
    torch.manual_seed(4)
    source = nn.Linear(3, 2)
    target = frozen_copy(source)
    assert all(not p.requires_grad for p in target.parameters())
    before = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    momentum_update(target, source, 0.9)
    for old, new, s in zip(before, target.parameters(), source.parameters()):
        assert torch.allclose(new, 0.9 * old + 0.1 * s)
    momentum_update(target, source, 0.0)
    assert all(torch.equal(t, s) for t, s in zip(target.parameters(), source.parameters()))


def test_momentum_contrast_changes_nothing_until_after_the_step():
    torch.manual_seed(5)
    online = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    contrast = MomentumContrast(online, key_dim=3, queue_size=8, temperature=0.2, momentum=0.5)
    views = torch.randn(2, 2, 1, 2, 2)
    queue_before = contrast.queue.keys.clone()
    key_before = [p.clone() for p in contrast.key_network.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(0.3)  # as if an optimiser had stepped
    loss = contrast(online(views[:, 0]), views[:, 1:])
    assert loss.shape == (2,)
    assert torch.equal(contrast.queue.keys, queue_before)  # forward alone leaves the queue ...
    assert all(torch.equal(a, b) for a, b in zip(key_before, contrast.key_network.parameters()))  # ... and the keys' net
    keys = F.normalize(contrast.key_network(views[:, 1].flatten(0, 0)), dim=1)
    contrast.after_step(online)
    assert torch.allclose(contrast.queue.oldest_first()[-2:], keys, atol=1e-6)  # this batch's keys are now the newest
    for old, new, s in zip(key_before, contrast.key_network.parameters(), online.parameters()):
        assert torch.allclose(new, 0.5 * old + 0.5 * s)
