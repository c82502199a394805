"""Single-label classifiers of the RAF-DB baselines, and the evaluation protocols around them.

* :class:`SVMClassifier` — multi-class SVM (LibSVM's one-vs-one, as RAF-DB §3.2 and §5),
  linear or RBF kernel, ``C`` (and ``γ``) chosen by a cross-validated grid search on the
  training set, scored by the mean diagonal of the confusion matrix.
* :class:`LDANearestNeighbor` — PCA, then Fisher's LDA, then the nearest neighbour in the LDA
  space ("LDA with nearest neighbor (NN) classification", RAF-DB §5).
* :class:`UniformRandomClassifier` — the "naive emotion detector" floor: a uniformly random
  class per sample (RAF-DB §5).

All are scikit-learn estimators over feature matrices ``(n, d)`` with integer class labels;
:func:`evaluate_split` and :func:`evaluate_cv` run the papers' protocols and return the mean
diagonal, the accuracy and the confusion matrix in percent.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fercore import metrics


def fit_data(estimator, X, y):
    """``(X, y)`` checked as scikit-learn does when fitting (2-D finite float features, one class
    label per row, at least one sample); records ``n_features_in_``."""
    X, y = validate_data(estimator, X, y, dtype=np.float64)
    check_classification_targets(y)
    return X, y


def predict_data(estimator, X):
    """``X`` of a fitted estimator, checked against the features it was fitted on."""
    check_is_fitted(estimator)
    return validate_data(estimator, X, dtype=np.float64, reset=False)


def squared_distances(A, B) -> np.ndarray:
    """Pairwise squared Euclidean distances ``‖a_i − b_j‖²`` (clipped at 0)."""
    sq = np.einsum("ij,ij->i", A, A)[:, None] + np.einsum("ij,ij->i", B, B)[None, :] - 2.0 * A @ B.T
    return np.maximum(sq, 0.0)


def rbf_kernel_from_distances(sq_distances, gamma) -> np.ndarray:
    """Gaussian kernel ``exp(−γ‖a−b‖²)`` from precomputed squared distances."""
    return np.exp(-gamma * sq_distances)


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """Multi-class SVM with a cross-validated grid search over ``C`` (and ``γ`` for RBF).

    RAF-DB §3.2: "SVM with RBF kernel implemented by LibSVM [...] Parameters were optimized
    using grid search"; §5 reuses the setup. scikit-learn's ``SVC`` wraps LibSVM (one-vs-one
    multi-class). Features are standardized (z-scores from the training set). The Gram matrix is
    computed once and sliced for every fold and grid point.

    Parameters
    ----------
    kernel : ``"rbf"`` or ``"linear"``.
    C_grid : values of ``C`` tried.
    gamma_grid : multipliers of the base ``γ₀ = 1/d`` (scikit-learn's ``gamma="scale"`` on
        standardized features), RBF only.
    cv : folds of the stratified inner cross-validation (1 = no search: first grid values).
    class_weight : ``None`` (plain LibSVM, as the papers) or ``"balanced"``.
    seed : seeds the inner folds.
    """

    def __init__(self, kernel="rbf", C_grid=(1.0, 10.0, 100.0), gamma_grid=(0.25, 1.0, 4.0), cv=3,
                 class_weight=None, seed=0):
        self.kernel = kernel
        self.C_grid = C_grid
        self.gamma_grid = gamma_grid
        self.cv = cv
        self.class_weight = class_weight
        self.seed = seed

    def _gram(self, A, B, gamma, sq=None):
        if self.kernel == "linear":
            return A @ B.T
        return rbf_kernel_from_distances(squared_distances(A, B) if sq is None else sq, gamma)

    def fit(self, X, y):
        if self.kernel not in ("rbf", "linear"):
            raise ValueError(f"kernel must be 'rbf' or 'linear'; got {self.kernel!r}")
        if len(self.C_grid) == 0 or (self.kernel == "rbf" and len(self.gamma_grid) == 0):
            raise ValueError("C_grid (and gamma_grid for the RBF kernel) must not be empty")
        X, y = fit_data(self, X, y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("SVMClassifier needs at least two classes in y; got one class")
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        Z = (X - self.mean_) / self.scale_
        base_gamma = 1.0 / Z.shape[1]
        gammas = [base_gamma * g for g in self.gamma_grid] if self.kernel == "rbf" else [None]
        grid = [(C, g) for g in gammas for C in self.C_grid]
        sq = squared_distances(Z, Z) if self.kernel == "rbf" else None
        self.cv_scores_ = {}
        if self.cv > 1 and len(grid) > 1:
            smallest = np.bincount(np.unique(y, return_inverse=True)[1]).min()
            n_splits = min(self.cv, max(2, smallest))
            with warnings.catch_warnings():  # a class rarer than the folds just misses some folds
                warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
                folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=self.seed).split(Z, y))
            for gamma in gammas:
                K = self._gram(Z, Z, gamma, sq)
                for C in self.C_grid:
                    predictions = np.empty_like(y)
                    for train, test in folds:
                        svm = SVC(C=C, kernel="precomputed", class_weight=self.class_weight)
                        svm.fit(K[np.ix_(train, train)], y[train])
                        predictions[test] = svm.predict(K[np.ix_(test, train)])
                    codes = np.searchsorted(self.classes_, [y, predictions])
                    self.cv_scores_[(C, gamma)] = metrics.mean_diagonal(codes[0], codes[1], len(self.classes_))
            self.C_, self.gamma_ = max(grid, key=lambda p: self.cv_scores_[p])
        else:
            self.C_, self.gamma_ = grid[0]
        self.train_ = Z
        self.svm_ = SVC(C=self.C_, kernel="precomputed", class_weight=self.class_weight)
        self.svm_.fit(self._gram(Z, Z, self.gamma_, sq), y)
        return self

    def decision_function(self, X):
        Z = (predict_data(self, X) - self.mean_) / self.scale_
        return self.svm_.decision_function(self._gram(Z, self.train_, self.gamma_))

    def predict(self, X):
        Z = (predict_data(self, X) - self.mean_) / self.scale_
        return self.svm_.predict(self._gram(Z, self.train_, self.gamma_))


class LDANearestNeighbor(ClassifierMixin, TransformerMixin, BaseEstimator):
    """PCA → Fisher LDA → nearest neighbour in the LDA space (RAF-DB §5, "LDA+NN").

    With more feature dimensions than samples the within-class scatter is singular, so the
    features are first projected on their leading principal components (the Fisherfaces recipe,
    Belhumeur et al. 1997), at most ``n_samples − n_classes`` of them.

    Parameters
    ----------
    pca_components : principal components kept before LDA (capped at ``n − n_classes``).
    n_neighbors : neighbours voting in the LDA space (1 = nearest neighbour).
    seed : seeds the randomized PCA.
    """

    def __init__(self, pca_components=200, n_neighbors=1, seed=0):
        self.pca_components = pca_components
        self.n_neighbors = n_neighbors
        self.seed = seed

    def fit(self, X, y):
        X, y = fit_data(self, X, y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("LDANearestNeighbor needs at least two classes in y; got one class")
        n_components = int(min(self.pca_components, len(X) - len(self.classes_), X.shape[1]))
        if n_components < 1:
            raise ValueError(f"too few samples ({len(X)}) for {len(self.classes_)} classes")
        self.pca_ = PCA(n_components=n_components, svd_solver="randomized", random_state=self.seed).fit(X)
        P = self.pca_.transform(X)
        self.lda_ = LinearDiscriminantAnalysis(solver="svd").fit(P, y)
        self.knn_ = KNeighborsClassifier(n_neighbors=self.n_neighbors).fit(self.lda_.transform(P), y)
        return self

    def transform(self, X):
        """Coordinates in the LDA space (at most ``n_classes − 1`` dimensions)."""
        X = predict_data(self, X)
        return self.lda_.transform(self.pca_.transform(X))

    def predict(self, X):
        coordinates = self.transform(X)
        return self.knn_.predict(coordinates)


class UniformRandomClassifier(ClassifierMixin, BaseEstimator):
    """The "naive emotion detector" of RAF-DB §5: a uniformly random training class per sample.

    Its expected mean diagonal is ``1/K`` for ``K`` classes — the floor any real classifier
    must clear. Predictions are reproducible: the generator is re-seeded on every call.
    """

    def __init__(self, seed=0):
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # chance level by design
        return tags

    def fit(self, X, y):
        X, y = fit_data(self, X, y)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        n = len(predict_data(self, X))
        return np.random.default_rng(self.seed).choice(self.classes_, size=n)


CLASSIFIERS = {
    "svm": lambda **kw: SVMClassifier(kernel="rbf", **kw),
    "linear_svm": lambda **kw: SVMClassifier(kernel="linear", **kw),
    "lda": LDANearestNeighbor,
    "random": UniformRandomClassifier,
}
"""Classifiers by the names used in results keys: ``svm`` (RBF, the papers' mSVM),
``linear_svm``, ``lda`` (LDA+NN), ``random`` (the naive detector)."""


def make_classifier(name: str, **params):
    """A classifier by name (see :data:`CLASSIFIERS`), with its parameters."""
    try:
        factory = CLASSIFIERS[name]
    except KeyError:
        raise ValueError(f"unknown classifier {name!r}; choose one of {sorted(CLASSIFIERS)}") from None
    return factory(**params)


def scores_from_predictions(y_true, y_pred, n_classes) -> dict:
    """``mean_diag``, ``accuracy``, ``per_class`` recall and ``confusion`` (percent) of predictions."""
    return {
        "mean_diag": metrics.mean_diagonal(y_true, y_pred, n_classes),
        "accuracy": metrics.accuracy(y_true, y_pred),
        "per_class": metrics.per_class_recall(y_true, y_pred, n_classes),
        "confusion": metrics.confusion_matrix_percent(y_true, y_pred, n_classes),
        "predictions": np.asarray(y_pred),
    }


def evaluate_split(estimator, X_train, y_train, X_test, y_test, n_classes) -> dict:
    """Fit a clone on the training set, predict the test set, and score it
    (:func:`scores_from_predictions`). RAF-DB's train/test protocol and the cross-database study."""
    model = clone(estimator).fit(X_train, y_train)
    return scores_from_predictions(y_test, model.predict(X_test), n_classes)


def evaluate_cv(estimator, X, y, cv, n_classes, groups=None) -> dict:
    """Out-of-fold predictions of ``cv`` (a scikit-learn splitter), pooled, then scored.

    ``GroupKFold``/``StratifiedGroupKFold`` with subject ids as ``groups`` give CK+'s
    person-independent 5-fold protocol; ``LeaveOneGroupOut`` gives JAFFE's
    leave-one-subject-out. The confusion matrix pools every fold's test predictions.
    """
    predictions = cross_val_predict(estimator, X, y, groups=groups, cv=cv)
    return scores_from_predictions(y, predictions, n_classes)


def evaluate_protocol(estimator, X, y, n_classes, *, cv=None, groups=None, train_mask=None) -> dict:
    """One protocol call for the papers' three: a fixed train/test split (``train_mask``, the
    rest is the test set; RAF-DB), or cross-validation ``cv`` with subject ``groups`` (CK+'s
    person-independent folds, JAFFE's leave-one-subject-out). Returns
    :func:`scores_from_predictions` of the test predictions."""
    if (cv is None) == (train_mask is None):
        raise ValueError("give exactly one of cv (cross-validation) or train_mask (train/test split)")
    if train_mask is not None:
        train_mask = np.asarray(train_mask, dtype=bool)
        if train_mask.shape != (len(y),) or train_mask.all() or not train_mask.any():
            raise ValueError("train_mask must be a boolean mask over the samples with both train and test samples")
        return evaluate_split(estimator, X[train_mask], y[train_mask], X[~train_mask], y[~train_mask], n_classes)
    return evaluate_cv(estimator, X, y, cv, n_classes, groups=groups)


def stratified_subsample(y, size, seed=0) -> np.ndarray:
    """Sorted indices of a random subset of ``size`` samples with ``y``'s class proportions
    (largest remainders), e.g. to balance two databases' sizes (RAF-DB §3.2)."""
    y = np.asarray(y)
    if not 0 < size <= len(y):
        raise ValueError(f"size must be between 1 and {len(y)}; got {size}")
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = counts * size / len(y)
    take = np.floor(quota).astype(int)
    take[np.argsort(-(quota - take), kind="stable")[: size - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(inverse == c), size=take[c], replace=False) for c in range(len(classes))]
    return np.sort(np.concatenate(picked))
