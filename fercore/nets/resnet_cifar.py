"""CIFAR-style residual networks (He et al., "Deep residual learning", 2015, §4.2) for grayscale faces.

A 3×3 convolution with 16 filters, then three stages of ``n`` basic blocks (two 3×3 convolutions
with batch norm) on 16, 32 and 64 channels, the second and third stages starting with stride 2,
global average pooling and one linear layer: depth ``6n + 2`` (ResNet-32: n = 5, ResNet-110:
n = 18). Where the channel count doubles, the shortcut subsamples and pads the new channels with
zeros (the paper's option A, no extra parameters). Pons & Masip (2018) use these nets, pre-trained
on FER2013, for single-task, classical multi-task and SJMT training. Any input side ≥ 8 works.
"""

import torch
from torch import nn
from torch.nn import functional as F

from fercore.nets._common import check_at_least, check_images, check_positive, scaled_channels

STAGE_CHANNELS = (16, 32, 64)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the (option A) shortcut, then ReLU."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.pad_channels = out_channels - in_channels

    def shortcut(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad_channels:
            half = self.pad_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.pad_channels - half))
        return x

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """ResNet of depth ``6n + 2`` for ``in_channels``-channel images.

    Parameters
    ----------
    depth : 20, 32, 44, 56, 110, … (must be 6n + 2).
    num_classes : outputs of the last layer (0 = no classifier; ``forward`` then returns features).
    in_channels : 1 for grayscale.
    width : multiplier of the 16/32/64 channels (1 = He et al.'s network).

    ``features(x)`` returns the pooled ``feature_dim``-d representation (64 at width 1),
    ``forward_features(x)`` returns ``(logits, features)`` and ``forward(x)`` the logits.
    """

    def __init__(self, depth=32, num_classes=7, in_channels=1, width=1.0):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 56, 110, ...), got {depth}")
        check_at_least("num_classes", num_classes, 0)
        check_positive("width", width)
        check_at_least("in_channels", in_channels, 1)
        self.depth = depth
        self.blocks_per_stage = (depth - 2) // 6
        self.num_classes = num_classes
        self.in_channels = in_channels
        channels = [scaled_channels(c, width) for c in STAGE_CHANNELS]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
        stages, previous = [], channels[0]
        for stage, out in enumerate(channels):
            blocks = []
            for b in range(self.blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(previous, out, stride))
                previous = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.feature_dim = channels[-1]
        self.classifier = nn.Linear(self.feature_dim, num_classes) if num_classes else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self):
        """He (fan-out) initialisation of convolutions, BN to identity, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def features(self, x):
        """Globally average-pooled output of the last stage, shape (n, feature_dim)."""
        check_images(x, self.in_channels)
        return torch.flatten(F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1), 1)

    def forward_features(self, x):
        """``(logits, features)`` in one pass."""
        f = self.features(x)
        return self.classifier(f), f

    def forward(self, x):
        return self.forward_features(x)[0]


def resnet32(num_classes=7, in_channels=1, width=1.0):
    """ResNet-32 (n = 5), 0.46 M parameters at width 1."""
    return ResNetCIFAR(32, num_classes, in_channels, width)


def resnet110(num_classes=7, in_channels=1, width=1.0):
    """ResNet-110 (n = 18), 1.7 M parameters at width 1."""
    return ResNetCIFAR(110, num_classes, in_channels, width)
