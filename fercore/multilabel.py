"""The six multi-label classifiers of RAF-ML Table 3 (§6.3.2), as scikit-learn estimators.

Each estimator takes features ``X`` ``(n, d)`` and a 0/1 label matrix ``Y`` ``(n, L)``;
``predict`` returns a 0/1 matrix and ``decision_function`` real-valued label scores (higher =
more relevant) for the ranking-based metrics of :mod:`fercore.metrics`.

=============================  =======================================  =====================
class                          method                                   RAF-ML setting
=============================  =======================================  =====================
:class:`CalibratedLabelRanking` CLR, Fürnkranz et al. (2008)            decision-tree base
:class:`RAkEL`                  RAkEL-o, Tsoumakas et al. (2011)         k=3, n=12, tree base
:class:`MLkNN`                  ML-kNN, Zhang & Zhou (2007)              k=100, smoothing 1
:class:`MLLOC`                  ML-LOC, Huang & Zhou (2012)              15 codes, RBF SVM
:class:`LIFT`                   LIFT, Zhang & Wu (2015)                  ratio 0.1, RBF SVM
:class:`ML2`                    ML², Hou, Geng & Zhang (2016)            k=7, C1=C2=λ=1
=============================  =======================================  =====================

scikit-multilearn 0.2.0 was checked and not used: its ``MLkNN`` cannot be fitted with current
scikit-learn (and counts each training sample as its own neighbour unless told to skip one
neighbour, which it then also skips at prediction time); its ``RakelO`` draws ``n + 1`` label
sets with Python's unseeded global ``random`` and has no scores, only majority votes. The tests
check our MLkNN's probability tables and our RAkEL's votes against scikit-multilearn's.

The decision trees stand in for Weka's J48 (C4.5): entropy splits, at least two samples per
leaf, no post-pruning. Kernel methods standardize the features and use scikit-learn's
``gamma="scale"`` RBF width, ``1/(d·Var)`` (``1/d`` on standardized features), times
``gamma_scale``.
"""

from itertools import combinations
from math import comb

import numpy as np
import scipy.sparse
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted, validate_data

from fercore import metrics
from fercore.classifiers import rbf_kernel_from_distances, squared_distances


def j48_like_tree(seed=0):
    """A C4.5-like decision tree (entropy, ≥ 2 samples per leaf), the base learner of CLR/RAkEL."""
    return DecisionTreeClassifier(criterion="entropy", min_samples_leaf=2, random_state=seed)


