import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors
from sklearn.tree import DecisionTreeClassifier

from fercore import metrics, multilabel


def _multilabel_data(n=240, n_labels=4, d=20, seed=0):
    """Features from which the labels are learnable: label j is on when feature j (plus a bit
    of feature j + n_labels and noise) is high — easy for trees and kernels alike."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = np.zeros((d, n_labels))
    W[np.arange(n_labels), np.arange(n_labels)] = 1.0
    W[np.arange(n_labels) + n_labels, np.arange(n_labels)] = 0.5
    Y = (X @ W + 0.3 * rng.normal(size=(n, n_labels)) > 0.3).astype(int)
    Y[Y.sum(axis=1) == 0, 0] = 1
    return X, Y


@pytest.mark.parametrize("name", list(multilabel.MULTILABEL_CLASSIFIERS))
def test_every_classifier_learns_and_has_scores(name):
    X, Y = _multilabel_data()
    params = {"k": 10} if name == "mlknn" else {"labelset_size": 2, "n_models": 4} if name == "rakel" else {}
    est = multilabel.make_multilabel(name, **params)
    clone(est)
    model = est.fit(X[:180], Y[:180])
    scores = model.decision_function(X[180:])
    pred = model.predict(X[180:])
    assert scores.shape == pred.shape == (60, 4)
    assert set(np.unique(pred)) <= {0, 1}
    report = metrics.multilabel_report(Y[180:], pred, scores)
    # well above chance: random scores give average precision ≈ 0.5–0.6 here
    assert report["average_precision"] > 0.75, report
    assert report["hamming_loss"] < 0.3, report
    again = multilabel.make_multilabel(name, **params).fit(X[:180], Y[:180])
    np.testing.assert_allclose(again.decision_function(X[180:]), scores)  # deterministic


def test_mlknn_probability_tables_match_scikit_multilearn(monkeypatch):
    from skmultilearn.adapt import mlknn as skml

    # scikit-multilearn 0.2.0 passes k positionally, which current scikit-learn rejects
    monkeypatch.setattr(skml, "NearestNeighbors", lambda k: NearestNeighbors(n_neighbors=k))
    X, Y = _multilabel_data(n=150, seed=1)
    ours = multilabel.MLkNN(k=10, smoothing=1.0).fit(X, Y)
    ref = skml.MLkNN(k=10, s=1.0, ignore_first_neighbours=1).fit(X, Y)  # skip self, as Zhang & Zhou
    np.testing.assert_allclose(ours.prior_, ref._prior_prob_true)
    np.testing.assert_allclose(ours.cond_true_, ref._cond_prob_true.toarray())
    np.testing.assert_allclose(ours.cond_false_, ref._cond_prob_false.toarray())


def test_mlknn_hand_case():
    # 1-D points, k=1: each training point's nearest neighbour is its pair partner
    X = np.array([[0.0], [0.1], [5.0], [5.1]])
    Y = np.array([[1], [1], [0], [1]])
    model = multilabel.MLkNN(k=1, smoothing=1.0).fit(X, Y)
    assert model.prior_[0] == pytest.approx((1 + 3) / (2 + 4))
    # neighbour counts: points 0,1 → 1; point 2 → 1 (neighbour 3); point 3 → 0 (neighbour 2)
    np.testing.assert_allclose(model.cond_true_[0], [(1 + 1) / (2 + 3), (1 + 2) / (2 + 3)])
    np.testing.assert_allclose(model.cond_false_[0], [(1 + 0) / (2 + 1), (1 + 1) / (2 + 1)])
    on = 4 / 6 * 3 / 5
    off = 2 / 6 * 2 / 3
    assert model.decision_function([[0.05]])[0, 0] == pytest.approx(on / (on + off))


def test_rakel_votes_match_scikit_multilearn():
    from skmultilearn.cluster import FixedLabelSpaceClusterer
    from skmultilearn.ensemble import MajorityVotingClassifier
    from skmultilearn.problem_transform import LabelPowerset

    X, Y = _multilabel_data(n=200, seed=2)
    tree = DecisionTreeClassifier(random_state=0)
    ours = multilabel.RAkEL(labelset_size=2, n_models=5, base_estimator=tree, seed=3).fit(X[:150], Y[:150])
    ref = MajorityVotingClassifier(
        classifier=LabelPowerset(classifier=tree, require_dense=[True, True]),
        clusterer=FixedLabelSpaceClusterer(clusters=[list(s) for s in ours.labelsets_]),
        require_dense=[True, True],
    ).fit(X[:150], Y[:150])
    expected = ref.predict(X[150:])
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected)
    np.testing.assert_array_equal(ours.predict(X[150:]), expected)


def test_random_labelsets():
    sets = multilabel.random_labelsets(6, 3, 12, seed=0)
    assert len(sets) == 12 and len(set(sets)) == 12
    assert set().union(*sets) == set(range(6))
    assert sets == multilabel.random_labelsets(6, 3, 12, seed=0)
    with pytest.raises(ValueError, match="distinct"):
        multilabel.random_labelsets(4, 2, 7, seed=0)


def test_clr_ranks_relevant_labels_above_the_virtual_label():
    X, Y = _multilabel_data(seed=3)
    model = multilabel.CalibratedLabelRanking().fit(X, Y)
    np.testing.assert_array_equal(model.predict(X), (model.decision_function(X) > 0).astype(int))
    assert metrics.hamming_loss(Y, model.predict(X)) < 0.1  # trees fit the training set


def test_reconstruction_weights_rows_sum_to_one_and_reconstruct():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    W = multilabel.reconstruction_weights(X, k=5).toarray()
    np.testing.assert_allclose(W.sum(axis=1), 1.0)
    assert (np.count_nonzero(W, axis=1) == 5).all() and np.diag(W).sum() == 0
    # in 2-D, 5 neighbours reconstruct a typical point almost exactly (the hull's corners less so)
    assert np.median(np.abs(W @ X - X)) < 0.01


def test_label_manifold_signs_follow_the_labels():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 20))
    Y = (X[:, :2] > 0).astype(int)
    mu = multilabel.label_manifold(multilabel.reconstruction_weights(X, 5), Y, margin=1.0)
    np.testing.assert_array_less(1.0 - 1e-6, mu * (2 * Y - 1))  # y·μ ≥ λ


def test_bad_input():
    X, Y = _multilabel_data()
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel.MLkNN(k=5).fit(X, Y * 2)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        multilabel.ML2().fit(X, Y[:10])
    with pytest.raises(ValueError, match="k must be"):
        multilabel.MLkNN(k=1000).fit(X, Y)
    with pytest.raises(ValueError, match="unknown multi-label"):
        multilabel.make_multilabel("br")
