import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.svm import SVC

from fercore import classifiers


def _blobs(n=210, k=3, d=20, seed=0, spread=3.0):
    X, y = make_blobs(n_samples=n, centers=k, n_features=d, cluster_std=spread, random_state=seed)
    return X, y


def test_svm_matches_libsvm_on_standardized_features():
    X, y = _blobs()
    ours = classifiers.SVMClassifier(kernel="rbf", C_grid=(3.0,), gamma_grid=(1.0,), cv=1).fit(X, y)
    Z = (X - X.mean(0)) / X.std(0)
    ref = SVC(C=3.0, kernel="rbf", gamma=1.0 / X.shape[1]).fit(Z, y)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(Z))
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(Z), atol=1e-6)


def test_svm_linear_kernel_matches_libsvm():
    X, y = _blobs(seed=1)
    ours = classifiers.SVMClassifier(kernel="linear", C_grid=(0.1,), cv=1).fit(X, y)
    Z = (X - X.mean(0)) / X.std(0)
    ref = SVC(C=0.1, kernel="linear").fit(Z, y)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(Z))


def test_svm_grid_search_picks_the_best_cross_validated_point():
    X, y = _blobs(spread=6.0, seed=2)
    model = classifiers.SVMClassifier(C_grid=(0.01, 1.0, 100.0), gamma_grid=(0.1, 1.0), cv=3, seed=0).fit(X, y)
    assert len(model.cv_scores_) == 6
    assert model.cv_scores_[(model.C_, model.gamma_)] == max(model.cv_scores_.values())
    again = classifiers.SVMClassifier(C_grid=(0.01, 1.0, 100.0), gamma_grid=(0.1, 1.0), cv=3, seed=0).fit(X, y)
    assert again.cv_scores_ == model.cv_scores_


def test_lda_nearest_neighbor_separates_blobs():
    X, y = _blobs(d=300, n=120, spread=4.0)
    model = classifiers.LDANearestNeighbor(pca_components=50).fit(X[::2], y[::2])
    assert model.transform(X).shape == (120, 2)
    assert np.mean(model.predict(X[1::2]) == y[1::2]) > 0.9
    assert model.pca_.n_components_ == 50


def test_uniform_random_floor():
    X = np.zeros((7000, 1))
    y = np.arange(7000) % 7
    model = classifiers.UniformRandomClassifier(seed=3).fit(X, y)
    pred = model.predict(X)
    np.testing.assert_array_equal(pred, model.predict(X))  # reproducible
    scores = classifiers.scores_from_predictions(y, pred, 7)
    assert scores["mean_diag"] == pytest.approx(1 / 7, abs=0.02)


def test_evaluate_cv_subject_independent_and_loso():
    X, y = _blobs(n=120, seed=4)
    groups = np.arange(120) % 6
    est = classifiers.SVMClassifier(kernel="linear", C_grid=(1.0,), cv=1)
    out = classifiers.evaluate_cv(est, X, y, GroupKFold(3), 3, groups=groups)
    assert set(out) >= {"mean_diag", "accuracy", "confusion", "per_class", "predictions"}
    assert out["confusion"].shape == (3, 3)
    np.testing.assert_allclose(out["confusion"].sum(axis=1), 100)
    assert out["mean_diag"] > 0.9
    loso = classifiers.evaluate_cv(est, X, y, LeaveOneGroupOut(), 3, groups=groups)
    assert loso["mean_diag"] > 0.9


def test_evaluate_split_and_factory():
    X, y = _blobs(seed=5)
    for name in classifiers.CLASSIFIERS:
        est = classifiers.make_classifier(name)
        clone(est)
        out = classifiers.evaluate_split(est, X[:150], y[:150], X[150:], y[150:], 3)
        assert 0 <= out["mean_diag"] <= 1


def test_bad_input():
    X, y = _blobs()
    with pytest.raises(ValueError, match="kernel"):
        classifiers.SVMClassifier(kernel="poly").fit(X, y)
    with pytest.raises(ValueError, match="two classes"):
        classifiers.SVMClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Expected 2D array"):
        classifiers.LDANearestNeighbor().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="unknown classifier"):
        classifiers.make_classifier("knn")


def test_stratified_subsample_keeps_proportions():
    y = np.repeat([0, 1, 2], [600, 300, 100])
    idx = classifiers.stratified_subsample(y, 100, seed=1)
    assert len(idx) == 100 and len(np.unique(idx)) == 100
    np.testing.assert_array_equal(np.bincount(y[idx]), [60, 30, 10])
    np.testing.assert_array_equal(idx, classifiers.stratified_subsample(y, 100, seed=1))
    with pytest.raises(ValueError, match="size"):
        classifiers.stratified_subsample(y, 0)


def test_evaluate_protocol_dispatch():
    X, y = _blobs(n=90, seed=6)
    est = classifiers.LDANearestNeighbor(pca_components=10)
    mask = np.arange(90) < 60
    split = classifiers.evaluate_protocol(est, X, y, 3, train_mask=mask)
    np.testing.assert_array_equal(split["predictions"], clone(est).fit(X[mask], y[mask]).predict(X[~mask]))
    folds = classifiers.evaluate_protocol(est, X, y, 3, cv=GroupKFold(3), groups=np.arange(90) % 9)
    assert len(folds["predictions"]) == 90
    with pytest.raises(ValueError, match="exactly one"):
        classifiers.evaluate_protocol(est, X, y, 3)


def test_svm_grid_search_with_a_rare_class():
    X, y = _blobs(n=60, seed=7)
    y[0] = 3  # a class with one training sample
    model = classifiers.SVMClassifier(C_grid=(1.0, 10.0), gamma_grid=(1.0,), cv=3).fit(X, y)
    assert set(model.classes_) == {0, 1, 2, 3}