class _MultiLabel(ClassifierMixin, BaseEstimator):
    """Shared plumbing: ``predict`` thresholds ``decision_function`` at ``threshold_``."""

    threshold_ = 0.0

    def _fit_data(self, X, Y):
        """``(X, Y)`` checked as scikit-learn does (2-D finite float features, a (samples, labels)
        0/1 matrix); records ``n_features_in_`` and ``classes_`` (each label is 0 or 1)."""
        X, Y = validate_data(self, X, Y, dtype=np.float64, multi_output=True)
        if Y.ndim != 2:
            raise ValueError(f"Y must be a (samples, labels) 0/1 matrix with {len(X)} rows; got shape {Y.shape}")
        if not np.isin(Y, (0, 1)).all():
            raise ValueError("Y must contain only 0 and 1 (a multilabel-indicator matrix); Unknown label type")
        self.classes_ = np.array([0, 1])
        return X, Y.astype(np.int64)

    def _predict_data(self, X):
        """``X`` of a fitted estimator, checked against the features it was fitted on."""
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def predict(self, X):
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def score(self, X, Y, sample_weight=None):
        """Average precision of the label ranking (higher is better)."""
        return metrics.average_precision(Y, self.decision_function(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags


def _positive_probability(model, X):
    """P(class 1) of a fitted binary classifier (0 or 1 if it saw only one class)."""
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(X))


class _Standardized:
    """Z-scores from the training set, and the RBF Gram matrices built on them."""

    def _standardize_fit(self, X):
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        self.train_ = (X - self.mean_) / self.scale_
        self.gamma_ = self.gamma_scale / self.train_.shape[1]
        return self.train_

    def _standardize(self, X):
        return (X - self.mean_) / self.scale_

    def _gram(self, Z):
        """The RBF kernel between standardized rows ``Z`` and the standardized training set."""
        return rbf_kernel_from_distances(squared_distances(Z, self.train_), self.gamma_)


# ---------------------------------------------------------------------------------------------
# CLR
# ---------------------------------------------------------------------------------------------


class CalibratedLabelRanking(_MultiLabel):
    """Calibrated label ranking (Fürnkranz, Hüllermeier, Loza Mencía & Brinker 2008).

    One binary model per label pair ``(j, k)``, trained on the samples where exactly one of the
    two is relevant (does ``j`` beat ``k``?), plus one per label against a virtual "calibration"
    label (is ``j`` relevant?). Label ``j`` collects the votes ``P(j ≻ k)`` of its pairwise
    models and ``P(j ≻ virtual)``; the virtual label collects ``Σ_j (1 − P(j ≻ virtual))``.
    ``decision_function`` returns each label's votes minus the virtual label's, so the relevant
    labels — those ranked above the virtual label — are the positive ones. Votes are the base
    models' probabilities (soft voting), which also breaks ties in the ranking.
    """

    def __init__(self, base_estimator=None, seed=0):
        self.base_estimator = base_estimator
        self.seed = seed

    def _base(self):
        return j48_like_tree(self.seed) if self.base_estimator is None else clone(self.base_estimator)

    def fit(self, X, Y):
        X, Y = self._fit_data(X, Y)
        self.n_labels_ = Y.shape[1]
        self.pairwise_ = {}
        for j, k in combinations(range(self.n_labels_), 2):
            differ = Y[:, j] != Y[:, k]
            target = Y[differ, j]
            if target.size and 0 < target.sum() < target.size:
                self.pairwise_[(j, k)] = self._base().fit(X[differ], target)
            else:
                self.pairwise_[(j, k)] = float(target.mean()) if target.size else 0.5
        self.calibration_ = []
        for j in range(self.n_labels_):
            if 0 < Y[:, j].sum() < len(Y):
                self.calibration_.append(self._base().fit(X, Y[:, j]))
            else:
                self.calibration_.append(float(Y[0, j]))
        return self

    def decision_function(self, X):
        check_is_fitted(self, "calibration_")
        X = self._predict_data(X)
        votes = np.zeros((len(X), self.n_labels_))
        for (j, k), model in self.pairwise_.items():
            p = np.full(len(X), model) if isinstance(model, float) else _positive_probability(model, X)
            votes[:, j] += p
            votes[:, k] += 1 - p
        relevant = np.column_stack([
            np.full(len(X), m) if isinstance(m, float) else _positive_probability(m, X) for m in self.calibration_
        ])
        votes += relevant
        virtual = (1 - relevant).sum(axis=1, keepdims=True)
        return votes - virtual


# ---------------------------------------------------------------------------------------------
# RAkEL
# ---------------------------------------------------------------------------------------------


def random_labelsets(n_labels, labelset_size, n_models, seed):
    """``n_models`` distinct random ``labelset_size``-subsets of the labels, together covering
    every label (redrawn until they do), as sorted tuples."""
    if not 1 <= labelset_size <= n_labels:
        raise ValueError(f"labelset_size must be between 1 and {n_labels}; got {labelset_size}")
    if n_models > comb(n_labels, labelset_size):
        raise ValueError(f"only {comb(n_labels, labelset_size)} distinct {labelset_size}-labelsets exist "
                         f"among {n_labels} labels; n_models={n_models} is too many")
    if n_models * labelset_size < n_labels:
        raise ValueError(f"{n_models} labelsets of {labelset_size} labels cannot cover {n_labels} labels")
    rng = np.random.default_rng(seed)
    all_sets = list(combinations(range(n_labels), labelset_size))
    while True:
        chosen = [all_sets[i] for i in rng.choice(len(all_sets), size=n_models, replace=False)]
        if len(set().union(*chosen)) == n_labels:
            return chosen


class RAkEL(_MultiLabel):
    """Random k-labelsets, overlapping version RAkEL-o (Tsoumakas, Katakis & Vlahavas 2011).

    ``n_models`` label-powerset classifiers, each on a random distinct labelset of
    ``labelset_size`` labels (every label covered): each learns the joint assignment of its
    labels as one multi-class problem. A label is predicted when the average of the hard votes
    of the models containing it exceeds ``threshold`` (0.5). ``decision_function`` is the soft
    version — the average over those models of the probability that the label is on — minus
    ``threshold``, which ranks the labels.
    """

    def __init__(self, labelset_size=3, n_models=12, base_estimator=None, threshold=0.5, seed=0):
        self.labelset_size = labelset_size
        self.n_models = n_models
        self.base_estimator = base_estimator
        self.threshold = threshold
        self.seed = seed

    def fit(self, X, Y):
        X, Y = self._fit_data(X, Y)
        self.n_labels_ = Y.shape[1]
        self.labelsets_ = random_labelsets(self.n_labels_, self.labelset_size, self.n_models, self.seed)
        self.models_ = []
        for i, labelset in enumerate(self.labelsets_):
            sub = Y[:, labelset]
            combos, classes = np.unique(sub, axis=0, return_inverse=True)
            base = j48_like_tree(self.seed + i) if self.base_estimator is None else clone(self.base_estimator)
            model = base.fit(X, classes.ravel()) if len(combos) > 1 else None
            self.models_.append((model, combos))
        return self

    def _votes(self, X, soft):
        X = self._predict_data(X)
        total = np.zeros((len(X), self.n_labels_))
        count = np.zeros(self.n_labels_)
        for labelset, (model, combos) in zip(self.labelsets_, self.models_):
            if model is None:
                on = np.repeat(combos[:1], len(X), axis=0).astype(float)
            elif soft:
                on = model.predict_proba(X) @ combos[model.classes_]
            else:
                on = combos[model.predict(X)].astype(float)
            total[:, labelset] += on
            count[list(labelset)] += 1
        return total / count

    def decision_function(self, X):
        check_is_fitted(self, "models_")
        return self._votes(X, soft=True) - self.threshold

    def predict(self, X):
        check_is_fitted(self, "models_")
        return (self._votes(X, soft=False) > self.threshold).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# MLkNN
# ---------------------------------------------------------------------------------------------


class MLkNN(_MultiLabel):
    """Multi-label k-nearest neighbours (Zhang & Zhou 2007), a MAP rule per label.

    With ``s`` the smoothing and ``C_j`` the number of the ``k`` nearest training samples that
    have label ``j``: prior ``P(H_j) = (s + Σ_i y_ij) / (2s + n)``; likelihood
    ``P(C_j = c | H_j) = (s + κ_j[c]) / (s(k+1) + Σ_c κ_j[c])``, where ``κ_j[c]`` counts the
    training samples with (or, for ``¬H_j``, without) label ``j`` whose ``k`` neighbours —
    excluding the sample itself — hold ``c`` samples with label ``j``. ``decision_function`` is
    the posterior ``P(H_j | C_j)``; a label is predicted when it exceeds ½ (``P(H_j)P(C_j|H_j) >
    P(¬H_j)P(C_j|¬H_j)``).
    """

    threshold_ = 0.5

    def __init__(self, k=100, smoothing=1.0):
        self.k = k
        self.smoothing = smoothing

    def _neighbour_counts(self, neighbours):
        return self.Y_[neighbours].sum(axis=1)

    def fit(self, X, Y):
        X, Y = self._fit_data(X, Y)
        n = len(X)
        if not 1 <= self.k < n:
            raise ValueError(f"k must be between 1 and n_samples − 1 = {n - 1} (n_samples = {n}); got {self.k}")
        self.Y_ = Y
        self.nn_ = NearestNeighbors(n_neighbors=self.k).fit(X)
        idx = self.nn_.kneighbors(X, n_neighbors=self.k + 1, return_distance=False)
        is_self = idx == np.arange(n)[:, None]
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), self.k)  # self, else the farthest
        keep = np.ones_like(idx, dtype=bool)
        keep[np.arange(n), drop] = False
        counts = self._neighbour_counts(idx[keep].reshape(n, self.k))  # (n, L) in 0..k
        s, k, L = self.smoothing, self.k, Y.shape[1]
        self.prior_ = (s + Y.sum(axis=0)) / (2 * s + n)
        kappa_true = np.zeros((L, k + 1))
        kappa_false = np.zeros((L, k + 1))
        for j in range(L):
            kappa_true[j] = np.bincount(counts[Y[:, j] == 1, j], minlength=k + 1)
            kappa_false[j] = np.bincount(counts[Y[:, j] == 0, j], minlength=k + 1)
        self.cond_true_ = (s + kappa_true) / (s * (k + 1) + kappa_true.sum(axis=1, keepdims=True))
        self.cond_false_ = (s + kappa_false) / (s * (k + 1) + kappa_false.sum(axis=1, keepdims=True))
        return self

    def decision_function(self, X):
        check_is_fitted(self, "cond_true_")
        counts = self._neighbour_counts(self.nn_.kneighbors(self._predict_data(X), return_distance=False))
        labels = np.arange(self.Y_.shape[1])
        on = self.prior_ * self.cond_true_[labels, counts]
        off = (1 - self.prior_) * self.cond_false_[labels, counts]
        return on / (on + off)


