"""Selective sigmoid cross-entropy of SJMT (Pons & Masip 2018, Eq. 1)."""

import math

import pytest
import torch
from torch import nn

from fercore.losses.selective import SelectiveSigmoidCrossEntropy, label_space_mask

# outputs 0..2: an emotion space, 3..4: an AU space
SPACES = [[0, 1, 2], [3, 4]]


def batch(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 5, generator=g, dtype=torch.float64)
    targets = (torch.rand(n, 5, generator=g) > 0.5).double()
    dataset_ids = torch.tensor([0, 1, 0, 1, 1, 0][:n])
    return logits, targets, dataset_ids


def test_hand_computed_case():
    logits = torch.tensor([[0.0, 2.0, -1.0, 5.0, 7.0], [9.0, 9.0, 9.0, 1.0, -2.0]])
    targets = torch.tensor([[1.0, 0.0, 0.0, float("nan"), float("nan")],
                            [float("nan"), float("nan"), float("nan"), 1.0, 0.0]])
    loss = SelectiveSigmoidCrossEntropy(SPACES, num_outputs=5, reduction="none")
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    first = -(math.log(sig(0.0)) + math.log(1 - sig(2.0)) + math.log(1 - sig(-1.0)))
    second = -(math.log(sig(1.0)) + math.log(1 - sig(-2.0)))
    assert loss(logits, targets, torch.tensor([0, 1])).tolist() == pytest.approx([first, second])
    mean = SelectiveSigmoidCrossEntropy(SPACES, num_outputs=5)(logits, targets, torch.tensor([0, 1]))
    assert mean.item() == pytest.approx((first + second) / 2)
    label_mean = SelectiveSigmoidCrossEntropy(SPACES, 5, "label_mean")(logits, targets, torch.tensor([0, 1]))
    assert label_mean.item() == pytest.approx((first + second) / 5)


def test_no_gradient_reaches_outputs_outside_a_samples_label_space():
    logits, targets, dataset_ids = batch()
    targets[dataset_ids == 0, 3:] = float("nan")  # unlabeled AUs of emotion images
    logits.requires_grad_(True)
    SelectiveSigmoidCrossEntropy(SPACES, num_outputs=5)(logits, targets, dataset_ids).backward()
    outside = ~label_space_mask(SPACES, 5)[dataset_ids]
    assert torch.all(logits.grad[outside] == 0)
    assert torch.all(logits.grad[~outside] != 0)
    assert torch.isfinite(logits.grad).all()


def test_gradient_is_sigmoid_minus_target_inside_the_space():
    logits, targets, dataset_ids = batch(1)
    logits.requires_grad_(True)
    SelectiveSigmoidCrossEntropy(SPACES, num_outputs=5, reduction="sum")(logits, targets, dataset_ids).backward()
    inside = label_space_mask(SPACES, 5)[dataset_ids]
    expected = torch.where(inside, torch.sigmoid(logits.detach()) - targets, torch.zeros_like(targets))
    torch.testing.assert_close(logits.grad, expected)


def test_gradcheck():
    logits, targets, dataset_ids = batch(2)
    loss = SelectiveSigmoidCrossEntropy(SPACES, num_outputs=5)
    assert torch.autograd.gradcheck(lambda x: loss(x, targets, dataset_ids), (logits.requires_grad_(True),))


def test_equals_plain_sigmoid_bce_when_all_samples_share_one_space():
    logits, targets, _ = batch(3)
    everyone = torch.zeros(len(logits), dtype=torch.long)
    full = SelectiveSigmoidCrossEntropy(torch.ones(1, 5, dtype=torch.bool), reduction="label_mean")
    torch.testing.assert_close(full(logits, targets, everyone), nn.BCEWithLogitsLoss()(logits, targets))
    per_sample = nn.BCEWithLogitsLoss(reduction="none")(logits, targets).sum(dim=1).mean()
    torch.testing.assert_close(SelectiveSigmoidCrossEntropy([range(5)], 5)(logits, targets, everyone), per_sample)
    # a shared sub-space: plain BCE on those columns
    au_only = SelectiveSigmoidCrossEntropy(SPACES, 5, "label_mean")(logits, targets, everyone + 1)
    torch.testing.assert_close(au_only, nn.BCEWithLogitsLoss()(logits[:, 3:], targets[:, 3:]))


def test_ignore_nan_skips_uncoded_labels_inside_the_space():
    logits, targets, dataset_ids = batch(4)
    targets[1, 4] = float("nan")  # sample 1 (AU dataset) has AU 4 uncoded
    logits.requires_grad_(True)
    loss = SelectiveSigmoidCrossEntropy(SPACES, 5, reduction="none", ignore_nan=True)
    per_sample = loss(logits, targets, dataset_ids)
    per_sample.sum().backward()
    assert logits.grad[1, 4] == 0 and logits.grad[1, 3] != 0
    expected = nn.BCEWithLogitsLoss(reduction="sum")(logits[1, 3:4], targets[1, 3:4])
    torch.testing.assert_close(per_sample[1], expected)
    with pytest.raises(ValueError, match="inside a sample's label space"):
        SelectiveSigmoidCrossEntropy(SPACES, 5)(logits, targets, dataset_ids)


def test_bad_input_raises_clear_errors():
    logits, targets, dataset_ids = batch()
    loss = SelectiveSigmoidCrossEntropy(SPACES, num_outputs=5)
    with pytest.raises(ValueError, match="dataset_ids must lie"):
        loss(logits, targets, torch.full_like(dataset_ids, 2))
    with pytest.raises(ValueError, match="shape"):
        loss(logits[:, :4], targets[:, :4], dataset_ids)
    bad = targets.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="inside a sample's label space"):
        loss(logits, bad, dataset_ids)
    with pytest.raises(ValueError, match="num_outputs is required"):
        SelectiveSigmoidCrossEntropy(SPACES)
    with pytest.raises(ValueError, match="outside"):
        SelectiveSigmoidCrossEntropy([[0, 7]], num_outputs=5)
    with pytest.raises(ValueError, match="empty"):
        SelectiveSigmoidCrossEntropy(torch.tensor([[True, False], [False, False]]))
    with pytest.raises(ValueError, match="reduction"):
        SelectiveSigmoidCrossEntropy(SPACES, 5, reduction="avg")
