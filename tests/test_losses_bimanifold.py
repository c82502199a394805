"""Bi-manifold loss (RAF-ML Eq. 6-7) on hand-made mini-batches."""

import pytest
import torch

from fercore.losses import BiManifoldLoss


def knn_mean(points, values, i, k):
    """Mean of ``values`` over the k nearest other rows of ``points`` to row i, by a loop."""
    others = sorted((float(((points[i] - points[j]) ** 2).sum()), j)
                    for j in range(len(points)) if j != i)
    return values[[j for _, j in others[:k]]].mean(0)


def batch():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 4, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.rand(12, 6, generator=g, dtype=torch.float64)
    return x, labels / labels.sum(1, keepdim=True)


def test_gradient_is_equation_7():
    x, labels = batch()
    BiManifoldLoss(k=3, variant="both")(x, labels).backward()
    xd = x.detach()
    eq7 = torch.stack([2 * xd[i] - knn_mean(xd, xd, i, 3) - knn_mean(labels, xd, i, 3)
                       for i in range(len(xd))]) / len(xd)
    torch.testing.assert_close(x.grad, eq7)


def test_value_relates_to_equation_6():
    x, labels = batch()
    xd = x.detach()
    ours = BiManifoldLoss(k=3)(xd, labels)
    mf = torch.stack([knn_mean(xd, xd, i, 3) for i in range(12)])
    ml = torch.stack([knn_mean(labels, xd, i, 3) for i in range(12)])
    eq6 = ((2 * xd - mf - ml) ** 2).sum() / (2 * 12)
    torch.testing.assert_close(ours, eq6 / 2 + ((mf - ml) ** 2).sum() / (4 * 12))


@pytest.mark.parametrize("variant, uses", [("feature", "f"), ("label", "l")])
def test_single_manifold_variants(variant, uses):
    x, labels = batch()
    BiManifoldLoss(k=2, variant=variant)(x, labels).backward()
    xd = x.detach()
    points = xd if uses == "f" else labels
    grad = torch.stack([xd[i] - knn_mean(points, xd, i, 2) for i in range(12)]) / 12
    torch.testing.assert_close(x.grad, grad)


def test_hand_computed_small_batch_with_fewer_than_k_and_ties():
    # three samples, k = 10 > n - 1: every mean is over the two others.
    x = torch.tensor([[0.0], [3.0], [6.0]], requires_grad=True)
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    BiManifoldLoss(k=10, reduction="sum")(x, labels).backward()
    torch.testing.assert_close(x.grad, torch.tensor([[-9.0], [0.0], [9.0]]))
    # k = 1: label-space tie for sample 2 (samples 0 and 1 both at distance sqrt 2) -> index 0
    x.grad = None
    BiManifoldLoss(k=1, variant="label", reduction="sum")(x, labels).backward()
    torch.testing.assert_close(x.grad, torch.tensor([[-3.0], [3.0], [6.0]]))


def test_single_sample_batch_and_bad_input():
    x = torch.ones(1, 3, requires_grad=True)
    loss = BiManifoldLoss()(x, torch.ones(1, 6))
    loss.backward()
    assert loss.item() == 0 and x.grad.abs().sum() == 0
    with pytest.raises(ValueError, match="variant"):
        BiManifoldLoss(variant="concat")
    with pytest.raises(ValueError, match="expected features"):
        BiManifoldLoss()(torch.zeros(3, 2), torch.zeros(4, 6))
