"""Multi-label soft cross-entropy of DBM-CNN (Li & Deng, IJCV 2019, §4, Eq. 1–2)."""

from torch import nn
from torch.nn import functional as F

from fercore.losses.locality import as_float


class SoftCrossEntropy(nn.Module):
    """L_c = −(1/n) Σ_i Σ_j y_i^j log p_i^j with p = softmax(logits) — RAF-ML Eq. 1.

    ``targets`` are non-negative label vectors (binary label sets or label distributions);
    each row is normalized to sum to one, so the gradient with respect to the logits is
    (1/n)(p_i^j − y_i^j), Eq. 2.
    """

    def forward(self, logits, targets):
        if logits.ndim != 2 or targets.shape != logits.shape:
            raise ValueError(f"expected logits and targets of the same shape (n, C), got "
                             f"{tuple(logits.shape)} and {tuple(targets.shape)}")
        y = as_float(targets)
        totals = y.sum(dim=1, keepdim=True)
        if (y < 0).any() or (totals <= 0).any():
            raise ValueError("targets must be non-negative with at least one positive entry per row")
        y = y / totals
        return -(y * F.log_softmax(as_float(logits), dim=1)).sum(dim=1).mean()
