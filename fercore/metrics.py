"""Evaluation metrics of the RAF papers: mean diagonal of the confusion matrix, and the nine
multi-label criteria of RAF-ML §6.3.3.

Single-label (RAF-DB §5): "the mean diagonal value of the confusion matrix" — the mean of the
per-class recalls of the row-normalized confusion matrix (rows: true class), robust to class
imbalance — beside overall accuracy.

Multi-label (RAF-ML §6.3.3): ``Y`` is a 0/1 matrix ``(N, L)`` of true labels, ``Y_hat`` the
0/1 predictions, ``S`` real-valued scores (higher = more relevant) that rank the labels.
All functions return plain floats; values are fractions (not percent) unless the name says so.
"""

import numpy as np
from sklearn.metrics import roc_auc_score


def _labels_1d(y, name):
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
        arr = arr.astype(np.int64)
    return arr


def _check_pair(y_true, y_pred, n_classes):
    y_true = _labels_1d(y_true, "y_true")
    y_pred = _labels_1d(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("y_true is empty")
    if n_classes is None:
        n_classes = int(max(y_true.max(), y_pred.max())) + 1
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.min() < 0 or arr.max() >= n_classes:
            raise ValueError(f"{name} has class indices outside 0..{n_classes - 1}")
    return y_true, y_pred, int(n_classes)


# ---------------------------------------------------------------------------------------------
# Single-label
# ---------------------------------------------------------------------------------------------


def confusion_counts(y_true, y_pred, n_classes=None) -> np.ndarray:
    """Confusion matrix of counts ``(n_classes, n_classes)``; rows true class, columns predicted."""
    y_true, y_pred, n_classes = _check_pair(y_true, y_pred, n_classes)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(n_classes, n_classes)


def confusion_matrix_percent(y_true, y_pred, n_classes=None) -> np.ndarray:
    """Row-normalized confusion matrix in percent (each true class's row sums to 100).

    Rows of classes absent from ``y_true`` are NaN (no recall is defined for them).
    """
    counts = confusion_counts(y_true, y_pred, n_classes).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * counts / totals, np.nan)


def per_class_recall(y_true, y_pred, n_classes=None) -> np.ndarray:
    """Diagonal of the row-normalized confusion matrix as fractions (NaN for absent classes)."""
    return np.diag(confusion_matrix_percent(y_true, y_pred, n_classes)) / 100.0


