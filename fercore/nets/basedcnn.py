"""baseDCNN: the fundamental network of RAF-DB (Li, Deng & Du, CVPR 2017, Table 2; RAF-ML §6.2).

conv64 / pool / conv96 / pool / conv128, conv128 / pool / conv256, conv256 (3×3, pad 1, ReLU),
FC 2000 + ReLU (the 2,000-d deep feature), dropout 0.3, FC to the classes. Weights are
MSRA-initialised (He et al., fan-in), biases zero. Pooling rounds up, as Caffe's does, so a
90×90 input reaches the first FC layer as 256×12×12.
"""

import math

from torch import nn

from fercore.nets._common import check_at_least, check_positive, check_rate, scaled_channels

CONV_CHANNELS = (64, 96, 128, 128, 256, 256)
POOL_AFTER = (0, 1, 3)  # indices of the convolutions followed by 2×2 max pooling


class BaseDCNN(nn.Module):
    """The RAF-DB baseDCNN for grayscale faces.

    Parameters
    ----------
    num_classes : outputs of the last FC layer (7 basic, 6 for RAF-ML).
    width : multiplier of every convolution's channel count (1.0 = the paper's network).
    input_size : side of the square input crop (90 in the paper).
    feature_dim : size of the deep feature layer (2,000 in the paper).
    dropout : dropout rate before the last FC layer (0.3 in the paper).
    in_channels : 1 for grayscale (3 to feed colour crops).

    ``forward(x)`` returns the logits; ``features(x)`` the deep feature; ``forward_features(x)``
    both, ``(logits, features)``, which is what the locality losses need.
    """

    def __init__(self, num_classes=7, width=1.0, input_size=90, feature_dim=2000, dropout=0.3,
                 in_channels=1):
        super().__init__()
        check_at_least("num_classes", num_classes, 1)
        check_positive("width", width)
        check_at_least("input_size", input_size, 8, " pixels")
        check_rate("dropout", dropout)
        self.num_classes = num_classes
        self.width = width
        self.input_size = input_size
        self.feature_dim = feature_dim
        self.in_channels = in_channels

        layers, channels, side = [], in_channels, input_size
        for i, out in enumerate(CONV_CHANNELS):
            out = scaled_channels(out, width)
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                side = math.ceil(side / 2)
            channels = out
        self.conv = nn.Sequential(*layers)
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, feature_dim),
                                       nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.reset_parameters()

    def reset_parameters(self):
        """MSRA (He, fan-in) weights and zero biases, as in RAF-ML §6.2."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def features(self, x):
        """The deep feature (after the ReLU of the first FC layer), shape (n, feature_dim)."""
        return self.embedding(self.conv(x))

    def forward_features(self, x):
        """``(logits, features)`` in one pass."""
        f = self.features(x)
        return self.classifier(self.dropout(f)), f

    def forward(self, x):
        return self.forward_features(x)[0]

    def parameter_groups(self, weight_decay=5e-4, classifier_weight_decay=2.5e-3):
        """SGD parameter groups: ``weight_decay`` on the convolutions and the first FC layer,
        ``classifier_weight_decay`` on the last FC layer (RAF-ML §6.2: 0.0005 and 0.0025)."""
        head = list(self.classifier.parameters())
        head_ids = {id(p) for p in head}
        body = [p for p in self.parameters() if id(p) not in head_ids]
        return [{"params": body, "weight_decay": weight_decay},
                {"params": head, "weight_decay": classifier_weight_decay}]
