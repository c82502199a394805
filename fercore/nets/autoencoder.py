"""The asymmetric autoencoder and the WGAN critic of Fu et al. (semantic neighbourhood, Table I).

Encoder: dropout 0.1 on the input, then four stride-2 3×3 convolutions (16, 32, 64, 80 channels),
each with batch norm; LeakyReLU (0.01) and dropout 0.1 after the first three, tanh after the
last; a fully connected layer to the 64-d semantic code. Decoder: a fully connected layer back
to 80×7×7, then transposed 3×3 convolutions that double the side (64, 32, 16, 16 channels), each
with batch norm and ReLU and followed by two residual blocks (He et al.), and an output transposed convolution to
one channel followed by one residual block — nine residual blocks in all — and a sigmoid, so
images live in [0, 1]. Table I prints stride 2 for the output layer, whose output keeps the
112×112 size; it is a stride-1 layer here. The critic's architecture is not given in the paper.

The decoder also returns its intermediate maps at the encoder's scales, which the multi-scale
reconstruction loss (Eq. 4) compares with the encoder's features.
"""

import torch
from torch import nn
from torch.nn import functional as F

from fercore.nets._common import check_at_least, check_images, check_positive, check_rate, scaled_channels

ENCODER_CHANNELS = (16, 32, 64, 80)
DECODER_CHANNELS = (64, 32, 16, 16)  # D-TConv-c, -b, -a, -t
CODE_DIM = 64
DROPOUT = 0.1
LEAKY_SLOPE = 0.01


def conv_output_side(side: int) -> int:
    """Side of a 3×3, stride-2, padding-1 convolution's output."""
    return (side - 1) // 2 + 1


def scaled(channels, width):
    return tuple(scaled_channels(c, width) for c in channels)


class ResidualBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN plus the identity (He et al. 2016's basic block).

    ``final_relu=False`` leaves the sum unrectified (the autoencoder's output block).
    """

    def __init__(self, channels, final_relu=True):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        self.final_relu = final_relu

    def forward(self, x):
        y = x + self.body(x)
        return F.relu(y) if self.final_relu else y


class Encoder(nn.Module):
    """H_e of Table I: image (n, 1, S, S) in [0, 1] → code (n, code_dim) and per-scale features.

    Dropout (on the input and after each LeakyReLU) is the denoising corruption of Eq. 2; it is
    active only in training mode and when ``corrupt`` is true.
    """

    def __init__(self, input_size=112, width=1.0, code_dim=CODE_DIM, dropout=DROPOUT):
        super().__init__()
        self.channels = scaled(ENCODER_CHANNELS, width)
        self.dropout = dropout
        layers, c_in, side = [], 1, input_size
        for i, c_out in enumerate(self.channels):
            last = i == len(self.channels) - 1
            layers.append(nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                nn.Tanh() if last else nn.LeakyReLU(LEAKY_SLOPE)))
            c_in, side = c_out, conv_output_side(side)
        self.convs = nn.ModuleList(layers)
        self.bottleneck_shape = (c_in, side, side)
        self.fc = nn.Linear(c_in * side * side, code_dim)

    def forward(self, x, corrupt=True):
        """``(code, features)``; ``features`` are the input and each convolution's output."""
        drop = self.training and corrupt and self.dropout > 0
        features = [x]
        h = F.dropout(x, self.dropout, training=drop)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            features.append(h)
            if i < len(self.convs) - 1:
                h = F.dropout(h, self.dropout, training=drop)
        return self.fc(h.flatten(1)), features


class Decoder(nn.Module):
    """H_d of Table I: code → image (n, 1, S, S) in [0, 1], with the maps at the encoder's scales.

    ``sides`` are the encoder's feature sides from the input down (e.g. 112, 56, 28, 14, 7);
    each transposed convolution's output padding is chosen so the decoder retraces them.
    """

    def __init__(self, sides, bottleneck_channels, width=1.0, code_dim=CODE_DIM):
        super().__init__()
        self.bottleneck_shape = (bottleneck_channels, sides[-1], sides[-1])
        self.fc = nn.Linear(code_dim, bottleneck_channels * sides[-1] ** 2)
        channels = scaled(DECODER_CHANNELS, width)
        stages, c_in = [], bottleneck_channels
        for c_out, (small, big) in zip(channels, zip(sides[:0:-1], sides[-2::-1])):
            stages.append(nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1,
                                   output_padding=big - (2 * small - 1), bias=False),
                nn.BatchNorm2d(c_out), nn.ReLU(), ResidualBlock(c_out), ResidualBlock(c_out)))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.output = nn.Sequential(nn.ConvTranspose2d(c_in, 1, 3, stride=1, padding=1),
                                    ResidualBlock(1, final_relu=False))

    def forward(self, code):
        """``(image, maps)``: ``maps`` lists the reconstructions of the encoder's features in the
        encoder's order (input first), for Eq. 4. The 16-channel map at the input's side has no
        encoder counterpart and is not returned."""
        h = self.fc(code).view(-1, *self.bottleneck_shape)
        maps = [h]
        for stage in self.stages[:-1]:
            h = stage(h)
            maps.append(h)
        h = self.stages[-1](h)
        image = torch.sigmoid(self.output(h))
        maps.append(image)
        return image, maps[::-1]


