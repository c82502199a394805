"""Center loss (Wen et al. 2016, Eq. 2-4)."""

import pytest
import torch

from fercore.losses import CenterLoss


def test_value_gradient_and_center_update_by_hand():
    loss_fn = CenterLoss(num_classes=3, feature_dim=2, alpha=0.5, reduction="sum")
    loss_fn.centers.copy_(torch.tensor([[0.0, 0], [1, 1], [5, 5]]))
    x = torch.tensor([[1.0, 0], [3, 0], [1, 3]], requires_grad=True)
    y = torch.tensor([0, 0, 1])
    loss = loss_fn(x, y)
    assert loss.item() == pytest.approx(0.5 * (1 + 9 + 4))
    loss.backward()
    torch.testing.assert_close(x.grad, torch.tensor([[1.0, 0], [3, 0], [0, 2]]))  # x_i - c_yi
    # Eq. 4: class 0 (n=2): delta = (2*c - (1,0) - (3,0)) / 3 = (-4/3, 0); class 1 (n=1):
    # delta = (c - (1,3)) / 2 = (0, -1); class 2 unseen: unchanged
    torch.testing.assert_close(loss_fn.centers, torch.tensor([[2 / 3, 0], [1, 1.5], [5, 5]]))


def test_mean_reduction_gradcheck_and_eval_leaves_centers():
    loss_fn = CenterLoss(num_classes=4, feature_dim=3, reduction="mean").double().eval()
    loss_fn.centers.normal_()
    before = loss_fn.centers.clone()
    x = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (10,))
    assert torch.autograd.gradcheck(lambda f: loss_fn(f, y), (x,))
    torch.testing.assert_close(loss_fn.centers, before)


def test_one_sample_class_and_bad_labels():
    loss_fn = CenterLoss(num_classes=2, feature_dim=2)
    x = torch.tensor([[2.0, 2.0]], requires_grad=True)
    loss_fn(x, torch.tensor([1])).backward()
    torch.testing.assert_close(x.grad, torch.tensor([[2.0, 2.0]]))
    # Eq. 4 with n_j = 1: delta = (c - x) / 2, then alpha = 0.5 moves the centre a quarter of the way
    torch.testing.assert_close(loss_fn.centers[1], torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="labels must lie"):
        loss_fn(torch.zeros(1, 2), torch.tensor([2]))
    with pytest.raises(ValueError, match="alpha"):
        CenterLoss(2, 2, alpha=0)
