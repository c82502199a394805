"""Bi-manifold loss of DBM-CNN (Li & Deng, IJCV 2019, §4, Eq. 3–7)."""

from torch import nn

from fercore.losses.locality import as_float, check_reduction, nearest_neighbour_means

VARIANTS = ("both", "feature", "label")


class BiManifoldLoss(nn.Module):
    """Pull each deep feature towards its k nearest neighbours on two manifolds (RAF-ML Eq. 6–7).

    For sample i, m_i^f is the mean deep feature of its k nearest neighbours in feature space
    (N_k^f) and m_i^l the mean deep feature of its k nearest neighbours in label-distribution
    space (N_k^l), both within the mini-batch, excluding i. With the means held fixed, the loss

        L_bm = 1/(2n) Σ_i ( ‖x_i − m_i^f‖² + ‖x_i − m_i^l‖² )

    has exactly the paper's gradient, Eq. 7: (1/n)(2x_i − m_i^f − m_i^l). (Eq. 6 as printed,
    1/(2n) Σ ‖2x_i − m_i^f − m_i^l‖², differentiates to twice Eq. 7; ours equals half of it plus
    1/(4n) Σ ‖m_i^f − m_i^l‖², a term the features' gradient does not see.) It is the mini-batch
    form of the objective Σ (S^f + S^l) ‖x_i − x_j‖², Eq. 3, so the ablations of Table 4 keep one
    term: ``variant="feature"`` (S^f only) or ``"label"`` (S^l only). With fewer than k other
    samples in the batch the mean is over those that exist; ties go to the lower batch index.
    ``reduction="mean"`` (1/n, Eq. 6) or ``"sum"``.
    """

    def __init__(self, k=10, variant="both", reduction="mean"):
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be a positive number of neighbours, got {k}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        check_reduction(reduction)
        self.k = k
        self.variant = variant
        self.reduction = reduction

    def forward(self, features, label_vectors):
        if features.ndim != 2 or label_vectors.ndim != 2 or len(features) != len(label_vectors):
            raise ValueError(f"expected features (n, d) and label vectors (n, C), got "
                             f"{tuple(features.shape)} and {tuple(label_vectors.shape)}")
        x = as_float(features)
        per_sample = x.new_zeros(len(x))
        if self.variant in ("both", "feature"):
            means, counts = nearest_neighbour_means(x, x, self.k)
            per_sample = per_sample + ((x - means) ** 2).sum(dim=1) * (counts > 0)
        if self.variant in ("both", "label"):
            means, counts = nearest_neighbour_means(label_vectors, x, self.k)
            per_sample = per_sample + ((x - means) ** 2).sum(dim=1) * (counts > 0)
        per_sample = 0.5 * per_sample
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()
