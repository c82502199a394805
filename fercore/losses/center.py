"""Center loss (Wen, Zhang, Li & Qiao, ECCV 2016), the comparison of RAF-DB Table 4."""

import torch
from torch import nn

from fercore.losses.locality import as_float, check_reduction


class CenterLoss(nn.Module):
    """L_C = ½ Σ_i ‖x_i − c_{y_i}‖² (Wen et al. Eq. 2), gradient x_i − c_{y_i} (Eq. 3).

    The class centres are a buffer, not parameters: in training mode each call first computes
    the loss with the current centres, then moves them by Wen et al.'s Eq. 4,
    Δc_j = Σ_{i: y_i = j} (c_j − x_i) / (1 + n_j), c_j ← c_j − α Δc_j.
    ``reduction="sum"`` is Eq. 2 as printed; ``"mean"`` divides by the batch size.
    """

    def __init__(self, num_classes, feature_dim, alpha=0.5, reduction="mean"):
        super().__init__()
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha (the centre learning rate) must be in (0, 1], got {alpha}")
        check_reduction(reduction)
        self.alpha = alpha
        self.reduction = reduction
        self.register_buffer("centers", torch.zeros(num_classes, feature_dim))

    def forward(self, features, labels):
        if features.ndim != 2 or features.shape[1] != self.centers.shape[1]:
            raise ValueError(f"expected features (n, {self.centers.shape[1]}), "
                             f"got {tuple(features.shape)}")
        if labels.shape != features.shape[:1]:
            raise ValueError(f"expected labels ({len(features)},), got {tuple(labels.shape)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.centers)):
            raise ValueError(f"labels must lie in [0, {len(self.centers)}), "
                             f"got {labels.min().item()}..{labels.max().item()}")
        x = as_float(features)
        per_sample = 0.5 * ((x - self.centers[labels].to(x.dtype)) ** 2).sum(dim=1)
        if self.training:
            self.update_centers(x.detach().to(self.centers.dtype), labels)
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()

    @torch.no_grad()
    def update_centers(self, features, labels):
        """One step of Wen et al.'s Eq. 4."""
        counts = torch.bincount(labels, minlength=len(self.centers)).to(features.dtype)
        sums = torch.zeros_like(self.centers).index_add_(0, labels, features)
        delta = (counts.unsqueeze(1) * self.centers - sums) / (1 + counts).unsqueeze(1)
        self.centers -= self.alpha * delta
