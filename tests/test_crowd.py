import warnings
from math import exp, log

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from fercore.agreement import cronbach_alpha, vote_slot_matrix
from fercore.crowd import GLAD, DawidSkene, MajorityVote, encode_votes, glad_e_step, glad_m_step_gradient, vote_entropy
from fercore.ground_truth import (
    compound_subset,
    filter_annotators,
    ground_truth_vectors,
    multilabel_subset,
    single_label_subset,
)
from fercore.labels import BASIC7, COMPOUND11
from fercore.synth.crowd import simulate_annotators, simulate_perceived, simulate_votes

B = {name: i for i, name in enumerate(BASIC7)}


def sigmoid(x):
    return 1.0 / (1.0 + exp(-x))


def simulated(n_tasks, votes_per_task, spammer_fraction=0.1, seed=0):
    perceived = simulate_perceived(n_tasks, rng=seed)
    annotators = simulate_annotators(315, spammer_fraction, rng=seed + 1)
    votes = simulate_votes(perceived.distribution, annotators, votes_per_task, perceived.difficulty, rng=seed + 2)
    return perceived, annotators, votes


TOY = pd.DataFrame(
    {"task": ["a", "a", "a", "b", "b"], "worker": ["u", "v", "w", "u", "v"], "label": [0, 0, 1, 2, 1]}
)


def test_e_step_hand_computed_two_tasks():
    votes = encode_votes(TOY, n_classes=3)
    alpha = np.array([2.0, 0.5, -1.0])  # u, v, w
    beta = np.array([1.0, 2.0])  # a, b
    posterior, log_likelihood = glad_e_step(votes, alpha, np.log(beta))
    # p(t | c) = σ(αβ) if t = c else (1 − σ(αβ)) / (K − 1), K = 3
    su, sv, sw = sigmoid(2.0), sigmoid(0.5), sigmoid(-1.0)
    a = [su * sv * (1 - sw) / 2, (1 - su) / 2 * (1 - sv) / 2 * sw, (1 - su) / 2 * (1 - sv) / 2 * (1 - sw) / 2]
    su, sv = sigmoid(4.0), sigmoid(2.0 * 0.5)
    b = [(1 - su) / 2 * (1 - sv) / 2, (1 - su) / 2 * sv, su * (1 - sv) / 2]
    np.testing.assert_allclose(posterior, [np.divide(a, sum(a)), np.divide(b, sum(b))], rtol=1e-12)
    np.testing.assert_allclose(posterior, [[0.965605, 0.014579, 0.019815], [0.008648, 0.047016, 0.944336]], atol=1e-6)
    assert log_likelihood == pytest.approx(log(sum(a) / 3) + log(sum(b) / 3), rel=1e-12)


def expected_log_likelihood(votes, alpha, log_beta, posterior):
    """The M-step objective written naively: Σ_j Σ_c Q_j(c) Σ_i ln p(t_ij | c)."""
    K, total = votes.n_classes, 0.0
    for t, w, label in zip(votes.task, votes.worker, votes.label):
        s = sigmoid(alpha[w] * exp(log_beta[t]))
        for c in range(K):
            total += posterior[t, c] * log(s if label == c else (1 - s) / (K - 1))
    return total


def test_m_step_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        [(t, w, rng.integers(7)) for t in range(12) for w in rng.choice(9, 5, replace=False)],
        columns=["task", "worker", "label"],
    )
    votes = encode_votes(table)
    alpha, log_beta = rng.normal(0.5, 1.0, 9), rng.normal(0.0, 0.7, 12)
    posterior = rng.dirichlet(np.ones(7), 12)
    grad_alpha, grad_log_beta = glad_m_step_gradient(votes, alpha, log_beta, posterior)
    h = 1e-6
    for params, grad in ((alpha, grad_alpha), (log_beta, grad_log_beta)):
        numeric = []
        for i in range(params.size):
            params[i] += h
            up = expected_log_likelihood(votes, alpha, log_beta, posterior)
            params[i] -= 2 * h
            down = expected_log_likelihood(votes, alpha, log_beta, posterior)
            params[i] += h
            numeric.append((up - down) / (2 * h))
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def table_3000():
    return simulated(3000, 10)


def test_glad_matches_crowdkit(table_3000):
    """Oracle: crowd-kit's GLAD with its default N(1, 1) priors, 3,000 images × 10 votes
    (10 rather than 40 votes keeps crowd-kit's run near 15 s on 2 cores)."""
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    _, _, votes = table_3000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = crowdkit.GLAD().fit(votes)
    ours = GLAD(init="crowdkit", alpha_prior=(1.0, 1.0), log_beta_prior=(1.0, 1.0)).fit(votes)
    their_alphas = theirs.alphas_.reindex(ours.alphas_.index)
    assert spearmanr(ours.alphas_, their_alphas).statistic >= 0.95
    assert (ours.labels_ == theirs.labels_.reindex(ours.labels_.index)).mean() >= 0.98
    their_log_betas = theirs.betas_.reindex(ours.betas_.index)
    assert spearmanr(np.log(ours.betas_), their_log_betas).statistic >= 0.95