# ---------------------------------------------------------------------------------------------
# ML-LOC
# ---------------------------------------------------------------------------------------------


class MLLOC(_Standardized, _MultiLabel):
    """Multi-label learning by exploiting label correlations locally (Huang & Zhou 2012),
    simplified.

    ML-LOC appends to each instance a LOC code of length ``m`` saying how strongly each of ``m``
    local label-correlation groups (clusters of label vectors, initialized by k-means) bears on
    it, learns per-label SVMs on ``[x, code]``, and at test time predicts the code from ``x``
    with regressors. Here the groups are the k-means clusters of the training label vectors,
    the code of a training instance is its soft membership ``softmax_j(−‖y − p_j‖²)``, and it is
    kept fixed — the paper's alternating refinement of codes, prototypes and classifiers is left
    out. Codes are predicted by RBF ε-SVRs; each label's classifier is an RBF SVM on the product
    kernel ``exp(−γ_x‖x−x'‖²)·exp(−γ_c‖c−c'‖²)`` (``γ_c = 1/m``).
    """

    def __init__(self, n_codes=15, C=1.0, gamma_scale=1.0, seed=0):
        self.n_codes = n_codes
        self.C = C
        self.gamma_scale = gamma_scale
        self.seed = seed

    def fit(self, X, Y):
        X, Y = self._fit_data(X, Y)
        Z = self._standardize_fit(X)
        n_clusters = min(self.n_codes, len(np.unique(Y, axis=0)))
        km = KMeans(n_clusters=n_clusters, n_init=10, random_state=self.seed).fit(Y.astype(float))
        self.prototypes_ = km.cluster_centers_
        codes = self._codes(Y)
        self.gamma_code_ = 1.0 / codes.shape[1]
        K = self._gram(Z)
        self.code_regressors_ = [SVR(kernel="precomputed", C=self.C).fit(K, codes[:, j])
                                 for j in range(codes.shape[1])]
        K_full = K * rbf_kernel_from_distances(squared_distances(codes, codes), self.gamma_code_)
        self.train_codes_ = codes
        self.classifiers_ = [_binary_svm(K_full, Y[:, j], self.C) for j in range(Y.shape[1])]
        return self

    def _codes(self, Y):
        logits = -squared_distances(Y.astype(float), self.prototypes_)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def decision_function(self, X):
        check_is_fitted(self, "classifiers_")
        K = self._gram(self._standardize(self._predict_data(X)))
        codes = np.column_stack([r.predict(K) for r in self.code_regressors_])
        K_full = K * rbf_kernel_from_distances(squared_distances(codes, self.train_codes_), self.gamma_code_)
        return np.column_stack([_binary_svm_scores(m, K_full) for m in self.classifiers_])


