"""Chapter ``handcrafted``: LBP, HOG and Gabor features with mSVM and LDA+NN (RAF-DB §5.1,
Table 3) and the multi-label baselines on RAF-ML: each dataset's protocol and data set-up."""

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

from fercore import classifiers
from fercore.datasets import load


def rafdb_protocol(data_root, subset, max_train=None, seed=0):
    """RAF-DB's ``subset`` with its train/test split, the training part stratified down to
    ``max_train`` faces; returns ``(faceset, {"train_mask": …})``."""
    faceset = load("rafdb", data_root, subset=subset)
    train = np.flatnonzero(faceset.split == "train")
    if max_train and len(train) > max_train:
        train = train[classifiers.stratified_subsample(faceset.labels[train], max_train, seed)]
    keep = np.union1d(train, np.flatnonzero(faceset.split == "test"))
    faceset = faceset.subset(keep)
    return faceset, dict(train_mask=np.isin(keep, train))


def load_protocols(data_root, *, cv_folds, seed=0, max_train=None) -> dict:
    """Table 3's four datasets with their protocols: ``name → (title, faceset, protocol)``;
    CK+ subject-independent stratified folds, JAFFE leave-one-subject-out, RAF-DB its split."""
    ckplus = load("ckplus", data_root, frames="first_and_peak")
    jaffe = load("jaffe", data_root)
    return {
        "ckplus": ("CK+", ckplus, dict(cv=StratifiedGroupKFold(cv_folds, shuffle=True, random_state=seed),
                                       groups=ckplus.subjects)),
        "jaffe": ("JAFFE", jaffe, dict(cv=LeaveOneGroupOut(), groups=jaffe.subjects)),
        "rafdb_basic": ("RAF basic", *rafdb_protocol(data_root, "basic", max_train, seed)),
        "rafdb_compound": ("RAF compound", *rafdb_protocol(data_root, "compound", max_train, seed)),
    }


def load_multilabel(data_root, max_train=None, seed=0):
    """RAF-ML's training (randomly cut to ``max_train``) and test faces."""
    train = load("rafml", data_root, split="train")
    test = load("rafml", data_root, split="test")
    if max_train and len(train) > max_train:
        train = train.subset(np.random.default_rng(seed).choice(len(train), max_train, replace=False))
    return train, test


def with_paper(ours, theirs) -> str:
    """``"41.3 (38.0)"``: our fraction in percent, the paper's percent in brackets if known."""
    return f"{100 * ours:.1f}" + (f" ({theirs:.1f})" if theirs is not None and np.isfinite(theirs) else "")
