"""VGG-16 (Simonyan & Zisserman 2014, configuration D) trained from scratch on grayscale faces.

Pons & Masip (2018, Table 1) fine-tune ImageNet VGG-16 as a single-task baseline (dropout 0.5).
ImageNet weights cannot be fetched here, so this net starts from random weights; batch norm after
each convolution (on by default) is what lets it train from scratch. Thirteen 3×3 convolutions in
five blocks (64, 128, 256, 512, 512 channels, 2×2 max pooling after each), adaptive average
pooling to ``pool_size``, then two FC layers with dropout and the classifier.
"""

from torch import nn

from fercore.nets._common import check_at_least, check_images, check_positive, check_rate, scaled_channels

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG16(nn.Module):
    """VGG-16 for ``in_channels``-channel images of any side ≥ 32.

    Parameters
    ----------
    num_classes : outputs of the last layer (0 = no classifier; ``forward`` then returns features).
    in_channels : 1 for grayscale.
    width : multiplier of every convolution's channels (1 = the paper's network).
    fc_dim : size of the two hidden FC layers (4,096 in the paper).
    dropout : dropout after each hidden FC layer (0.5 in Pons & Masip).
    batch_norm : batch norm after each convolution.
    pool_size : side of the adaptive pooling before the FC layers (7 in the paper at 224×224).

    ``features(x)`` returns the second hidden FC layer (``fc_dim``-d); ``forward_features``
    ``(logits, features)``; ``forward`` the logits.
    """

    def __init__(self, num_classes=7, in_channels=1, width=1.0, fc_dim=4096, dropout=0.5,
                 batch_norm=True, pool_size=1):
        super().__init__()
        check_at_least("num_classes", num_classes, 0)
        check_positive("width", width)
        check_rate("dropout", dropout)
        check_at_least("fc_dim", fc_dim, 1)
        check_at_least("pool_size", pool_size, 1)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feature_dim = fc_dim
        layers, channels = [], in_channels
        for block in VGG16_BLOCKS:
            for out in block:
                out = scaled_channels(out, width)
                layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
                channels = out
            layers.append(nn.MaxPool2d(2, 2))
        self.conv = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.embedding = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * pool_size * pool_size, fc_dim), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc_dim, num_classes) if num_classes else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self):
        """He (fan-out) convolutions, N(0, 0.01) FC layers, zero biases, BN to identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def features(self, x):
        """The second hidden FC layer (after ReLU), shape (n, fc_dim)."""
        check_images(x, self.in_channels)
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"VGG-16 pools five times: input side must be >= 32, got {tuple(x.shape[-2:])}")
        return self.embedding(self.pool(self.conv(x)))

    def forward_features(self, x):
        """``(logits, features)`` in one pass."""
        f = self.features(x)
        return self.classifier(self.dropout(f)), f

    def forward(self, x):
        return self.forward_features(x)[0]


def vgg16(num_classes=7, in_channels=1, **kwargs):
    """VGG-16 from scratch (see :class:`VGG16` for ``kwargs``)."""
    return VGG16(num_classes, in_channels, **kwargs)