def _binary_svm(K, y, C):
    """An RBF SVM on a precomputed Gram matrix, or the constant label if ``y`` has one class."""
    if 0 < y.sum() < len(y):
        return SVC(kernel="precomputed", C=C).fit(K, y)
    return float(y[0])


def _binary_svm_scores(model, K):
    """Signed distance to the margin (positive = label on) of a :func:`_binary_svm`."""
    if isinstance(model, float):
        return np.full(len(K), 1.0 if model else -1.0)
    return model.decision_function(K)


# ---------------------------------------------------------------------------------------------
# LIFT
# ---------------------------------------------------------------------------------------------


class LIFT(_Standardized, _MultiLabel):
    """Multi-label learning with label-specific features (Zhang & Wu 2015).

    For each label ``j``: k-means with ``m_j = ⌈r·min(|P_j|, |N_j|)⌉`` clusters on its positive
    instances and ``m_j`` on its negative ones; the label-specific representation of an instance
    is its Euclidean distance to those ``2m_j`` centres; an RBF SVM is trained on it (RAF-ML
    §6.3.2: "RBF kernel is used in the SVM model"). Scores are the SVMs' signed margins.
    """

    def __init__(self, ratio=0.1, C=1.0, gamma_scale=1.0, seed=0):
        self.ratio = ratio
        self.C = C
        self.gamma_scale = gamma_scale
        self.seed = seed

    def fit(self, X, Y):
        X, Y = self._fit_data(X, Y)
        if not 0 < self.ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1]; got {self.ratio}")
        Z = self._standardize_fit(X)
        self.centres_, self.classifiers_ = [], []
        for j in range(Y.shape[1]):
            pos, neg = Z[Y[:, j] == 1], Z[Y[:, j] == 0]
            m = int(np.ceil(self.ratio * min(len(pos), len(neg))))
            if m == 0:
                self.centres_.append(None)
                self.classifiers_.append(float(Y[0, j]))
                continue
            centres = np.concatenate([
                KMeans(n_clusters=m, n_init=1, random_state=self.seed).fit(part).cluster_centers_
                for part in (pos, neg)
            ])
            F = np.sqrt(squared_distances(Z, centres))
            gamma = self.gamma_scale / F.shape[1] / max(F.var(), 1e-12)
            K = rbf_kernel_from_distances(squared_distances(F, F), gamma)
            self.centres_.append((centres, F, gamma))
            self.classifiers_.append(_binary_svm(K, Y[:, j], self.C))
        return self

    def decision_function(self, X):
        check_is_fitted(self, "classifiers_")
        Z = self._standardize(self._predict_data(X))
        scores = []
        for stored, model in zip(self.centres_, self.classifiers_):
            if stored is None:
                scores.append(_binary_svm_scores(model, Z))
                continue
            centres, F_train, gamma = stored
            F = np.sqrt(squared_distances(Z, centres))
            scores.append(_binary_svm_scores(model, rbf_kernel_from_distances(squared_distances(F, F_train), gamma)))
        return np.column_stack(scores)