class AsymmetricAutoencoder(nn.Module):
    """Fu et al.'s asymmetric denoising autoencoder (Table I) for grayscale faces.

    Parameters
    ----------
    input_size : side of the square input (112 in the paper; any side ≥ 16 works).
    width : multiplier of every channel count (1.0 = Table I).
    code_dim : size of the semantic code (64).
    dropout : corruption rate of the encoder (0.1).

    ``forward(x)`` returns the reconstruction; ``encode``/``decode`` the two halves;
    ``reconstruct(x)`` returns ``(image, decoder_maps, encoder_features)`` for the losses;
    ``neighbour(x, noise_std, generator)`` is Eq. 9, H_d(H_e(x) + N).
    """

    def __init__(self, input_size=112, width=1.0, code_dim=CODE_DIM, dropout=DROPOUT):
        super().__init__()
        check_at_least("input_size", input_size, 16, " pixels")
        check_positive("width", width)
        check_rate("dropout", dropout)
        self.input_size = input_size
        self.code_dim = code_dim
        self.encoder = Encoder(input_size, width, code_dim, dropout)
        sides = [input_size]
        for _ in ENCODER_CHANNELS:
            sides.append(conv_output_side(sides[-1]))
        self.decoder = Decoder(sides, self.encoder.bottleneck_shape[0], width, code_dim)

    def check_input(self, x):
        check_images(x, 1, self.input_size)

    def encode(self, x, corrupt=False):
        """The semantic code z = H_e(x) (no corruption unless asked)."""
        self.check_input(x)
        return self.encoder(x, corrupt=corrupt)[0]

    def decode(self, code):
        """The image H_d(z)."""
        return self.decoder(code)[0]

    def reconstruct(self, x):
        """``(image, decoder_maps, encoder_features)`` of one corrupted pass; the targets are the
        features of a clean pass (no dropout) and carry no gradient."""
        self.check_input(x)
        code, _ = self.encoder(x, corrupt=True)
        with torch.no_grad():
            _, targets = self.encoder(x, corrupt=False)
        image, maps = self.decoder(code)
        return image, maps, [t.detach() for t in targets]

    def forward(self, x):
        return self.decode(self.encode(x, corrupt=True))

    def neighbour(self, x, noise_std, generator=None):
        """A semantic neighbour H_d(H_e(x) + N), N ~ N(0, noise_std² I) — Fu et al. Eq. 9."""
        code = self.encode(x)
        noise = torch.randn(code.shape, generator=generator, device=code.device, dtype=code.dtype)
        return self.decode(code + noise_std * noise)


class Critic(nn.Module):
    """The WGAN critic D (Arjovsky et al. 2017) that Fu et al. train against the decoder.

    The paper gives no architecture: four stride-2 3×3 convolutions with the encoder's channel
    counts and LeakyReLU 0.2, no batch norm, then a linear score. The Lipschitz constraint is the
    original WGAN's weight clipping (``clip_weights``, c = 0.01).
    """

    def __init__(self, input_size=112, width=1.0, clip=0.01):
        super().__init__()
        check_positive("clip", clip)
        self.clip = clip
        layers, c_in, side = [], 1, input_size
        for c_out in scaled(ENCODER_CHANNELS, width):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in, side = c_out, conv_output_side(side)
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.score = nn.Linear(c_in * side * side, 1)

    def forward(self, x):
        """One score per image, shape (n,)."""
        return self.score(self.features(x)).squeeze(1)

    @torch.no_grad()
    def clip_weights(self):
        """Clamp every parameter to [−clip, clip] (WGAN Algorithm 1, line 7)."""
        for p in self.parameters():
            p.clamp_(-self.clip, self.clip)
