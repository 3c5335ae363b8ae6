"""The encoder/decoder contract for every registered pair: shapes, positive scales, any leading batch dims."""
import pytest
import torch

from ppl_ssl.config import Component, build_config
from ppl_ssl.errors import ConfigError
from ppl_ssl.nets import CRVAEConvOptions, MLPOptions, PythaeNetsOptions, ResNetOptions, build_nets
from ppl_ssl.system import build_system


@pytest.mark.parametrize("kind, options, shape", [
    ("mlp", MLPOptions(encoder_hidden=[16], decoder_hidden=[16]), (1, 28, 28)),
    ("resnet", ResNetOptions(stem_channels=4, channels=[4, 8, 8, 8]), (3, 32, 32)),
    ("resnet", ResNetOptions(stem_channels=4, channels=[4, 8, 8, 8]), (3, 64, 64)),
    ("crvae_conv", CRVAEConvOptions(), (1, 28, 28)),
    ("crvae_conv", CRVAEConvOptions(), (3, 32, 32)),
    ("pythae_convnet", PythaeNetsOptions(), (1, 28, 28)),
    ("pythae_resnet", PythaeNetsOptions(), (1, 28, 28)),
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


@pytest.mark.parametrize("kind, encoder_parameters, decoder_parameters", [
    # Pythae's Encoder_Conv_VAE_MNIST / Decoder_Conv_AE_MNIST and Encoder_ResNet_VAE_MNIST / Decoder_ResNet_AE_MNIST
    # at latent 16, counted layer by layer from its Tables 5 and 6 (two linear heads of 1024 -> 16, or 2048 -> 16)
    ("pythae_convnet", 2_176 + 524_544 + 2_097_664 + 8_389_632 + 2 * (128 + 256 + 512 + 1024) + 2 * 16_400,
     278_528 + 4_719_104 + 1_024 + 1_179_904 + 512 + 2_305),
    ("pythae_resnet", 1_088 + 131_200 + 147_584 + 2 * 41_120 + 2 * 32_784, 34_816 + 147_584 + 2 * 41_120 + 73_792 + 577),
])
def test_pythae_benchmark_nets_have_its_parameter_counts(kind, encoder_parameters, decoder_parameters):
    encoder, decoder = build_nets(Component(kind, PythaeNetsOptions()), (1, 28, 28), latent_dim=16)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert (count(encoder), count(decoder)) == (encoder_parameters, decoder_parameters)
    with pytest.raises(ConfigError, match="28×28"):
        build_nets(Component(kind, PythaeNetsOptions()), (3, 32, 32), 16)


def test_simvae_on_colour_images_takes_an_svi_step():
    config = build_config("simvae", {"data.dataset": "cifar10", "model.views": 2},
                          ["nets.stem_channels=4", "nets.channels=[4, 8, 8, 8]", "model.latent_dim=6"])
    system = build_system(config, (3, 32, 32))
    loss, terms = system.training_loss(torch.rand(3, 2, 3, 32, 32))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in system.parameters() if p.requires_grad)
    assert system.sample(2).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("kind", ["pythae_convnet", "pythae_resnet"])
def test_pythaes_nets_read_the_heads_output_as_a_log_variance_when_asked(kind):
    """encoder_scale = "log_variance": σ = exp(s / 2) of the head's second half s, Pythae's log σ²; the default is
    softplus(s) + 1e-4. The same weights give the same mean either way."""
    torch.manual_seed(0)
    encoder, _ = build_nets(Component(kind, PythaeNetsOptions(encoder_scale="log_variance")), (1, 28, 28), 3)
    x = torch.rand(4, 1, 28, 28)
    encoder.eval()
    raw = encoder.head.linear(encoder.trunk(x))
    loc, scale = encoder(x)
    assert torch.allclose(loc, raw[:, :3]) and torch.allclose(scale, torch.exp(0.5 * raw[:, 3:]))
    encoder.head.scale = "softplus"
    assert torch.allclose(encoder(x)[1], torch.nn.functional.softplus(raw[:, 3:]) + 1e-4)
    with pytest.raises(ConfigError, match="softplus or log_variance"):
        build_config("vae", {}, [f"nets.kind='{kind}'", "nets.encoder_scale='exp'"])