# ---------------------------------------------------------------------------------------------
# ML²
# ---------------------------------------------------------------------------------------------


def reconstruction_weights(X, k, reg=1e-3):
    """Locally linear reconstruction weights (Roweis & Saul 2000) as a sparse ``(n, n)`` matrix.

    Row ``i`` holds the weights ``w`` of the ``k`` nearest neighbours of ``x_i`` minimizing
    ``‖x_i − Σ_j w_j x_j‖²`` subject to ``Σ_j w_j = 1`` (local Gram matrix regularized by
    ``reg·trace``), all rows solved in one batched linear solve.
    """
    n = len(X)
    idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X, return_distance=False)
    is_self = idx == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    neighbours = idx[keep].reshape(n, k)
    gram = np.empty((n, k, k))
    for start in range(0, n, 256):  # chunks bound the (chunk, k, d) differences in memory
        rows = slice(start, start + 256)
        diffs = X[neighbours[rows]] - X[rows, None, :]
        gram[rows] = diffs @ diffs.transpose(0, 2, 1)
    trace = np.trace(gram, axis1=1, axis2=2)
    gram += (reg * np.where(trace > 0, trace, 1.0))[:, None, None] * np.eye(k)
    w = np.linalg.solve(gram, np.ones((n, k, 1)))[..., 0]
    w /= w.sum(axis=1, keepdims=True)
    return scipy.sparse.csr_matrix((w.ravel(), neighbours.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))


