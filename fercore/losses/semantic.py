"""Losses of semantic neighbourhood-aware FER (Fu et al., "Semantic Neighborhood-Aware Deep
Facial Expression Recognition"): the autoencoder's reconstruction, perceptual and adversarial
losses (Eq. 4–8), the symmetric KL divergence and the neighbour mask (Eq. 11–14), and the
classification losses of their ablation (focal loss, class-weighted loss).
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fercore.losses.locality import as_float

REDUCTIONS = ("mean", "sum", "none")


def reduce(per_sample, reduction):
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


class MultiScaleReconstructionLoss(nn.Module):
    """Loss_AE = Σ_l α_l / |z^l| · ‖z^l − ẑ^l‖² — Fu et al. Eq. 4, averaged over the batch.

    ``targets`` are the encoder's features z^l from the input (l = 0) down, ``reconstructions``
    the decoder's ẑ^l at the same scales; |z^l| is the number of values per sample at scale l,
    so each term is a mean squared error. ``weights`` α_l: 4 for the input, 1 for the hidden
    scales (the paper's five scales).
    """

    def __init__(self, weights=(4.0, 1.0, 1.0, 1.0, 1.0)):
        super().__init__()
        if not weights or any(w < 0 for w in weights):
            raise ValueError(f"weights must be non-negative numbers, got {weights}")
        self.weights = tuple(float(w) for w in weights)

    def forward(self, reconstructions, targets):
        if not len(reconstructions) == len(targets) == len(self.weights):
            raise ValueError(f"expected {len(self.weights)} scales, got {len(reconstructions)} "
                             f"reconstructions and {len(targets)} targets")
        total = 0.0
        for level, (alpha, z_hat, z) in enumerate(zip(self.weights, reconstructions, targets)):
            if z_hat.shape != z.shape:
                raise ValueError(f"scale {level}: reconstruction {tuple(z_hat.shape)} and target "
                                 f"{tuple(z.shape)} differ")
            total = total + alpha * F.mse_loss(as_float(z_hat), as_float(z))
        return total


class PerceptualReconstructionLoss(nn.Module):
    """Loss_Rec = λ_pixel ‖Ĩ − I‖² + λ_perc Σ_k w_k ‖C_k(Ĩ) − C_k(I)‖² — Fu et al. Eq. 5.

    Ĩ = H_d(H_e(I)); C_k are the maps of a trained FER network (``net.conv_features(x)``,
    conv3–conv5 of :class:`~fercore.nets.twobranch.TwoBranchNet`) weighted by ``layer_weights``
    (100, 0.1, 0.001). Every squared norm is a mean over the values (as in Eq. 4). The network is
    frozen: its parameters get no gradient and it stays in evaluation mode.
    """

    def __init__(self, net, layer_weights=(100.0, 0.1, 0.001), pixel_weight=1.0,
                 perceptual_weight=1.0):
        super().__init__()
        if not hasattr(net, "conv_features"):
            raise ValueError("net must have a conv_features(x) method returning a list of maps")
        self.net = net.eval().requires_grad_(False)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.pixel_weight = float(pixel_weight)
        self.perceptual_weight = float(perceptual_weight)

    def train(self, mode=True):
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, reconstruction, target):
        pixel = F.mse_loss(as_float(reconstruction), as_float(target))
        fake_maps = self.net.conv_features(reconstruction)
        with torch.no_grad():
            real_maps = self.net.conv_features(target)
        if len(fake_maps) != len(self.layer_weights):
            raise ValueError(f"net gives {len(fake_maps)} feature maps for "
                             f"{len(self.layer_weights)} layer weights")
        perceptual = sum(w * F.mse_loss(as_float(f), as_float(r))
                         for w, f, r in zip(self.layer_weights, fake_maps, real_maps))
        return self.pixel_weight * pixel + self.perceptual_weight * perceptual


class WassersteinCriticLoss(nn.Module):
    """Loss_Adv^D = D(H_d(H_e(I^u))) − D(I^v) — Fu et al. Eq. 6 (WGAN), batch means of the
    critic's scores on reconstructed and on real faces."""

    def forward(self, fake_scores, real_scores):
        return as_float(fake_scores).mean() - as_float(real_scores).mean()


class WassersteinGeneratorLoss(nn.Module):
    """Loss_Adv^G = −D(H_d(H_e(I^u))) — Fu et al. Eq. 7, the batch mean."""

    def forward(self, fake_scores):
        return -as_float(fake_scores).mean()


def symmetric_kl(logits_p, logits_q):
    """Div(P, Q) = ½ (KL(P‖Q) + KL(Q‖P)) per row — Fu et al. Eq. 12–13.

    Takes logits (n, K); P and Q are their softmaxes. Equals ½ Σ_i (P_i − Q_i)(log P_i − log Q_i),
    computed from log-softmaxes so it stays finite for saturated predictions. Returns (n,).
    """
    if logits_p.shape != logits_q.shape or logits_p.ndim != 2:
        raise ValueError(f"expected two (n, K) logit tensors of one shape, got "
                         f"{tuple(logits_p.shape)} and {tuple(logits_q.shape)}")
    log_p = F.log_softmax(as_float(logits_p), dim=1)
    log_q = F.log_softmax(as_float(logits_q), dim=1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1)


def neighbour_mask(divergence, threshold="batch"):
    """``(mask, T)``: m_i = 1[Div_i < T] — Fu et al. Eq. 11 (δ(T − Div) with δ(x) = 1[x > 0]).

    ``threshold`` a number: the fixed T of Eq. 11 ("T"); ``"batch"``: the batch mean of the
    divergences, Eq. 14 ("BT"). ``T`` is returned as a 0-d tensor.
    """
    if divergence.ndim != 1:
        raise ValueError(f"expected divergences (n,), got {tuple(divergence.shape)}")
    divergence = divergence.detach()
    if isinstance(threshold, str):
        if threshold != "batch":
            raise ValueError(f"threshold must be a number or 'batch', got {threshold!r}")
        t = divergence.mean()
    else:
        if not threshold > 0:
            raise ValueError(f"a fixed threshold must be positive, got {threshold}")
        t = torch.tensor(float(threshold), dtype=divergence.dtype, device=divergence.device)
    return divergence < t, t


class NeighbourhoodAwareLoss(nn.Module):
    """Σ_i m_i L_i / n with m_i = 1[Div_i < T] — Fu et al. Eq. 11, Algorithm 1 line 14.

    ``forward(losses, divergence)`` takes the per-sample losses L_i (n,) (cross-entropy in the
    paper; any per-sample loss here) and the divergences Div(P_i, P_i^tr) (n,) and returns
    ``(loss, mask, T)``. Masked samples contribute exactly zero gradient; the sum is divided by
    the batch size n, so an unmasked batch gives the usual mean loss.
    """

    def __init__(self, threshold="batch"):
        super().__init__()
        neighbour_mask(torch.zeros(1), threshold)  # validates the threshold
        self.threshold = threshold

    def forward(self, losses, divergence):
        if losses.shape != divergence.shape:
            raise ValueError(f"losses {tuple(losses.shape)} and divergences "
                             f"{tuple(divergence.shape)} differ in shape")
        mask, t = neighbour_mask(divergence, self.threshold)
        kept = torch.where(mask, losses, torch.zeros_like(losses))
        return kept.sum() / max(len(losses), 1), mask, t


class FocalLoss(nn.Module):
    """FL(p_t) = −w_{y} (1 − p_t)^γ log p_t (Lin et al. 2017), the loss of Fu et al.'s baseline.

    ``weight`` (K,) optional class weights (the "weighted loss" balance strategy); γ = 0 without
    weights is the cross-entropy. ``reduction``: ``"mean"`` (over samples, not over weights),
    ``"sum"`` or ``"none"`` (per-sample losses, for the neighbour mask).
    """

    def __init__(self, gamma=2.0, weight=None, reduction="mean"):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be non-negative, got {gamma}")
        check_reduction(reduction)
        self.gamma = float(gamma)
        self.reduction = reduction
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits, targets):
        if logits.ndim != 2 or targets.shape != logits.shape[:1]:
            raise ValueError(f"expected logits (n, K) and targets (n,), got {tuple(logits.shape)} "
                             f"and {tuple(targets.shape)}")
        log_pt = F.log_softmax(as_float(logits), dim=1).gather(1, targets.unsqueeze(1)).squeeze(1)
        per_sample = -log_pt
        if self.gamma:
            per_sample = per_sample * (1 - log_pt.exp()).clamp(min=0) ** self.gamma
        if self.weight is not None:
            per_sample = per_sample * self.weight.to(per_sample)[targets]
        return reduce(per_sample, self.reduction)


def class_weights(labels, num_classes):
    """Inverse-frequency class weights n / (K n_k) (scikit-learn's ``"balanced"``), for the
    weighted-loss balance strategy. A class absent from ``labels`` gets weight 0."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-d array, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.divide(len(labels), num_classes * counts, out=np.zeros(num_classes), where=counts > 0)
    return torch.tensor(weights, dtype=torch.float32)
