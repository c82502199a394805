"""Entropy loss on target predictions of DBM-DACNN (Li & Deng, IJCV 2019, §5, Eq. 16–17)."""

import torch
from torch import nn
from torch.nn import functional as F

from fercore.losses.locality import as_float, check_reduction


class EntropyLoss(nn.Module):
    """L_e = −(1/n_t) Σ_i Σ_j p_i^j log p_i^j with p = softmax(logits) — RAF-ML Eq. 16.

    Applied to the unlabeled target batch in the multi-label → single-label setting (M2S), it
    pushes each target prediction towards one class: it is largest for a uniform prediction
    (log C) and zero only for a one-hot one. Its gradient with respect to the logits is

        ∂L_e/∂f_j(x_i) = (1/n_t) p_i^j (Σ_m p_i^m log p_i^m − log p_i^j),

    which is Eq. 17 with the sign corrected: the second line of Eq. 17 is right, its last line
    as printed carries an extra minus sign (which would flatten predictions instead of
    sharpening them). ``reduction="mean"`` (1/n_t, Eq. 16) or ``"sum"``.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def forward(self, logits):
        if logits.ndim != 2 or logits.shape[1] < 2:
            raise ValueError(f"expected logits of shape (n, C) with C ≥ 2, got {tuple(logits.shape)}")
        log_p = F.log_softmax(as_float(logits), dim=1)
        finite_log_p = log_p.clamp(min=torch.finfo(log_p.dtype).min)  # 0 · log 0 = 0
        per_sample = -(log_p.exp() * finite_log_p).sum(dim=1)
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()