def label_manifold(W, Y, margin=1.0, ridge=1e-3):
    """ML² step 1 (Hou, Geng & Zhang 2016): numerical labels ``μ`` that keep the feature
    manifold's local structure and agree in sign with the logical labels.

    Per label, the quadratic programme ``min_μ Σ_i (μ_i − Σ_j W_ij μ_j)² + ridge·‖μ‖²`` subject
    to ``y_i μ_i ≥ λ`` (``y ∈ {−1, +1}``, ``λ = margin``), solved by L-BFGS-B (the constraints
    are bounds). The small ridge term (not in the paper) makes the solution unique where the
    reconstruction leaves directions free (e.g. linear functions when ``k`` exceeds the
    feature dimension).
    """
    n, L = Y.shape
    signs = 2.0 * Y - 1.0
    A = scipy.sparse.identity(n, format="csr") - W
    M = (A.T @ A + ridge * scipy.sparse.identity(n)).tocsr()

    def objective(m):
        Mm = M @ m
        return m @ Mm, 2 * Mm

    mu = np.empty((n, L))
    for j in range(L):
        bounds = [(margin, None) if y > 0 else (None, -margin) for y in signs[:, j]]
        mu[:, j] = minimize(objective, margin * signs[:, j], jac=True, method="L-BFGS-B", bounds=bounds).x
    return mu


class ML2(_Standardized, _MultiLabel):
    """Multi-label manifold learning, ML² (Hou, Geng & Zhang 2016), simplified.

    Step 1 reconstructs each instance from its ``k`` nearest neighbours (locally linear weights)
    and transfers that structure to numerical labels ``μ`` with ``y·μ ≥ λ``
    (:func:`label_manifold`). Step 2 regresses ``μ`` on the features; a label is on when its
    predicted ``μ`` is positive. The paper's step 2 is one multi-output SVR (MSVR, ε-insensitive
    on the whole label vector, weight ``C1``) plus a sign-consistency penalty (weight ``C2``);
    here it is an RBF ε-SVR per label with ``C = C1``, and the ``C2`` term is left out (the
    parameter is kept so the paper's setting can be stated).
    """

    def __init__(self, k=7, C1=1.0, C2=1.0, margin=1.0, gamma_scale=1.0):
        self.k = k
        self.C1 = C1
        self.C2 = C2
        self.margin = margin
        self.gamma_scale = gamma_scale

    def fit(self, X, Y):
        X, Y = self._fit_data(X, Y)
        if not 1 <= self.k < len(X):
            raise ValueError(f"k must be between 1 and n_samples − 1 = {len(X) - 1} (n_samples = {len(X)}); got {self.k}")
        Z = self._standardize_fit(X)
        self.mu_ = label_manifold(reconstruction_weights(Z, self.k), Y, self.margin)
        K = self._gram(Z)
        self.regressors_ = [SVR(kernel="precomputed", C=self.C1).fit(K, self.mu_[:, j]) for j in range(Y.shape[1])]
        return self

    def decision_function(self, X):
        check_is_fitted(self, "regressors_")
        K = self._gram(self._standardize(self._predict_data(X)))
        return np.column_stack([r.predict(K) for r in self.regressors_])


MULTILABEL_CLASSIFIERS = {
    "clr": CalibratedLabelRanking,
    "rakel": RAkEL,
    "mlknn": MLkNN,
    "mlloc": MLLOC,
    "lift": LIFT,
    "ml2": ML2,
}
"""The six classifiers by the names used in results keys, in RAF-ML Table 3's order, with the
paper's settings as their defaults."""


def make_multilabel(name: str, **params):
    """A multi-label classifier by name (see :data:`MULTILABEL_CLASSIFIERS`)."""
    try:
        return MULTILABEL_CLASSIFIERS[name](**params)
    except KeyError:
        raise ValueError(f"unknown multi-label classifier {name!r}; choose one of {sorted(MULTILABEL_CLASSIFIERS)}") from None


def evaluate_multilabel(estimator, X_train, Y_train, X_test, Y_test) -> dict[str, float]:
    """Fit a clone, then the nine RAF-ML criteria on the test set (:func:`metrics.multilabel_report`)."""
    model = clone(estimator).fit(X_train, Y_train)
    return metrics.multilabel_report(Y_test, model.predict(X_test), model.decision_function(X_test))
