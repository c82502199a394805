"""Multi-label soft cross-entropy (RAF-ML Eq. 1-2)."""

import pytest
import torch
from torch.nn import functional as F

from fercore.losses import SoftCrossEntropy


def test_value_and_gradient_match_the_closed_form():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 3.0]])  # label set and a raw vote vector
    y = targets / targets.sum(1, keepdim=True)
    p = torch.softmax(logits.detach(), 1)
    loss = SoftCrossEntropy()(logits, targets)
    assert loss.item() == pytest.approx(float(-(y * p.log()).sum() / 2), rel=1e-6)
    loss.backward()
    torch.testing.assert_close(logits.grad, (p - y) / 2)  # Eq. 2: -(1/n)(y - p)


def test_equals_torch_cross_entropy_with_probability_targets_and_gradcheck():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 6, generator=g, dtype=torch.float64, requires_grad=True)
    targets = (torch.rand(8, 6, generator=g, dtype=torch.float64) > 0.5).double()
    targets[:, 0] = 1
    ours = SoftCrossEntropy()(logits, targets)
    ref = F.cross_entropy(logits, targets / targets.sum(1, keepdim=True))
    torch.testing.assert_close(ours, ref)
    assert torch.autograd.gradcheck(lambda z: SoftCrossEntropy()(z, targets), (logits,))


def test_bad_targets():
    with pytest.raises(ValueError, match="positive entry"):
        SoftCrossEntropy()(torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="same shape"):
        SoftCrossEntropy()(torch.zeros(2, 3), torch.zeros(2, 4))
