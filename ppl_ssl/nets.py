"""Encoder / decoder pairs (chosen by `nets.kind`).

The contract, shared by every pair:
- encoder(x): images (N, C, H, W) in [0, 1] -> (loc, scale), each (N, L), scale > 0;
- decoder(z): codes (..., L) -> raw, unconstrained image parameters (..., P, H, W); a likelihood maps them
  to its distribution. P = C for most likelihoods; a likelihood with several parameters per pixel (the
  discretised logistic mixture) asks for more channels through its `raw_channels(C)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ppl_ssl.contracts import BuildContext, Nets
from ppl_ssl.errors import ConfigError
from ppl_ssl.options import one_of, option, positive, widths
from ppl_ssl.precision import AutocastModule
from ppl_ssl.registry import NETS

MIN_SCALE = 1e-4  # keeps log q(z | x) finite however confident the encoder becomes
SCALES = ("softplus", "log_variance")  # how the head's second half of outputs becomes σ


class GaussianHead(nn.Module):
    """Features -> (loc, scale) of a diagonal Gaussian. `scale`: "softplus", σ = softplus(s) + MIN_SCALE (σ = 0.69
    at s = 0; gradient in s at most 1), or "log_variance", σ = exp(s / 2), s read as log σ² (Pythae's encoders; σ = 1
    at s = 0)."""

    def __init__(self, features: int, latent_dim: int, scale: str = "softplus"):
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"encoder scale {scale!r} is not one of {', '.join(SCALES)}")
        self.linear = nn.Linear(features, 2 * latent_dim)
        self.scale = scale

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # fp32 from here on even when the net computes in bf16: a scale of 1 ± 1e-4 (MIN_SCALE) and log σ need
        # more than bf16's 8 bits of mantissa
        loc, raw_scale = self.linear(h).float().chunk(2, dim=-1)
        if self.scale == "log_variance":
            return loc, torch.exp(0.5 * raw_scale)
        return loc, F.softplus(raw_scale) + MIN_SCALE


class Encoder(AutocastModule):
    """A feature trunk followed by a Gaussian head."""

    def __init__(self, trunk: nn.Module, features: int, latent_dim: int, scale: str = "softplus"):
        super().__init__()
        self.trunk = trunk
        self.head = GaussianHead(features, latent_dim, scale)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.trunk(x))


class Decoder(AutocastModule):
    """Maps codes with any leading batch dims through `body`, which takes (N, L) to (N, C, H, W).

    Its raw output leaves in fp32 whatever the precision (AutocastModule): the likelihood's arithmetic is fp32."""

    def __init__(self, body: nn.Module, image_shape: tuple[int, int, int]):
        super().__init__()
        self.body = body
        self.image_shape = tuple(image_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        out = self.body(z.reshape(-1, z.shape[-1]))
        return out.reshape(*lead, *self.image_shape)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass
class MLPOptions:
    # The TMLR paper's Table 3 (the authors' code uses the reverse order of widths; see docs/differences).
    encoder_hidden: list[int] = option([500, 500, 2000], widths())
    decoder_hidden: list[int] = option([2000, 500, 500], widths())


@NETS.register("mlp", MLPOptions, summary="MLP encoder/decoder of the SimVAE paper's Table 3 (MNIST, Fashion-MNIST)")
class MLPNets(Nets):
    @classmethod
    def build(cls, options: MLPOptions, context: BuildContext) -> tuple[Encoder, Decoder]:
        return build_mlp(context.image_shape, context.latent_dim, options, context.output_channels)


def build_mlp(image_shape: tuple[int, int, int], latent_dim: int, options: MLPOptions,
              output_channels: int | None = None) -> tuple[Encoder, Decoder]:
    d = math.prod(image_shape)
    out_shape = (output_channels or image_shape[0], *image_shape[1:])
    trunk = nn.Sequential(nn.Flatten(), _mlp([d, *options.encoder_hidden]), nn.ReLU())
    body = nn.Sequential(_mlp([latent_dim, *options.decoder_hidden, math.prod(out_shape)]), nn.Unflatten(1, out_shape))
    return Encoder(trunk, options.encoder_hidden[-1], latent_dim), Decoder(body, out_shape)


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a (projected) skip; stride 2 halves, upsample doubles the size."""

    def __init__(self, cin: int, cout: int, stride: int = 1, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        needs_projection = cin != cout or stride != 1
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.skip(x))


@dataclass
class ResNetOptions:
    # The TMLR paper's Table 4: stem of 16 channels, residual stages of 32, 64, 128, 256 channels down to 4×4.
    stem_channels: int = option(16, positive())
    channels: list[int] = option([32, 64, 128, 256], widths(4))


@NETS.register("resnet", ResNetOptions, summary="ResNet-style conv encoder/decoder of the paper's Table 4 (32/64 px colour)")
class ResNetNets(Nets):
    @classmethod
    def build(cls, options: ResNetOptions, context: BuildContext) -> tuple[Encoder, Decoder]:
        return build_resnet(context.image_shape, context.latent_dim, options, context.output_channels)


def build_resnet(image_shape: tuple[int, int, int], latent_dim: int, options: ResNetOptions,
                 output_channels: int | None = None) -> tuple[Encoder, Decoder]:
    c, h, w = image_shape
    out_channels = output_channels or c
    if h != w or h not in (32, 64):
        raise ConfigError(f"nets 'resnet' takes square 32 or 64 px images, got {h}×{w}; use --set nets.kind=mlp")
    ch = options.channels
    stem = [nn.Conv2d(c, options.stem_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(options.stem_channels), nn.ReLU()]
    if h == 64:
        stem.append(nn.MaxPool2d(3, 2, 1))  # 64 -> 32 px, as Table 4's 3×3 max-pool
    trunk = nn.Sequential(
        *stem, ResidualBlock(options.stem_channels, ch[0]), ResidualBlock(ch[0], ch[1], 2),
        ResidualBlock(ch[1], ch[2], 2), ResidualBlock(ch[2], ch[3], 2), nn.Flatten(),
    )
    up = [ResidualBlock(ch[3], ch[2], upsample=True), ResidualBlock(ch[2], ch[1], upsample=True),
          ResidualBlock(ch[1], ch[0], upsample=True)]
    last = ch[0]
    if h == 64:
        up.append(ResidualBlock(ch[0], options.stem_channels, upsample=True))
        last = options.stem_channels
    body = nn.Sequential(
        nn.Linear(latent_dim, ch[3] * 16), nn.ReLU(), nn.Unflatten(1, (ch[3], 4, 4)), *up,
        nn.Conv2d(last, out_channels, 5, 1, 2),
    )
    return Encoder(trunk, ch[3] * 16, latent_dim), Decoder(body, (out_channels, h, w))


@dataclass
class CRVAEConvOptions:
    # The CR-VAE paper's Table VI: three stride-2 convolutions in the encoder, one stride-2 transposed convolution
    # more in the decoder (the encoder is the weaker net on purpose, to provoke posterior collapse).
    encoder_channels: list[int] = option([32, 64, 128], widths(3))
    decoder_channels: list[int] = option([256, 128, 64, 32], widths(4))


@NETS.register("crvae_conv", CRVAEConvOptions,
               summary="the CR-VAE paper's conv nets (Table VI): 3-conv encoder, 4-conv decoder, batch norm (28/32 px)")
class CRVAEConvNets(Nets):
    @classmethod
    def build(cls, options: CRVAEConvOptions, context: BuildContext) -> tuple[Encoder, Decoder]:
        return build_crvae_conv(context.image_shape, context.latent_dim, options, context.output_channels)


def _conv_size(size: int, padding: int) -> int:
    return (size + 2 * padding - 3) // 2 + 1


def build_crvae_conv(image_shape: tuple[int, int, int], latent_dim: int, options: CRVAEConvOptions,
                     output_channels: int | None = None) -> tuple[Encoder, Decoder]:
    """Encoder: Conv(k3, s2) -> BN -> ReLU, then two Conv(k3, s2, p1) -> BN -> ReLU, flattened into the Gaussian head
    (the table's two Linear(·, 16) layers as one). Decoder: Linear(L, 256·4·4) -> ReLU, three ConvTranspose(k3, s2)
    -> BN -> ReLU with the table's paddings (28 px: padding 1, 1, 0 and output padding 0, 0, 1: 4 -> 7 -> 13 -> 28;
    32 px: 1, 1, 1 and 1, 1, 1: 4 -> 8 -> 16 -> 32), and a stride-1 ConvTranspose(k3, p1) to the image's channels (the
    table's sigmoid is the likelihood's)."""
    c, h, w = image_shape
    if h != w or h not in (28, 32):
        raise ConfigError(f"nets 'crvae_conv' takes square 28 or 32 px images (the CR-VAE paper's), got {h}×{w}; "
                          "use --set nets.kind=mlp")
    e1, e2, e3 = options.encoder_channels
    trunk = nn.Sequential(
        nn.Conv2d(c, e1, 3, 2), nn.BatchNorm2d(e1), nn.ReLU(),
        nn.Conv2d(e1, e2, 3, 2, 1), nn.BatchNorm2d(e2), nn.ReLU(),
        nn.Conv2d(e2, e3, 3, 2, 1), nn.BatchNorm2d(e3), nn.ReLU(), nn.Flatten(),
    )
    side = _conv_size(_conv_size(_conv_size(h, 0), 1), 1)  # 28 -> 13 -> 7 -> 4; 32 -> 15 -> 8 -> 4
    d0, d1, d2, d3 = options.decoder_channels
    padding, output_padding = ((1, 1, 0), (0, 0, 1)) if h == 28 else ((1, 1, 1), (1, 1, 1))
    out_channels = output_channels or c
    up = []
    for i, (cin, cout) in enumerate(((d0, d1), (d1, d2), (d2, d3))):
        up += [nn.ConvTranspose2d(cin, cout, 3, 2, padding[i], output_padding[i]), nn.BatchNorm2d(cout), nn.ReLU()]
    body = nn.Sequential(nn.Linear(latent_dim, d0 * 16), nn.ReLU(), nn.Unflatten(1, (d0, 4, 4)), *up,
                         nn.ConvTranspose2d(d3, out_channels, 3, 1, 1))
    return Encoder(trunk, e3 * side * side, latent_dim), Decoder(body, (out_channels, h, w))


@dataclass
class PythaeNetsOptions:
    # the benchmark's nets have no width to choose (Pythae's Tables 5 and 6 fix them); the encoder's σ is ppl-ssl's
    # softplus by default, or Pythae's exp(s / 2) of a log variance
    encoder_scale: str = option("softplus", one_of(SCALES, note="σ = softplus(s) + 1e-4, or exp(s / 2) (Pythae's)"))


def _only_28_pixels(kind: str, image_shape: tuple[int, int, int]) -> None:
    if tuple(image_shape[1:]) != (28, 28):
        raise ConfigError(f"nets '{kind}' are Pythae's benchmark nets for 28×28 images (its Tables 5 and 6), got "
                          f"{image_shape[1]}×{image_shape[2]}; use --set nets.kind=mlp")


@NETS.register("pythae_convnet", PythaeNetsOptions,
               summary="Pythae's benchmark ConvNet for 28×28 images (its Table 5): 4 convs of 128-1024 channels, 3 transposed")
class PythaeConvNets(Nets):
    @classmethod
    def build(cls, options: PythaeNetsOptions, context: BuildContext) -> tuple[Encoder, Decoder]:
        return build_pythae_convnet(context.image_shape, context.latent_dim, context.output_channels,
                                    options.encoder_scale)


def build_pythae_convnet(image_shape: tuple[int, int, int], latent_dim: int, output_channels: int | None = None,
                         encoder_scale: str = "softplus") -> tuple[Encoder, Decoder]:
    """Encoder: Conv(k4, s2, p1)–BN–ReLU to 128, 256, 512, 1024 channels (28 -> 14 -> 7 -> 3 -> 1), flattened into the
    Gaussian head (the table's "doubled for VAE-based models" linear layer). Decoder: Linear(L, 1024·4·4), then
    ConvT(512, k3, s2, p1)–BN–ReLU (4 -> 7), ConvT(256, k3, s2, p1, output padding 1)–BN–ReLU (7 -> 14) and
    ConvT(C, k3, s2, p1, output padding 1) (14 -> 28); the table's sigmoid is the likelihood's."""
    _only_28_pixels("pythae_convnet", image_shape)
    c = image_shape[0]
    out_channels = output_channels or c
    trunk = nn.Sequential(*[layer for cin, cout in ((c, 128), (128, 256), (256, 512), (512, 1024))
                            for layer in (nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())], nn.Flatten())
    body = nn.Sequential(
        nn.Linear(latent_dim, 1024 * 16), nn.Unflatten(1, (1024, 4, 4)),
        nn.ConvTranspose2d(1024, 512, 3, 2, 1), nn.BatchNorm2d(512), nn.ReLU(),
        nn.ConvTranspose2d(512, 256, 3, 2, 1, 1), nn.BatchNorm2d(256), nn.ReLU(),
        nn.ConvTranspose2d(256, out_channels, 3, 2, 1, 1),
    )
    return Encoder(trunk, 1024, latent_dim, encoder_scale), Decoder(body, (out_channels, 28, 28))


class PythaeResBlock(nn.Module):
    """x + Conv(1×1)(ReLU(Conv(3×3)(ReLU(x)))), 128 -> 32 -> 128 channels (Pythae's ResBlock)."""

    def __init__(self, channels: int = 128, inner: int = 32):
        super().__init__()
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, inner, 3, 1, 1), nn.ReLU(), nn.Conv2d(inner, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@NETS.register("pythae_resnet", PythaeNetsOptions,
               summary="Pythae's benchmark ResNet for 28×28 images (its Table 6): 3 convs and 2 residual blocks each way")
class PythaeResNets(Nets):
    @classmethod
    def build(cls, options: PythaeNetsOptions, context: BuildContext) -> tuple[Encoder, Decoder]:
        return build_pythae_resnet(context.image_shape, context.latent_dim, context.output_channels,
                                   options.encoder_scale)


def build_pythae_resnet(image_shape: tuple[int, int, int], latent_dim: int, output_channels: int | None = None,
                        encoder_scale: str = "softplus") -> tuple[Encoder, Decoder]:
    """Encoder: Conv(64, k4, s2, p1), Conv(128, k4, s2, p1), Conv(128, k3, s2, p1) (28 -> 14 -> 7 -> 4), two residual
    blocks, flattened (2048) into the Gaussian head. Decoder: Linear(L, 2048), ConvT(128, k3, s2, p1) (4 -> 7), two
    residual blocks and a ReLU, ConvT(64, k3, s2, p1, output padding 1)–ReLU (7 -> 14), ConvT(C, k3, s2, p1, output
    padding 1) (14 -> 28); the table's sigmoid is the likelihood's."""
    _only_28_pixels("pythae_resnet", image_shape)
    c = image_shape[0]
    out_channels = output_channels or c
    trunk = nn.Sequential(nn.Conv2d(c, 64, 4, 2, 1), nn.Conv2d(64, 128, 4, 2, 1), nn.Conv2d(128, 128, 3, 2, 1),
                          PythaeResBlock(), PythaeResBlock(), nn.Flatten())
    body = nn.Sequential(
        nn.Linear(latent_dim, 128 * 16), nn.Unflatten(1, (128, 4, 4)), nn.ConvTranspose2d(128, 128, 3, 2, 1),
        PythaeResBlock(), PythaeResBlock(), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 3, 2, 1, 1), nn.ReLU(), nn.ConvTranspose2d(64, out_channels, 3, 2, 1, 1),
    )
    return Encoder(trunk, 2048, latent_dim, encoder_scale), Decoder(body, (out_channels, 28, 28))


def build_nets(component, image_shape: tuple[int, int, int], latent_dim: int,
               output_channels: int | None = None, config=None) -> tuple[Encoder, Decoder]:
    """Encoder and decoder of the config's `nets` component for images of `image_shape`; the decoder emits
    `output_channels` maps (default C)."""
    context = BuildContext(config, tuple(image_shape), latent_dim, output_channels)
    return NETS.build(component.kind, component.options, context)