@pytest.mark.parametrize("init", ["paper", "inverse_entropy", "crowdkit"])
def test_em_increases_the_log_posterior_and_finds_reliability(table_3000, init):
    perceived, annotators, votes = table_3000
    model = GLAD(init=init).fit(votes)
    assert model.converged_
    assert np.all(np.diff(model.loss_history_) <= 1e-9)
    reliability = annotators.set_index("worker")["reliability"].reindex(model.alphas_.index)
    # about 95 votes per annotator here: α ranks annotators well, not perfectly
    assert spearmanr(model.alphas_, reliability).statistic > 0.7
    assert (model.betas_ > 0).all()
    np.testing.assert_allclose(model.probas_.sum(axis=1), 1.0)
    majority = MajorityVote().fit_predict(votes)
    truth = perceived.label
    assert (model.labels_.to_numpy() == truth).mean() >= (majority.to_numpy() == truth).mean() - 0.005


def test_glad_is_deterministic_and_sklearn_like():
    _, _, votes = simulated(200, 8)
    first = GLAD(n_iter=5).fit(votes)
    second = GLAD(n_iter=5).fit(votes)
    pd.testing.assert_series_equal(first.alphas_, second.alphas_)
    assert GLAD(init="inverse_entropy").get_params()["init"] == "inverse_entropy"
    assert list(GLAD().fit_predict_proba(votes).columns) == list(range(7))


