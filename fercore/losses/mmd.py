"""Multi-kernel maximum mean discrepancy of DBM-DACNN (Li & Deng, IJCV 2019, §5, Eq. 9–15).

The kernel is a convex combination of Gaussian kernels, Eq. 11,

    k(x, y) = Σ_l β_l exp(−‖x − y‖² / (2 σ_l²)),   σ_l² = m_l · σ₀²,

whose bandwidths are multipliers m_l of a base bandwidth σ₀² taken from the batch: the mean
squared distance between distinct points of the joint source + target sample (the DAN design of
Long et al. 2015, multipliers 2^-3 … 2^1). The base bandwidth carries no gradient (Eq. 15 treats
σ_l as constants) and makes the discrepancy invariant to the scale of the features.
"""

import torch
from torch import nn

from fercore.losses.locality import as_float

DEFAULT_MULTIPLIERS = (0.125, 0.25, 0.5, 1.0, 2.0)
ESTIMATORS = ("quadratic", "linear")


def squared_distances(a, b):
    """‖a_i − b_j‖² for every pair of rows, shape (len(a), len(b)), clamped at zero."""
    sq = (a * a).sum(dim=1, keepdim=True) + (b * b).sum(dim=1) - 2.0 * a @ b.T
    return sq.clamp(min=0.0)


def base_bandwidth(source, target):
    """σ₀²: the mean of ‖z_i − z_j‖² over distinct pairs of the joint sample z = source ∪ target.

    Computed in linear time from Σ_{i,j} ‖z_i − z_j‖² = 2N Σ_i ‖z_i‖² − 2‖Σ_i z_i‖²; detached.
    """
    with torch.no_grad():
        z = torch.cat([as_float(source.detach()), as_float(target.detach())]).double()
        n = len(z)
        total = 2.0 * n * (z * z).sum() - 2.0 * (z.sum(dim=0) ** 2).sum()
        return (total / (n * (n - 1))).clamp(min=torch.finfo(torch.float32).tiny).to(as_float(source).dtype)


def multi_kernel(sq_dist, bandwidths, weights):
    """Σ_l β_l exp(−d / (2 σ_l²)) applied to squared distances ``sq_dist`` — Eq. 11."""
    return sum(w * torch.exp(-sq_dist / (2.0 * s)) for w, s in zip(weights, bandwidths))


def uniform_weights(multipliers):
    """β_l = 1/m for m kernels (Eq. 11 with equal weights)."""
    return (1.0 / max(len(multipliers), 1),) * len(multipliers)


def _check(source, target, estimator, multipliers, weights):
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"expected source (n_s, d) and target (n_t, d) features, got "
                         f"{tuple(source.shape)} and {tuple(target.shape)}")
    if len(source) < 2 or len(target) < 2:
        raise ValueError(f"MMD needs at least 2 samples per domain, got n_s={len(source)}, n_t={len(target)}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if len(multipliers) == 0 or any(m <= 0 for m in multipliers):
        raise ValueError(f"multipliers must be positive numbers, got {tuple(multipliers)}")
    if len(weights) != len(multipliers) or any(w < 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
        raise ValueError(f"weights must be {len(multipliers)} non-negative numbers summing to 1 (Eq. 11), "
                         f"got {tuple(weights)}")


def mk_mmd(source, target, multipliers=DEFAULT_MULTIPLIERS, weights=None, estimator="quadratic",
           bandwidth=None):
    """Squared multi-kernel MMD between two samples of features (RAF-ML Eq. 11–12).

    ``estimator="quadratic"`` is the unbiased estimator of Eq. 12 (any n_s, n_t ≥ 2):

        1/(n_s(n_s−1)) Σ_{i≠j} k(s_i, s_j) + 1/(n_t(n_t−1)) Σ_{i≠j} k(t_i, t_j) − 2/(n_s n_t) Σ_{i,j} k(s_i, t_j).

    ``"linear"`` is Gretton et al.'s (2012) linear-time unbiased estimator: with m = ⌊min(n_s, n_t)/2⌋
    quadruples (s_{2i}, s_{2i+1}, t_{2i}, t_{2i+1}), the mean over i of
    k(s_{2i}, s_{2i+1}) + k(t_{2i}, t_{2i+1}) − k(s_{2i}, t_{2i+1}) − k(s_{2i+1}, t_{2i}).

    ``weights`` are the β_l (default uniform); ``bandwidth`` fixes σ₀² instead of taking it from
    the batch. Both estimators are unbiased, so they can be slightly negative when the two
    distributions are equal.

    The gradient is Eq. 13–15 of the paper with one correction: a within-domain pair (i, j)
    appears twice in Σ_{i≠j}, so ∂/∂s_i of the first term is 2/(n_s(n_s−1)) Σ_j ∂k(s_i, s_j)/∂s_i
    (Eq. 13 as printed has 1/(n_s(n_s−1))); likewise for the target in Eq. 14.
    """
    weights = uniform_weights(multipliers) if weights is None else tuple(weights)
    _check(source, target, estimator, multipliers, weights)
    dtype = torch.promote_types(as_float(source).dtype, as_float(target).dtype)
    s, t = source.to(dtype), target.to(dtype)
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    base = base_bandwidth(s, t) if bandwidth is None else torch.tensor(float(bandwidth), dtype=dtype, device=s.device)
    with torch.autocast(s.device.type, enabled=False):  # kernels of distances need full precision
        return _estimate(s, t, [m * base for m in multipliers], weights, estimator)


def _estimate(s, t, bandwidths, weights, estimator):
    if estimator == "linear":
        m = min(len(s), len(t)) // 2
        s0, s1, t0, t1 = s[0:2 * m:2], s[1:2 * m:2], t[0:2 * m:2], t[1:2 * m:2]

        def k(a, b):
            return multi_kernel(((a - b) ** 2).sum(dim=1), bandwidths, weights)

        return (k(s0, s1) + k(t0, t1) - k(s0, t1) - k(s1, t0)).mean()
    ns, nt = len(s), len(t)
    kss = multi_kernel(squared_distances(s, s), bandwidths, weights)
    ktt = multi_kernel(squared_distances(t, t), bandwidths, weights)
    kst = multi_kernel(squared_distances(s, t), bandwidths, weights)
    within_s = (kss.sum() - kss.diagonal().sum()) / (ns * (ns - 1))
    within_t = (ktt.sum() - ktt.diagonal().sum()) / (nt * (nt - 1))
    return within_s + within_t - 2.0 * kst.mean()


class MKMMDLoss(nn.Module):
    """L_mmd: the squared multi-kernel MMD between source and target features (RAF-ML Eq. 12).

    ``MKMMDLoss()(source_features, target_features)``; see :func:`mk_mmd` for the parameters.
    DBM-DACNN applies it to the 2,000-d embedding layer with weight γ.
    """

    def __init__(self, multipliers=DEFAULT_MULTIPLIERS, weights=None, estimator="quadratic", bandwidth=None):
        super().__init__()
        self.multipliers = tuple(float(m) for m in multipliers)
        self.weights = None if weights is None else tuple(float(w) for w in weights)
        self.estimator = estimator
        self.bandwidth = bandwidth
        _check(torch.zeros(2, 1), torch.zeros(2, 1), estimator, self.multipliers,
               uniform_weights(self.multipliers) if self.weights is None else self.weights)

    def forward(self, source, target):
        return mk_mmd(source, target, self.multipliers, self.weights, self.estimator, self.bandwidth)

    def extra_repr(self):
        return f"multipliers={self.multipliers}, estimator={self.estimator!r}"
