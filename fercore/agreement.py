"""How much annotators agree: Cronbach's alpha of the vote-slot matrix RAF reports it over."""

import numpy as np

from fercore.crowd import encode_votes


def cronbach_alpha(scores) -> float:
    """Cronbach's alpha of an (n_subjects, n_items) score matrix:
    k/(k−1) · (1 − Σ_items var(item) / var(Σ_items)), sample variances (ddof=1)."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] < 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (n_subjects >= 2, n_items >= 2), got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    total_var = scores.sum(axis=1).var(ddof=1)
    if total_var == 0:
        raise ValueError("the total scores have zero variance; Cronbach's alpha is undefined")
    k = scores.shape[1]
    return float(k / (k - 1) * (1.0 - scores.var(axis=0, ddof=1).sum() / total_var))


def vote_slot_matrix(data, n_classes=7, n_raters=None) -> np.ndarray:
    """The matrix RAF's Cronbach's alpha is computed over, as we define it.

    Items are the ``n_raters`` vote slots of an image (its first ``n_raters`` votes in table
    order; annotators are randomly assigned, so slots are exchangeable raters); subjects are
    (image, class) pairs; entry = 1 if that slot's vote is that class. Its Cronbach's alpha is the
    reliability of an image's vote-count profile from ``n_raters`` annotators. Images with fewer
    votes are left out; ``n_raters`` defaults to the median number of votes per image.
    Returns an (n_images_kept · n_classes, n_raters) 0/1 matrix.
    """
    votes = encode_votes(data, n_classes)
    per_task = np.bincount(votes.task, minlength=votes.n_tasks)
    n_raters = int(np.median(per_task)) if n_raters is None else int(n_raters)
    if n_raters < 2:
        raise ValueError(f"n_raters must be >= 2, got {n_raters}")
    order = np.argsort(votes.task, kind="stable")
    task = votes.task[order]
    starts = np.concatenate([[0], np.cumsum(per_task)[:-1]])
    slot = np.arange(len(task)) - starts[task]
    kept = per_task >= n_raters
    if not kept.any():
        raise ValueError(f"no image has {n_raters} votes (most votes per image: {per_task.max()})")
    use = (slot < n_raters) & kept[task]
    row = np.cumsum(kept) - 1
    labels = np.full((kept.sum(), n_raters), -1)
    labels[row[task[use]], slot[use]] = votes.label[order][use]
    onehot = labels[:, None, :] == np.arange(votes.n_classes)[None, :, None]
    return onehot.reshape(-1, n_raters).astype(float)
