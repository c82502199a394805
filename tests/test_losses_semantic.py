"""Losses of Fu et al.: Eq. 4–8, 11–14, focal and class-weighted losses."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.nn import functional as F

from fercore.losses.semantic import (
    FocalLoss,
    MultiScaleReconstructionLoss,
    NeighbourhoodAwareLoss,
    PerceptualReconstructionLoss,
    WassersteinCriticLoss,
    WassersteinGeneratorLoss,
    class_weights,
    neighbour_mask,
    symmetric_kl,
)


def test_symmetric_kl_hand_case():
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.9, 0.1]])
    kl_pq = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    kl_qp = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    div = symmetric_kl(p.log(), q.log())
    assert div.item() == pytest.approx(0.5 * (kl_pq + kl_qp), rel=1e-6)


def test_symmetric_kl_matches_scipy_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    pa, pb = a.softmax(1).numpy(), b.softmax(1).numpy()
    expected = [0.5 * (entropy(x, y) + entropy(y, x)) for x, y in zip(pa, pb)]
    assert np.allclose(symmetric_kl(a, b).numpy(), expected, rtol=1e-5)
    assert torch.allclose(symmetric_kl(a, b), symmetric_kl(b, a))
    assert torch.allclose(symmetric_kl(a, a), torch.zeros(5))


def test_symmetric_kl_gradient():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: symmetric_kl(x, y).sum(), (a, b))


def test_batch_threshold_is_the_mean_divergence():
    div = torch.tensor([0.1, 0.4, 0.2, 0.9])
    mask, t = neighbour_mask(div, "batch")
    assert t.item() == pytest.approx(div.mean().item())
    assert mask.tolist() == [True, False, True, False]


def test_fixed_threshold_masks_divergences_at_or_above_t():
    mask, t = neighbour_mask(torch.tensor([0.1, 0.3, 0.5]), 0.3)
    assert t.item() == pytest.approx(0.3)
    assert mask.tolist() == [True, False, False]  # δ(T − Div) = 0 when Div = T
    with pytest.raises(ValueError, match="threshold"):
        neighbour_mask(torch.tensor([0.1]), "median")
    with pytest.raises(ValueError, match="positive"):
        neighbour_mask(torch.tensor([0.1]), -1.0)


def test_masked_samples_contribute_zero_gradient():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 7, generator=g, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    div = torch.tensor([0.05, 0.5, 0.01, 0.9, 0.02, 0.3])
    loss, mask, t = NeighbourhoodAwareLoss("batch")(F.cross_entropy(logits, labels, reduction="none"), div)
    loss.backward()
    grad = logits.grad
    assert mask.tolist() == [True, False, True, False, True, False]
    assert torch.equal(grad[~mask], torch.zeros_like(grad[~mask]))
    expected = (torch.softmax(logits.detach(), 1) - F.one_hot(labels, 7)) / len(labels)
    assert torch.allclose(grad[mask], expected[mask], atol=1e-6)
    kept = F.cross_entropy(logits.detach()[mask], labels[mask], reduction="sum") / 6
    assert loss.item() == pytest.approx(kept.item(), rel=1e-6)


def test_an_unmasked_batch_gives_the_mean_loss():
    losses = torch.tensor([1.0, 2.0, 3.0])
    loss, mask, _ = NeighbourhoodAwareLoss(10.0)(losses, torch.zeros(3))
    assert mask.all() and loss.item() == pytest.approx(2.0)


def test_reconstruction_loss_weights_the_input_scale_four_times():
    shapes = [(2, 1, 4, 4), (2, 3, 2, 2), (2, 5, 1, 1)]
    targets = [torch.zeros(s) for s in shapes]
    recons = [torch.full(s, v) for s, v in zip(shapes, (1.0, 2.0, 3.0))]
    loss = MultiScaleReconstructionLoss(weights=(4, 1, 1))(recons, targets)
    assert loss.item() == pytest.approx(4 * 1 + 1 * 4 + 1 * 9)
    assert MultiScaleReconstructionLoss().weights == (4, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="scales"):
        MultiScaleReconstructionLoss()(recons, targets)


class Features(nn.Module):
    """A stand-in FER net whose 'conv3–conv5' maps are x, 2x and a learnable 3x."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def conv_features(self, x):
        return [x, 2 * x, self.scale * x]


def test_perceptual_loss_is_eq5_with_the_paper_weights():
    net = Features()
    loss_fn = PerceptualReconstructionLoss(net)
    target = torch.zeros(2, 1, 3, 3)
    recon = torch.full((2, 1, 3, 3), 0.5, requires_grad=True)
    loss = loss_fn(recon, target)
    assert loss.item() == pytest.approx(0.25 + 100 * 0.25 + 0.1 * 1.0 + 0.001 * 2.25)
    loss.backward()
    assert net.scale.grad is None and recon.grad is not None
    loss_fn.train()
    assert not net.training


def test_wasserstein_losses():
    fake, real = torch.tensor([1.0, 3.0]), torch.tensor([0.5, 0.5])
    assert WassersteinCriticLoss()(fake, real).item() == pytest.approx(1.5)
    assert WassersteinGeneratorLoss()(fake).item() == pytest.approx(-2.0)


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero():
    g = torch.Generator().manual_seed(3)
    logits, labels = torch.randn(8, 7, generator=g), torch.randint(0, 7, (8,), generator=g)
    assert torch.allclose(FocalLoss(gamma=0)(logits, labels), F.cross_entropy(logits, labels))
    w = torch.rand(7, generator=g)
    assert torch.allclose(FocalLoss(gamma=0, weight=w, reduction="none")(logits, labels),
                          F.cross_entropy(logits, labels, weight=w, reduction="none"))


def test_focal_loss_hand_case_and_gradient():
    p = torch.tensor([[0.8, 0.2]])
    loss = FocalLoss(gamma=2)(p.log(), torch.tensor([0]))
    assert loss.item() == pytest.approx(-(0.2 ** 2) * math.log(0.8), rel=1e-6)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: FocalLoss(gamma=2)(z, torch.tensor([0, 1, 2, 1])), (x,))


def test_class_weights_match_scikit_learn_balanced():
    labels = np.array([0, 0, 0, 0, 1, 2, 2, 3])
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    assert np.allclose(class_weights(labels, 4).numpy(), expected)
    assert class_weights(labels, 5)[4].item() == 0
    with pytest.raises(ValueError, match="labels"):
        class_weights(labels, 3)
