"""The encoder/decoder contract for every registered pair: shapes, positive scales, any leading batch dims."""
import pytest
import torch

from ppl_ssl.config import Component, build_config
from ppl_ssl.errors import ConfigError
from ppl_ssl.nets import CRVAEConvOptions, MLPOptions, ResNetOptions, build_nets
from ppl_ssl.system import build_system


@pytest.mark.parametrize("kind, options, shape", [
    ("mlp", MLPOptions(encoder_hidden=[16], decoder_hidden=[16]), (1, 28, 28)),
    ("resnet", ResNetOptions(stem_channels=4, channels=[4, 8, 8, 8]), (3, 32, 32)),
    ("resnet", ResNetOptions(stem_channels=4, channels=[4, 8, 8, 8]), (3, 64, 64)),
    ("crvae_conv", CRVAEConvOptions(), (1, 28, 28)),
    ("crvae_conv", CRVAEConvOptions(), (3, 32, 32)),
])
def test_encoder_decoder_contract(kind, options, shape):
    encoder, decoder = build_nets(Component(kind, options), shape, latent_dim=5)
    x = torch.rand(3, *shape)
    loc, scale = encoder(x)
    assert loc.shape == scale.shape == (3, 5) and bool((scale > 0).all())
    assert decoder(torch.randn(2, 4, 5)).shape == (2, 4, *shape)  # any leading batch dims


def test_resnet_rejects_sizes_it_cannot_take():
    with pytest.raises(ConfigError, match="32 or 64 px"):
        build_nets(Component("resnet", ResNetOptions()), (1, 28, 28), 4)


def test_the_crvae_papers_nets_have_its_layers_and_a_weaker_encoder():
    encoder, decoder = build_nets(Component("crvae_conv", CRVAEConvOptions()), (1, 28, 28), latent_dim=16)
    convolutions = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    transposed = [m for m in decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.out_channels for c in convolutions] == [32, 64, 128] and [c.stride[0] for c in convolutions] == [2, 2, 2]
    assert [c.out_channels for c in transposed] == [128, 64, 32, 1] and [c.stride[0] for c in transposed] == [2, 2, 2, 1]
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    # the paper: about 176K and 439K; Table VI's layers give 158,688 and 457,665 (docs/guide/protocol.md)
    assert (count(encoder), count(decoder)) == (158_688, 457_665)
    with pytest.raises(ConfigError, match="28 or 32 px"):
        build_nets(Component("crvae_conv", CRVAEConvOptions()), (1, 64, 64), 4)


def test_simvae_on_colour_images_takes_an_svi_step():
    config = build_config("simvae", {"data.dataset": "cifar10", "model.views": 2},
                          ["nets.stem_channels=4", "nets.channels=[4, 8, 8, 8]", "model.latent_dim=6"])
    system = build_system(config, (3, 32, 32))
    loss, terms = system.training_loss(torch.rand(3, 2, 3, 32, 32))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in system.parameters() if p.requires_grad)
    assert system.sample(2).shape == (2, 3, 32, 32)
