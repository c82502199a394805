"""Locality-preserving loss (RAF-DB Eq. 3-4) on hand-made mini-batches."""

import pytest
import torch

from fercore.losses import LocalityPreservingLoss
from fercore.losses.locality import EXACT_BELOW_DIMS, nearest_neighbour_means, pairwise_distances


def brute_force_means(x, labels, k):
    """Mean of each sample's k nearest same-class neighbours, by loops (None if it has none)."""
    means = []
    for i in range(len(x)):
        candidates = [j for j in range(len(x)) if j != i and labels[j] == labels[i]]
        candidates.sort(key=lambda j: (float(((x[i] - x[j]) ** 2).sum()), j))
        chosen = candidates[:k]
        means.append(x[chosen].mean(0) if chosen else None)
    return means


def test_hand_computed_value_and_gradient():
    # class 0 on a line at 0, 1, 3, 10; class 1 at (0,5), (0,7); k = 2
    x = torch.tensor([[0.0, 0], [1, 0], [3, 0], [10, 0], [0, 5], [0, 7]], requires_grad=True)
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    loss = LocalityPreservingLoss(k=2, reduction="sum")(x, y)
    # neighbour means: (2,0), (1.5,0), (0.5,0), (2,0), (0,7), (0,5)
    expected_diff = torch.tensor([[-2.0, 0], [-0.5, 0], [2.5, 0], [8, 0], [0, -2], [0, 2]])
    assert loss.item() == pytest.approx(0.5 * (expected_diff ** 2).sum().item())
    loss.backward()
    torch.testing.assert_close(x.grad, expected_diff)  # Eq. 4: x_i - mean


def test_matches_brute_force_and_mean_reduction():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (40,), generator=g)
    loss = LocalityPreservingLoss(k=3, reduction="mean")(x, y)
    loss.backward()
    means = brute_force_means(x.detach(), y, 3)
    grad = torch.stack([x[i].detach() - m for i, m in enumerate(means)]) / len(x)
    torch.testing.assert_close(x.grad, grad)
    xd = x.detach()
    expected = sum(0.5 * float(((xd[i] - m) ** 2).sum()) for i, m in enumerate(means)) / len(x)
    assert loss.item() == pytest.approx(expected)


@pytest.mark.parametrize("dims", [EXACT_BELOW_DIMS - 1, EXACT_BELOW_DIMS, 2000])
def test_pairwise_distances_match_the_exact_ones_at_every_width(dims):
    g = torch.Generator().manual_seed(dims)
    x = 3 * torch.randn(64, dims, generator=g)
    exact = ((x.double().unsqueeze(1) - x.double().unsqueeze(0)) ** 2).sum(-1).sqrt()
    ours = pairwise_distances(x)
    assert ours.dtype == torch.float32
    off_diagonal = ~torch.eye(64, dtype=torch.bool)
    torch.testing.assert_close(ours.double()[off_diagonal], exact[off_diagonal], rtol=1e-6, atol=0)
    repeated = pairwise_distances(torch.cat([x[:3], x[:3]]))
    if dims < EXACT_BELOW_DIMS:   # equal low-dimensional vectors tie exactly
        assert (repeated[0, 3] == 0) and (repeated[0, 1] == repeated[0, 4])


def test_wide_features_find_the_brute_force_neighbours():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 2000, generator=g, requires_grad=True)
    y = torch.randint(0, 7, (64,), generator=g)
    LocalityPreservingLoss(k=5, reduction="sum")(x, y).backward()
    means = brute_force_means(x.detach().double(), y, 5)
    torch.testing.assert_close(x.grad.double(), torch.stack([x[i].detach().double() - m for i, m in enumerate(means)]),
                               rtol=1e-5, atol=1e-5)


def test_fewer_than_k_neighbours_averages_those_that_exist():
    # class 0 has 3 samples: each has 2 same-class neighbours although k = 5
    x = torch.tensor([[0.0], [2.0], [4.0], [100.0]], requires_grad=True)
    y = torch.tensor([0, 0, 0, 1])
    LocalityPreservingLoss(k=5, reduction="sum")(x, y).backward()
    ours = torch.tensor([[-3.0], [0.0], [3.0], [0.0]])  # x_i - mean of the other two
    torch.testing.assert_close(x.grad, ours)
    divided_by_k = x.detach() - torch.tensor([[6.0], [4.0], [2.0], [0.0]]) / 5  # public code's bug
    assert not torch.allclose(x.grad[:3], divided_by_k[:3])


def test_class_with_one_sample_gets_no_gradient():
    x = torch.tensor([[0.0, 0], [1, 1], [5, 5]], requires_grad=True)
    y = torch.tensor([0, 0, 1])
    loss = LocalityPreservingLoss(k=2, reduction="sum")(x, y)
    loss.backward()
    assert loss.item() == pytest.approx(2 * 0.5 * 2.0)
    torch.testing.assert_close(x.grad[2], torch.zeros(2))


def test_ties_go_to_the_lower_batch_index():
    # sample 0 has two same-class neighbours at distance 1: indices 1 and 2; k = 1 takes index 1
    x = torch.tensor([[0.0, 0], [1, 0], [-1, 0]], requires_grad=True)
    y = torch.zeros(3, dtype=torch.long)
    means, counts = nearest_neighbour_means(x, x, k=1, allowed=y[None] == y[:, None])
    torch.testing.assert_close(means[0], torch.tensor([1.0, 0]))
    assert counts.tolist() == [1, 1, 1]


def test_neighbour_means_are_held_fixed():
    # Eq. 4 is not the full derivative of Eq. 3: the neighbours' own dependence on x is dropped
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64, requires_grad=True)
    y = torch.zeros(2, dtype=torch.long)
    LocalityPreservingLoss(k=1, reduction="sum")(x, y).backward()
    # L = ½(x0 - x1)² + ½(x1 - x0)²: the full derivative would be (-2, 2); Eq. 4 gives (-1, 1)
    torch.testing.assert_close(x.grad, torch.tensor([[-1.0], [1.0]], dtype=torch.float64))


def test_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        LocalityPreservingLoss(k=0)
    with pytest.raises(ValueError, match="reduction"):
        LocalityPreservingLoss(reduction="none")
    with pytest.raises(ValueError, match="expected features"):
        LocalityPreservingLoss()(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
