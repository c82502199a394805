"""Entropy loss on target predictions (RAF-ML Eq. 16-17)."""

import math

import pytest
import torch

from fercore.losses import EntropyLoss


def test_hand_case():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, -math.inf, -math.inf]])
    # row 1: uniform over 4 → log 4; row 2: p = (3/4, 1/4, 0, 0) → −(¾ log ¾ + ¼ log ¼)
    expected = (math.log(4) - (0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / 2
    assert EntropyLoss()(logits).item() == pytest.approx(expected, rel=1e-6)
    assert EntropyLoss(reduction="sum")(logits).item() == pytest.approx(2 * expected, rel=1e-6)


def test_bounds():
    assert EntropyLoss()(torch.zeros(3, 6)).item() == pytest.approx(math.log(6))
    assert EntropyLoss()(torch.tensor([[50.0, 0.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-18)


def test_gradient_is_eq_17_with_the_sign_corrected():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    EntropyLoss()(logits).backward()
    p = torch.softmax(logits.detach(), dim=1)
    plogp = (p * p.log()).sum(dim=1, keepdim=True)
    torch.testing.assert_close(logits.grad, p * (plogp - p.log()) / 5)
    # descending the gradient sharpens: the most likely class of each row gains
    top = p.argmax(dim=1)
    assert (logits.grad[torch.arange(5), top] < 0).all()


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(EntropyLoss(), (logits,))


def test_bad_input():
    with pytest.raises(ValueError, match="logits"):
        EntropyLoss()(torch.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        EntropyLoss(reduction="none")