def mean_diagonal(y_true, y_pred, n_classes=None) -> float:
    """Mean of the diagonal of the row-normalized confusion matrix (RAF-DB §5), a fraction.

    Equal to the mean per-class recall ("balanced accuracy") over the classes present in
    ``y_true``; classes never seen in ``y_true`` have no row and are left out of the mean.
    """
    recall = per_class_recall(y_true, y_pred, n_classes)
    return float(np.nanmean(recall))


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class is the true class."""
    y_true, y_pred, _ = _check_pair(y_true, y_pred, None)
    return float(np.mean(y_true == y_pred))


# ---------------------------------------------------------------------------------------------
# Multi-label (RAF-ML §6.3.3)
# ---------------------------------------------------------------------------------------------


def _label_matrix(y, name, shape=None):
    arr = np.asarray(y)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (samples, labels) array; got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; expected {shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _binary(y, name, shape=None):
    arr = _label_matrix(y, name, shape)
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return arr.astype(bool)


def _scores(s, shape):
    arr = _label_matrix(s, "scores", shape).astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("scores contain NaN or infinite values")
    return arr


def _rank_counts(y_true, scores):
    """For each sample and label j: how many labels k have ``s_k ≥ s_j`` (all, and relevant)."""
    ge = scores[:, None, :] >= scores[:, :, None]  # ge[i, j, k] = s_ik ≥ s_ij
    return ge.sum(axis=2), (ge & y_true[:, None, :]).sum(axis=2)


def hamming_loss(y_true, y_pred) -> float:
    """Fraction of wrong sample-label entries, ``1/(NL) Σ_i Σ_j 1[y_ij ≠ ŷ_ij]`` (RAF-ML §6.3.3 (1))."""
    y_true = _binary(y_true, "y_true")
    y_pred = _binary(y_pred, "y_pred", y_true.shape)
    return float(np.mean(y_true != y_pred))


def coverage(y_true, scores, *, from_one=False) -> float:
    """Ranking depth needed to cover every relevant label (RAF-ML §6.3.3 (2)).

    The paper prints ``1/N Σ_i max_{j: y_ij=1} |{k: s_ik ≥ s_ij}|`` — ranks counted from 1,
    which is scikit-learn's ``coverage_error`` (``from_one=True``). Its Table 3 numbers,
    however, follow the usual multi-label convention (Zhang & Zhou 2007; MULAN) of counting from
    0, i.e. the printed formula minus 1: RAF-ML images have 2–4 labels, so counting from 1 could
    never go below 2, yet Table 3 reports coverages of 1.95–1.97. The default,
    ``from_one=False``, is that convention, comparable with the paper's numbers. Ties count
    against the ranking (``≥``). Samples with no relevant label contribute 0.
    """
    y_true = _binary(y_true, "y_true")
    scores = _scores(scores, y_true.shape)
    n_ge, _ = _rank_counts(y_true, scores)
    depth = np.where(y_true, n_ge, 0).max(axis=1)
    if not from_one:
        depth = np.where(y_true.any(axis=1), depth - 1, 0)
    return float(depth.mean())


def one_error(y_true, scores) -> float:
    """Fraction of samples whose top-ranked label is not relevant (RAF-ML §6.3.3 (3)).

    With tied top scores the first label in column order is taken as the top one.
    """
    y_true = _binary(y_true, "y_true")
    scores = _scores(scores, y_true.shape)
    top = scores.argmax(axis=1)
    return float(np.mean(~y_true[np.arange(len(y_true)), top]))


def ranking_loss(y_true, scores, *, ties_are_errors=True) -> float:
    """Average fraction of (relevant, irrelevant) label pairs ranked in the wrong order
    (RAF-ML §6.3.3 (4)): ``|{(j,k): s_ij < s_ik, y_ij=1, y_ik=0}| / (|Y_i|·(L−|Y_i|))``.

    The paper prints a strict ``<`` (``ties_are_errors=False``); the standard definition
    (Zhang & Zhou 2007, their reference code, MULAN, scikit-learn's ``label_ranking_loss``)
    counts a tie ``s_ij = s_ik`` as an error, which matters for tree-based scores with many
    ties; that is the default. Samples with all or no labels relevant contribute 0.
    """
    y_true = _binary(y_true, "y_true")
    scores = _scores(scores, y_true.shape)
    compare = np.less_equal if ties_are_errors else np.less
    below = compare(scores[:, :, None], scores[:, None, :])  # below[i, j, k] = s_ij ≤ (<) s_ik
    wrong = (below & y_true[:, :, None] & ~y_true[:, None, :]).sum(axis=(1, 2))
    n_rel = y_true.sum(axis=1)
    pairs = n_rel * (y_true.shape[1] - n_rel)
    return float(np.mean(np.where(pairs > 0, wrong / np.maximum(pairs, 1), 0.0)))


def average_precision(y_true, scores) -> float:
    """Label-ranking average precision (RAF-ML §6.3.3 (5)):
    ``1/N Σ_i 1/|Y_i| Σ_{j∈Y_i} |{k∈Y_i: s_ik ≥ s_ij}| / |{k: s_ik ≥ s_ij}|``.

    Equal to scikit-learn's ``label_ranking_average_precision_score``; samples with no relevant
    label count as 1, as there.
    """
    y_true = _binary(y_true, "y_true")
    scores = _scores(scores, y_true.shape)
    n_ge, n_ge_relevant = _rank_counts(y_true, scores)
    precision = np.where(y_true, n_ge_relevant / n_ge, 0.0).sum(axis=1)
    n_rel = y_true.sum(axis=1)
    return float(np.mean(np.where(n_rel > 0, precision / np.maximum(n_rel, 1), 1.0)))


def _f1(tp, fp, fn):
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def micro_f1(y_true, y_pred) -> float:
    """F1 of the pooled counts over all labels: ``2ΣTP / (2ΣTP + ΣFP + ΣFN)`` (RAF-ML §6.3.3 (6))."""
    y_true = _binary(y_true, "y_true")
    y_pred = _binary(y_pred, "y_pred", y_true.shape)
    tp, fp, fn = (y_true & y_pred).sum(), (~y_true & y_pred).sum(), (y_true & ~y_pred).sum()
    return float(_f1(tp, fp, fn))


def macro_f1(y_true, y_pred) -> float:
    """Mean over labels of each label's F1 (RAF-ML §6.3.3 (6)); a label never true nor predicted
    scores 0 (scikit-learn's ``zero_division=0``)."""
    y_true = _binary(y_true, "y_true")
    y_pred = _binary(y_pred, "y_pred", y_true.shape)
    tp = (y_true & y_pred).sum(axis=0)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    return float(np.mean(_f1(tp, fp, fn)))


def micro_auc(y_true, scores) -> float:
    """Area under the ROC curve of all (sample, label) scores pooled (RAF-ML §6.3.3 (7))."""
    y_true = _binary(y_true, "y_true")
    scores = _scores(scores, y_true.shape)
    if y_true.all() or not y_true.any():
        raise ValueError("micro AUC needs both relevant and irrelevant entries in y_true")
    return float(roc_auc_score(y_true.ravel(), scores.ravel()))


def macro_auc(y_true, scores) -> float:
    """Mean over labels of each label's ROC AUC (RAF-ML §6.3.3 (7)).

    Labels that are relevant for all or for no test samples have no AUC and are left out.
    """
    y_true = _binary(y_true, "y_true")
    scores = _scores(scores, y_true.shape)
    defined = y_true.any(axis=0) & ~y_true.all(axis=0)
    if not defined.any():
        raise ValueError("macro AUC needs a label with both relevant and irrelevant samples")
    return float(np.mean([roc_auc_score(y_true[:, j], scores[:, j]) for j in np.flatnonzero(defined)]))


MULTILABEL_METRICS = (
    "hamming_loss",
    "coverage",
    "one_error",
    "ranking_loss",
    "average_precision",
    "micro_f1",
    "macro_f1",
    "micro_auc",
    "macro_auc",
)
"""The nine criteria of RAF-ML Table 3, in its column order (also the results-key names)."""

LOWER_IS_BETTER = {"hamming_loss", "coverage", "one_error", "ranking_loss"}
"""Criteria marked ↓ in RAF-ML Table 3; the others are ↑."""


def multilabel_report(y_true, y_pred, scores) -> dict[str, float]:
    """All nine RAF-ML criteria: predictions ``y_pred`` for the set-based ones (Hamming loss,
    F1), ``scores`` for the ranking-based ones (coverage, one-error, ranking loss, average
    precision, AUC)."""
    return {
        "hamming_loss": hamming_loss(y_true, y_pred),
        "coverage": coverage(y_true, scores),
        "one_error": one_error(y_true, scores),
        "ranking_loss": ranking_loss(y_true, scores),
        "average_precision": average_precision(y_true, scores),
        "micro_f1": micro_f1(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "micro_auc": micro_auc(y_true, scores),
        "macro_auc": macro_auc(y_true, scores),
    }


# ---------------------------------------------------------------------------------------------
# Label statistics (describing a dataset's labels rather than scoring predictions)
# ---------------------------------------------------------------------------------------------


def label_cardinality_counts(y_true, max_labels=None) -> np.ndarray:
    """How many samples carry 0, 1, 2, … labels: ``counts[m] = |{i: Σ_j y_ij = m}|``.

    RAF-ML §3.3 reports 3,954 / 913 / 41 images with 2 / 3 / 4 labels.
    """
    y_true = _binary(y_true, "y_true")
    per_sample = y_true.sum(axis=1)
    return np.bincount(per_sample, minlength=(y_true.shape[1] if max_labels is None else max_labels) + 1)


def label_cooccurrence(y_true) -> np.ndarray:
    """Co-occurrence counts ``C = YᵀY``: ``C[j, k]`` samples carry both labels ``j`` and ``k``
    (the diagonal counts each label's samples)."""
    y_true = _binary(y_true, "y_true").astype(np.int64)
    return y_true.T @ y_true


def occurrence_rates(presence, groups, n_groups) -> np.ndarray:
    """Per group, the fraction of samples showing each column: ``(n_groups, K)``, NaN for empty
    groups. E.g. RAF-DB Table 1: the share of each emotion's images showing each action unit."""
    presence = _binary(presence, "presence").astype(np.float64)
    groups = _labels_1d(groups, "groups")
    if len(groups) != len(presence):
        raise ValueError(f"groups has {len(groups)} entries for {len(presence)} samples")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise ValueError(f"groups has indices outside 0..{n_groups - 1}")
    totals = np.bincount(groups, minlength=n_groups).astype(np.float64)
    sums = np.zeros((n_groups, presence.shape[1]))
    np.add.at(sums, groups, presence)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals[:, None] > 0, sums / totals[:, None], np.nan)
