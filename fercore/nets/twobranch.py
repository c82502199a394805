"""The two-branch multi-scale FER network of Fu et al. (semantic neighbourhood, Table II).

Two five-stage branches see the face at full size (112×112, "Ori") and at half size (56×56, a
2×2 average pooling of the input, "Half"). Stages 1–3 are two convolutions each (5×5 for stage
1, 3×3 after; 64, 128, 256 channels), stage 4 one 3×3 convolution (512), each stage ending in
2×2 max pooling; stage 5 is a 1×1 convolution to 128 channels with dropout 0.5. Every
convolution has batch norm (momentum 0.9 in the paper's Caffe-style convention, i.e. 0.1 in
PyTorch's) and ReLU. The Ori branch ends in a 64-d and the Half branch in a 32-d fully
connected layer; each branch has its own classifier and the two features are fused by a last
fully connected layer. Training uses the sum of the three predictions' losses.
"""

import torch
from torch import nn
from torch.nn import functional as F

from fercore.nets._common import check_at_least, check_images, check_positive, scaled_channels

STAGES = ((64, 5, 2), (128, 3, 2), (256, 3, 2), (512, 3, 1), (128, 1, 1))
"""(channels, kernel, convolutions) of the five stages."""
ORI_FEATURES, HALF_FEATURES = 64, 32
DROPOUT = 0.5
BN_MOMENTUM = 0.1  # PyTorch convention for the paper's moving-average momentum 0.9


class Branch(nn.Module):
    """One five-stage branch; ``forward`` returns the stage outputs (after pooling)."""

    def __init__(self, input_size, width, feature_dim, dropout):
        super().__init__()
        stages, c_in, side = [], 1, input_size
        for index, (channels, kernel, convs) in enumerate(STAGES):
            c_out = scaled_channels(channels, width)
            layers = []
            for _ in range(convs):
                layers += [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                           nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
                c_in = c_out
            if index < 4:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            else:
                layers.append(nn.Dropout(dropout))
            stages.append(nn.Sequential(*layers))
        if side < 1:
            raise ValueError(f"input side {input_size} is too small for four 2×2 poolings")
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, feature_dim),
                                nn.ReLU(inplace=True))

    def forward(self, x):
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return self.fc(x), maps


class TwoBranchNet(nn.Module):
    """Fu et al.'s multi-scale FER network (Table II) for grayscale faces in [0, 1].

    Parameters
    ----------
    num_classes : 7 on AffectNet's basic classes.
    input_size : side of the full-size input (112; the half branch sees ``input_size // 2``).
    width : multiplier of every convolution's channel count (1.0 = Table II).
    dropout : dropout of stage 5 (0.5).

    ``forward(x)`` returns the fused logits; ``forward_all(x)`` the ``(fused, ori, half)`` logits
    the training loss sums over; ``conv_features(x)`` the Ori branch's conv3–conv5 maps, which the
    perceptual loss of the autoencoder reads (Eq. 5).
    """

    def __init__(self, num_classes=7, input_size=112, width=1.0, dropout=DROPOUT):
        super().__init__()
        check_at_least("num_classes", num_classes, 2)
        check_positive("width", width)
        check_at_least("input_size", input_size, 32, " pixels")
        self.num_classes = num_classes
        self.input_size = input_size
        self.width = width
        self.dropout = dropout
        self.ori_branch = Branch(input_size, width, ORI_FEATURES, dropout)
        self.half_branch = Branch(input_size // 2, width, HALF_FEATURES, dropout)
        self.ori_head = nn.Linear(ORI_FEATURES, num_classes)
        self.half_head = nn.Linear(HALF_FEATURES, num_classes)
        self.fuse = nn.Linear(ORI_FEATURES + HALF_FEATURES, num_classes)

    def check_input(self, x):
        check_images(x, 1, self.input_size)

    def forward_all(self, x):
        """``(fused, ori, half)`` logits, each (n, num_classes)."""
        self.check_input(x)
        f_ori, _ = self.ori_branch(x)
        f_half, _ = self.half_branch(F.avg_pool2d(x, 2))
        return self.fuse(torch.cat([f_ori, f_half], dim=1)), self.ori_head(f_ori), self.half_head(f_half)

    def forward(self, x):
        return self.forward_all(x)[0]

    def conv_features(self, x):
        """The Ori branch's conv3, conv4 and conv5 stage outputs (C(·) of Eq. 5)."""
        self.check_input(x)
        return self.ori_branch(x)[1][2:]
