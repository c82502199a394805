"""RAF's ground truth from the crowd: the annotators kept, the reliability-weighted 7-d vector of
each image, and the rules that partition the images into the single-label, two-tab (compound)
and multi-label subsets.

References
----------
* RAF-DB: Li, Deng & Du, CVPR 2017, §3.1 "Subset Partitions".
* RAF-ML: Li & Deng, IJCV 2019, §3.3 (multi-label expression selection).
"""

import numpy as np
import pandas as pd

from fercore.crowd import encode_votes
from fercore.labels import BASIC7, COMPOUND11, COMPOUND_COMPONENTS

NEUTRAL = BASIC7.index("neutral")


def filter_annotators(alphas, min_alpha=0.0) -> pd.Series:
    """Annotators to keep: a boolean Series, True where α_i > ``min_alpha``.

    The papers kept 285 of 315 annotators "after revision" without giving the rule. With α > 0,
    the rule used here, an annotator is kept when σ(α_i β) > 1/2 for every image, i.e. when they
    are more often right than wrong; random voters in a 7-class GLAD get α < 0 and are dropped.
    """
    alphas = pd.Series(alphas)
    if alphas.isna().any():
        raise ValueError("alphas contain NaN")
    return (alphas > min_alpha).rename("kept")


def ground_truth_vectors(data, alphas, n_classes=7, clip_negative=True) -> pd.DataFrame:
    """RAF-DB's 7-dimensional ground truth per image, g_k = Σ_i α_i 1[t_ij = k] (RAF-DB §3.1
    "Subset Partitions"; RAF-ML §3.3), normalized to sum to 1.

    ``alphas``: a Series of reliabilities indexed by worker (every worker in ``data`` needs one).
    ``clip_negative``: use max(α_i, 0). GLAD gives random voters α < 0 in a 7-class model, and
    without clipping their votes count *against* the class they chose. Rows are divided by
    Σ_k |g_k| (the sum when every α ≥ 0); a row whose weights are all zero stays zero.
    Returns a (n_tasks, n_classes) DataFrame indexed by task.
    """
    votes = encode_votes(data, n_classes)
    alphas = pd.Series(alphas)
    weight = alphas.reindex(votes.workers).to_numpy(dtype=float)
    if np.isnan(weight).any():
        absent = list(votes.workers[np.isnan(weight)][:5])
        raise ValueError(f"alphas has no (or a NaN) value for worker(s) {absent}; filter the vote table first")
    if clip_negative:
        weight = np.maximum(weight, 0.0)
    K = votes.n_classes
    g = np.bincount(votes.task * K + votes.label, weight[votes.worker], minlength=votes.n_tasks * K)
    g = g.reshape(votes.n_tasks, K)
    norm = np.abs(g).sum(axis=1, keepdims=True)
    g = np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
    return pd.DataFrame(g, index=votes.tasks, columns=range(K))


def _as_matrix(g, n_columns=7) -> np.ndarray:
    g = np.asarray(g, dtype=float)
    if g.ndim != 2 or g.shape[1] != n_columns:
        raise ValueError(f"g must have shape (n_images, {n_columns}), got {g.shape}")
    if not np.isfinite(g).all():
        raise ValueError("g contains NaN or infinite values")
    return g


def valid_labels(g) -> np.ndarray:
    """Boolean (n, K): the labels k with g_k > mean(g) (RAF-DB "Subset Partitions")."""
    g = np.asarray(g, dtype=float)
    return g > g.mean(axis=1, keepdims=True)


def single_label_subset(g) -> np.ndarray:
    """RAF-DB single-label subset: the one valid label (g_k above the image's mean) of images
    that have exactly one, else -1. ``g``: (n, 7) ground-truth vectors."""
    valid = valid_labels(_as_matrix(g))
    return np.where(valid.sum(axis=1) == 1, valid.argmax(axis=1), -1)


COMPOUND_PAIRS = np.full((6, 6), -1)
"""COMPOUND_PAIRS[a, b]: the COMPOUND11 index of basic emotions a and b (-1 if not a class)."""
for _index, _name in enumerate(COMPOUND11):
    _a, _b = (BASIC7.index(c) for c in COMPOUND_COMPONENTS[_name])
    COMPOUND_PAIRS[_a, _b] = COMPOUND_PAIRS[_b, _a] = _index


def compound_subset(g, neutral="drop_images") -> np.ndarray:
    """RAF-DB two-tab (compound) subset: the COMPOUND11 index of images with exactly two valid
    labels, else -1 (RAF-DB §3.1: "For Two-tab Subset, the partition rule is similar. The only
    difference is that we took out images with neutral label before partition").

    ``neutral="drop_images"`` (default, the sentence read literally): images where neutral is a
    valid label (g_neutral > mean over 7) are excluded, then exactly two valid labels are required.
    ``neutral="drop_column"``: the neutral entry is removed and the rule applied over the six
    emotions (mean over 6). Pairs that are not one of the eleven classes — fearfully disgusted,
    which the paper dropped as too rare, and happiness with fear, sadness or anger — give -1.
    """
    g = _as_matrix(g)
    if neutral == "drop_images":
        valid = valid_labels(g)
        eligible = ~valid[:, NEUTRAL]
        valid = valid[:, :NEUTRAL]
    elif neutral == "drop_column":
        valid = valid_labels(np.delete(g, NEUTRAL, axis=1))
        eligible = np.ones(len(g), dtype=bool)
    else:
        raise ValueError(f"neutral must be 'drop_images' or 'drop_column', got {neutral!r}")
    two = eligible & (valid.sum(axis=1) == 2)
    order = np.argsort(~valid, axis=1, kind="stable")[:, :2]
    pair = COMPOUND_PAIRS[order[:, 0], order[:, 1]]
    return np.where(two, pair, -1)


def multilabel_subset(g):
    """RAF-ML multi-label selection (RAF-ML §3.3).

    Valid labels are those with g_k above the image's mean over 7; images with a single valid
    label are filtered out; the neutral entry is discarded and the 6-d vector renormalized; labels
    above 1/6 (the 6-d mean) form the label set; images keep when they have >= 2 labels (all 4,908
    RAF-ML images have 2–4). Returns ``(binary (n, 6) int, distribution (n, 6), keep (n,) bool)``
    over EMOTIONS6; rows of dropped images are still filled in.
    """
    g = _as_matrix(g)
    several = valid_labels(g).sum(axis=1) >= 2
    six = np.clip(np.delete(g, NEUTRAL, axis=1), 0.0, None)
    total = six.sum(axis=1, keepdims=True)
    distribution = np.divide(six, total, out=np.zeros_like(six), where=total > 0)
    binary = (distribution > 1.0 / 6.0).astype(int)
    keep = several & (binary.sum(axis=1) >= 2)
    return binary, distribution, keep