def test_dawid_skene_matches_crowdkit():
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    _, _, votes = simulated(300, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = crowdkit.DawidSkene(n_iter=6, tol=-np.inf).fit(votes)
        their_mv = crowdkit.MajorityVote().fit(votes)
    ours = DawidSkene(n_iter=6, tol=-np.inf).fit(votes)
    np.testing.assert_allclose(ours.probas_.to_numpy(), theirs.probas_.loc[ours.probas_.index, list(range(7))], atol=1e-5)
    mv = MajorityVote().fit(votes)
    np.testing.assert_allclose(mv.probas_.to_numpy(), their_mv.probas_.loc[mv.probas_.index, list(range(7))].fillna(0))


def test_majority_vote_breaks_ties_at_random_but_reproducibly():
    table = pd.DataFrame({"task": [0, 0] * 50, "worker": [0, 1] * 50, "label": [1, 2] * 50})
    table["task"] = np.repeat(np.arange(50), 2)
    labels = MajorityVote(random_state=3).fit_predict(table)
    assert set(labels) == {1, 2}
    pd.testing.assert_series_equal(labels, MajorityVote(random_state=3).fit_predict(table))


def test_vote_entropy():
    entropy = vote_entropy(TOY, n_classes=3)
    assert entropy["a"] == pytest.approx(-(2 / 3) * log(2 / 3) - (1 / 3) * log(1 / 3))
    assert entropy["b"] == pytest.approx(log(2))


def test_ground_truth_vectors_and_negative_alpha():
    alphas = pd.Series({"u": 2.0, "v": 1.0, "w": -1.0})
    g = ground_truth_vectors(TOY, alphas, n_classes=3)
    np.testing.assert_allclose(g.loc["a"], [1.0, 0.0, 0.0])  # w's vote counts 0 once clipped
    np.testing.assert_allclose(g.loc["b"], [0.0, 1 / 3, 2 / 3])
    raw = ground_truth_vectors(TOY, alphas, n_classes=3, clip_negative=False)
    np.testing.assert_allclose(raw.loc["a"], [3 / 4, -1 / 4, 0.0])  # divided by Σ|g|
    with pytest.raises(ValueError, match="worker"):
        ground_truth_vectors(TOY, alphas.drop("w"), n_classes=3)


def test_random_voters_get_negative_alpha_and_clipping_helps():
    perceived, annotators, votes = simulated(2000, 10, spammer_fraction=0.4, seed=3)
    alphas = GLAD().fit(votes).alphas_
    uniform = annotators.loc[annotators.spammer_kind == "uniform", "worker"]
    assert (alphas[uniform] < 0).all()
    truth = perceived.label
    clipped = ground_truth_vectors(votes, alphas).to_numpy().argmax(axis=1)
    signed = ground_truth_vectors(votes, alphas, clip_negative=False).to_numpy().argmax(axis=1)
    assert (clipped == truth).mean() > (signed == truth).mean() + 0.005
    kept = filter_annotators(alphas)
    assert not kept[annotators.loc[annotators.is_spammer, "worker"]].any()
    assert kept.sum() >= (~annotators.is_spammer).sum() - 5


def g_vector(**weights):
    g = np.zeros(7)
    for name, value in weights.items():
        g[B[name]] = value
    return g / g.sum()


def test_single_label_subset_hand_cases():
    g = np.array(
        [
            g_vector(happiness=0.7, surprise=0.1, neutral=0.1, sadness=0.1),  # one above the mean
            g_vector(happiness=0.45, surprise=0.45, neutral=0.1),  # two above the mean
            np.full(7, 1 / 7),  # none above the mean
        ]
    )
    np.testing.assert_array_equal(single_label_subset(g), [B["happiness"], -1, -1])


def test_compound_subset_hand_cases():
    g = np.array(
        [
            g_vector(happiness=0.5, surprise=0.4, neutral=0.1),
            g_vector(fear=0.5, disgust=0.4, neutral=0.1),  # fearfully disgusted: dropped
            g_vector(happiness=0.5, sadness=0.4, neutral=0.1),  # not a RAF compound class
            g_vector(anger=0.3, disgust=0.3, neutral=0.4),  # neutral is a valid label
            g_vector(anger=0.8, disgust=0.1, neutral=0.1),  # single
        ]
    )
    expected = [COMPOUND11.index("happily surprised"), -1, -1, -1, -1]
    np.testing.assert_array_equal(compound_subset(g), expected)
    by_column = compound_subset(g, neutral="drop_column")
    assert by_column[3] == COMPOUND11.index("angrily disgusted")
    with pytest.raises(ValueError, match="neutral"):
        compound_subset(g, neutral="keep")


def test_multilabel_subset_hand_cases():
    g = np.array(
        [
            g_vector(surprise=0.4, fear=0.3, neutral=0.3),  # → {surprise, fear}
            g_vector(surprise=0.6, neutral=0.4),  # two valid, one left without neutral
            g_vector(surprise=0.5, fear=0.1, disgust=0.1, happiness=0.1, sadness=0.1, anger=0.1),  # single
            g_vector(sadness=0.3, anger=0.3, disgust=0.3, fear=0.1),  # three labels
        ]
    )
    binary, distribution, keep = multilabel_subset(g)
    np.testing.assert_array_equal(keep, [True, False, False, True])
    np.testing.assert_array_equal(binary[0], [1, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(distribution[0], [4 / 7, 3 / 7, 0, 0, 0, 0])
    np.testing.assert_array_equal(binary[3], [0, 0, 1, 0, 1, 1])
    np.testing.assert_allclose(distribution.sum(axis=1), 1.0)


def test_cronbach_alpha_hand_case_and_slot_matrix():
    # item variances 1 and 7/3, total variance 19/3: alpha = 2 (1 - (10/3)/(19/3)) = 18/19
    assert cronbach_alpha([[1, 2], [2, 3], [3, 5]]) == pytest.approx(18 / 19)
    assert cronbach_alpha([[1, 1], [2, 2], [4, 4]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero variance"):
        cronbach_alpha([[1, 1], [1, 1]])
    table = pd.DataFrame({"task": [0, 0, 1, 1, 1], "worker": [0, 1, 0, 1, 2], "label": [2, 2, 0, 1, 1]})
    matrix = vote_slot_matrix(table, n_classes=3, n_raters=2)
    expected = [[0, 0], [0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]  # rows (task, class), columns vote slots
    np.testing.assert_array_equal(matrix, expected)
    assert vote_slot_matrix(table, n_classes=3, n_raters=3).shape == (3, 3)


@pytest.mark.parametrize(
    "table, message",
    [
        (pd.DataFrame({"task": [0], "worker": [0], "label": [7]}), "unknown label"),
        (pd.DataFrame({"task": [0], "worker": [0], "label": [-1]}), "unknown label"),
        (pd.DataFrame({"task": [0], "worker": [0], "label": [2.5]}), "unknown label"),
        (pd.DataFrame({"task": [0], "worker": [0], "label": ["happiness"]}), "class indices"),
        (pd.DataFrame({"task": [0, 0], "worker": [3, 3], "label": [1, 2]}), "voted twice"),
        (pd.DataFrame({"task": [], "worker": [], "label": []}), "empty"),
        (pd.DataFrame({"task": [0, 1], "worker": [0, np.nan], "label": [1, 2]}), "missing value in column 'worker'"),
        (pd.DataFrame({"task": [0, 1], "worker": [0, 1], "label": [1, np.nan]}), "missing value in column 'label'"),
        (pd.DataFrame({"task": [0], "label": [1]}), "missing column"),
    ],
)
@pytest.mark.parametrize("model", [GLAD, DawidSkene, MajorityVote])
def test_bad_votes_raise(table, message, model):
    with pytest.raises(ValueError, match=message):
        model().fit(table)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="init"):
        GLAD(init="random").fit(TOY)
    with pytest.raises(ValueError, match="alpha_prior"):
        GLAD(alpha_prior=(1.0, 0.0)).fit(TOY)
    with pytest.raises(ValueError, match="labels_priors"):
        GLAD(labels_priors=[1, 2]).fit(TOY)
