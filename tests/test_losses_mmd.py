"""Multi-kernel MMD (RAF-ML Eq. 11-15) against a direct NumPy computation."""

import numpy as np
import pytest
import torch

from fercore.losses import MKMMDLoss, mk_mmd
from fercore.losses.mmd import DEFAULT_MULTIPLIERS, base_bandwidth


def numpy_kernel(a, b, base, multipliers=DEFAULT_MULTIPLIERS, weights=None):
    weights = weights or [1 / len(multipliers)] * len(multipliers)
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return sum(w * np.exp(-d / (2 * m * base)) for w, m in zip(weights, multipliers))


def numpy_base(s, t):
    z = np.concatenate([s, t])
    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    n = len(z)
    return d.sum() / (n * (n - 1))


def numpy_mmd2_unbiased(s, t, **kw):
    base = numpy_base(s, t)
    ns, nt = len(s), len(t)
    kss, ktt, kst = numpy_kernel(s, s, base, **kw), numpy_kernel(t, t, base, **kw), numpy_kernel(s, t, base, **kw)
    total = 0.0
    for i in range(ns):
        for j in range(ns):
            if i != j:
                total += kss[i, j] / (ns * (ns - 1))
    for i in range(nt):
        for j in range(nt):
            if i != j:
                total += ktt[i, j] / (nt * (nt - 1))
    return total - 2 * kst.sum() / (ns * nt)


def samples(ns=9, nt=7, d=5, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(ns, d)), rng.normal(size=(nt, d)) + shift


def test_base_bandwidth_is_the_mean_squared_distance_of_distinct_pairs():
    s, t = samples()
    assert base_bandwidth(torch.tensor(s), torch.tensor(t)).item() == pytest.approx(numpy_base(s, t), rel=1e-10)


@pytest.mark.parametrize("weights", [None, (0.1, 0.2, 0.3, 0.4, 0.0)])
def test_quadratic_estimator_equals_eq_12_in_numpy(weights):
    s, t = samples(shift=0.7)
    ours = mk_mmd(torch.tensor(s), torch.tensor(t), weights=weights).item()
    assert ours == pytest.approx(numpy_mmd2_unbiased(s, t, weights=weights and list(weights)), rel=1e-10)


def test_linear_estimator_equals_gretton_linear_statistic():
    s, t = samples(ns=10, nt=13, shift=0.5)
    base = numpy_base(s, t)
    m = 5
    h = [numpy_kernel(s[[2 * i]], s[[2 * i + 1]], base)[0, 0] + numpy_kernel(t[[2 * i]], t[[2 * i + 1]], base)[0, 0]
         - numpy_kernel(s[[2 * i]], t[[2 * i + 1]], base)[0, 0] - numpy_kernel(s[[2 * i + 1]], t[[2 * i]], base)[0, 0]
         for i in range(m)]
    ours = mk_mmd(torch.tensor(s), torch.tensor(t), estimator="linear").item()
    assert ours == pytest.approx(np.mean(h), rel=1e-10)


@pytest.mark.parametrize("estimator", ["quadratic", "linear"])
def test_near_zero_for_one_distribution_and_larger_under_a_shift(estimator):
    g = torch.Generator().manual_seed(3)
    n = 400 if estimator == "quadratic" else 8000  # the linear statistic has a larger variance
    a, b = torch.randn(n, 20, generator=g), torch.randn(n, 20, generator=g)
    same = mk_mmd(a, b, estimator=estimator).item()
    shifted = mk_mmd(a, b + 0.5, estimator=estimator).item()
    more = mk_mmd(a, b + 1.0, estimator=estimator).item()
    assert abs(same) < 0.01
    assert shifted > 10 * max(abs(same), 1e-3) and more > shifted


def test_invariant_to_the_scale_of_the_features():
    s, t = (torch.tensor(x) for x in samples(shift=1.0))
    torch.testing.assert_close(mk_mmd(s, t), mk_mmd(100 * s, 100 * t))


@pytest.mark.parametrize("estimator", ["quadratic", "linear"])
def test_gradcheck(estimator):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 4, dtype=torch.float64, generator=g, requires_grad=True)
    t = (torch.randn(5, 4, dtype=torch.float64, generator=g) + 0.3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: mk_mmd(a, b, estimator=estimator, bandwidth=2.5), (s, t))


def test_gradient_equals_eq_13_to_15_with_the_within_domain_factor_two():
    s, t = samples(ns=6, nt=4, d=3, shift=0.4)
    base = 1.7
    ss = torch.tensor(s, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    mk_mmd(ss, tt, bandwidth=base).backward()

    def dk(x, y):  # Eq. 15: ∂k(x, y)/∂x = −Σ_l β_l/σ_l² k_l(x, y)(x − y)
        d = ((x - y) ** 2).sum()
        return -sum(np.exp(-d / (2 * m * base)) / (m * base) for m in DEFAULT_MULTIPLIERS) / 5 * (x - y)

    ns, nt = len(s), len(t)
    grad_s = np.array([2 / (ns * (ns - 1)) * sum(dk(s[i], s[j]) for j in range(ns) if j != i)
                       - 2 / (ns * nt) * sum(dk(s[i], t[j]) for j in range(nt)) for i in range(ns)])
    grad_t = np.array([2 / (nt * (nt - 1)) * sum(dk(t[i], t[j]) for j in range(nt) if j != i)
                       - 2 / (ns * nt) * sum(dk(t[i], s[j]) for j in range(ns)) for i in range(nt)])
    np.testing.assert_allclose(ss.grad.numpy(), grad_s, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tt.grad.numpy(), grad_t, rtol=1e-9, atol=1e-12)


def test_module_and_float32_input():
    s, t = (torch.tensor(x, dtype=torch.float32) for x in samples(shift=1.0))
    loss = MKMMDLoss(multipliers=(0.5, 1, 2))
    assert loss(s, t).dtype == torch.float32
    assert loss(s, t).item() == pytest.approx(numpy_mmd2_unbiased(s.double().numpy(), t.double().numpy(),
                                                                  multipliers=(0.5, 1, 2)), rel=1e-4)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        mk_mmd(torch.zeros(1, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="source"):
        mk_mmd(torch.zeros(3, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="estimator"):
        MKMMDLoss(estimator="cubic")
    with pytest.raises(ValueError, match="weights"):
        MKMMDLoss(multipliers=(1, 2), weights=(0.5, 0.6))
    with pytest.raises(ValueError, match="multipliers"):
        MKMMDLoss(multipliers=(0, 1))
    with pytest.raises(ValueError, match="bandwidth"):
        mk_mmd(torch.zeros(3, 3), torch.ones(3, 3), bandwidth=0)


def test_full_precision_under_bf16_autocast():
    g = torch.Generator().manual_seed(4)
    s, t = torch.rand(32, 500, generator=g), torch.rand(32, 500, generator=g) + 0.05
    reference = mk_mmd(s, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = mk_mmd(s.bfloat16(), t.bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(reference.item(), rel=0.05)
