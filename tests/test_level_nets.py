"""selfVAE's level nets: the paper's dense/attention architecture (Appendix A.3) beside the compact default."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import ppl_ssl
from ppl_ssl.data.formats import write_cifar_batch
from ppl_ssl.selfvae.level_nets import ARCHITECTURES, ChannelAttention, DenseBlock
from ppl_ssl.system import build_system
from tests.conftest import tiny_config

DENSE = ["model.program.architecture=dense", "model.program.channels=8", "model.program.growth=4",
         "model.program.dense_layers=2", "model.program.components=2"]


def test_channel_attention_rescales_each_channel_by_one_gate_in_0_1():
    torch.manual_seed(0)
    attention = ChannelAttention(8)
    x = torch.randn(3, 8, 5, 5).abs() + 0.1
    ratio = attention(x) / x                                  # the gate, broadcast over the image
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-6)
    assert torch.all((ratio > 0) & (ratio < 1))
    # the gate of a channel depends on the other channels' summaries (inter-channel dependencies)
    y = x.clone()
    y[:, 1:] *= 3
    assert not torch.allclose(attention(y)[:, 0] / y[:, 0], ratio[:, 0])


def test_dense_block_keeps_the_channel_count_and_reuses_every_earlier_feature():
    torch.manual_seed(0)
    block = DenseBlock(6, growth=4, layers=3)
    x = torch.randn(2, 6, 7, 7, requires_grad=True)
    assert block(x).shape == x.shape
    widths = [layer[0].in_channels for layer in block.layers]
    assert widths == [6, 10, 14] and block.transition.in_channels == 18
    block(x).sum().backward()
    assert torch.all(torch.isfinite(x.grad)) and x.grad.abs().sum() > 0


def test_dense_nets_weight_normalise_every_convolution_so_rescaling_a_direction_changes_nothing():
    config = tiny_config("selfvae-downscale", *DENSE)
    torch.manual_seed(0)
    system = build_system(config, (3, 16, 16)).eval()
    convs = [m for m in system.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in convs)     # upsampling by transposed convolutions
    assert any(isinstance(m, ChannelAttention) for m in system.modules())
    x = (torch.randint(0, 256, (2, 3, 16, 16)) / 255).float()
    before = system.encode(x)
    with torch.no_grad():
        for m in convs:                                            # w = g · v / ‖v‖: v's scale is irrelevant
            m.parametrizations.weight.original1.mul_(3.0)
    assert torch.allclose(system.encode(x), before, atol=1e-5)
    compact = build_system(tiny_config("selfvae-downscale", "model.program.channels=8"), (3, 16, 16))
    assert not any(parametrize.is_parametrized(m) for m in compact.modules() if isinstance(m, nn.Conv2d))


def test_unknown_architecture_is_refused_by_name():
    with pytest.raises(ppl_ssl.ConfigError, match="architecture"):
        tiny_config("selfvae-downscale", "model.program.architecture=unet")
    assert ARCHITECTURES.names() == ["compact", "dense"]


def test_the_cifar10_preset_fits_32px_colour_with_the_dense_nets(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    # saturated colour blocks (each channel 0 or 255 per 8×8 block): every pixel sits in an open edge bin, the case
    # that once made the logistic mixture's gradient NaN; y = d(x) then determines x, which the nets learn
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        blocks = (rng.integers(0, 2, (16, 3, 4, 4)) * 255).astype(np.uint8)
        write_cifar_batch(folder / name, blocks.repeat(8, axis=2).repeat(8, axis=3), np.arange(16) % 10)
    config = ppl_ssl.build_config("selfvae-cifar10", {"train.epochs": 10, "data.data_dir": str(tmp_path)}, [
        *DENSE, "model.latent_dim=4", "data.val_size=8", "train.batch_size=16", "train.device='cpu'", "eval.probe_epochs=2",
        "eval.gmm_n_init=1", "eval.tsne_points=0", "eval.figures=false", "eval.nll_samples=4", "eval.style_probe=false",
        "eval.diagnostics_points=16"])
    assert config.data.dataset == "cifar10" and config.model.program.options.architecture == "dense"
    metrics = ppl_ssl.fit_and_evaluate(config, tmp_path / "run", progress=False)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert all(math.isfinite(h["loss"]) for h in history) and history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert 0 < metrics["test_bpd"] < 8
    assert metrics["test_bpd"] == pytest.approx(metrics["test_nll"] / (3 * 32 * 32 * math.log(2)))
