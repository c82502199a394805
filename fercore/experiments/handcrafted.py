"""Chapter ``handcrafted``: LBP, HOG and Gabor features with mSVM and LDA+NN (RAF-DB §5.1,
Table 3) and the multi-label baselines on RAF-ML: each dataset's protocol and data set-up."""

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

from fercore import classifiers
from fercore.datasets import load

FEATURE_NAMES = {"lbp": "LBP", "hog": "HOG", "gabor": "Gabor"}
"""The hand-crafted descriptors by their names in the paper."""

MULTILABEL_NAMES = {"clr": "CLR", "rakel": "RAkEL", "mlknn": "MLkNN", "mlloc": "ML-LOC", "lift": "LIFT", "ml2": "ML²"}
"""The multi-label classifiers by their names in RAF-ML's tables."""


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


def discussion(scores, naive, ml_scores, paper, *, protocols, features, classifiers, multilabel_features,
               multilabel_classifiers, naive_draws, max_train, multilabel_pca_components, profile, seconds):
    """The chapter's closing discussion (markdown bullet points) from Table 3's ``scores``
    (``(dataset, feature, classifier) → {"mean_diag", …}``), the naive detector's, the
    multi-label ``ml_scores`` (``(feature, classifier) → report``) and the paper's numbers."""
    def mean_over(datasets, clf="svm"):
        return 100 * np.mean([scores[d, f, clf]["mean_diag"] for d in datasets for f in features])


    def paper_mean(datasets, clf="svm"):
        return np.mean([paper[f"handcrafted.{d}.{f}.{clf}.mean_diag"] for d in datasets for f in features])


    lab, wild = ("ckplus", "jaffe"), ("rafdb_basic",)
    lines = [
        f"- **Lab against wild.** Averaged over the three features, the SVM's mean diagonal is {mean_over(lab):.0f}% on "
        f"the lab databases and {mean_over(wild):.0f}% on RAF basic (paper: {paper_mean(lab):.0f}% and "
        f"{paper_mean(wild):.0f}%), and {mean_over(('rafdb_compound',)):.0f}% on the eleven compound classes (paper: "
        f"{paper_mean(('rafdb_compound',)):.0f}%). "
        + ("The ordering lab > wild basic > wild compound holds." if mean_over(lab) > mean_over(wild) >
           mean_over(("rafdb_compound",)) else "The paper's ordering lab > wild basic > wild compound does not fully hold here."),
    ]
    floor = {d: 100 * naive[d]["mean_diag"] for d in naive}
    cleared = all(scores[d, f, c]["mean_diag"] > naive[d]["mean_diag"] for d in naive for f in features for c in classifiers)
    lines.append(f"- **The floor.** The naive detector averages {floor['rafdb_basic']:.0f}% (basic) and "
                 f"{floor['rafdb_compound']:.0f}% (compound) over {naive_draws} draws, 1/7 and 1/11 in expectation "
                 f"(paper: {paper['handcrafted.rafdb_basic.random.mean_diag']:.1f}% and "
                 f"{paper['handcrafted.rafdb_compound.random.mean_diag']:.1f}% from one draw); "
                 + ("every descriptor and classifier clears it." if cleared else "not every combination clears it."))
    svm_wins = {d: np.mean([scores[d, f, "svm"]["mean_diag"] > scores[d, f, "lda"]["mean_diag"] for f in features])
                for d in protocols}
    paper_svm_wins = {d: np.mean([paper[f"handcrafted.{d}.{f}.svm.mean_diag"] > paper[f"handcrafted.{d}.{f}.lda.mean_diag"]
                                  for f in features]) for d in protocols}
    lines.append(
        f"- **SVM against LDA+NN.** The SVM beats LDA+NN on {100 * svm_wins['rafdb_basic']:.0f}% of the feature rows on "
        f"RAF basic and {100 * np.mean([svm_wins[d] for d in lab]):.0f}% on the lab sets (paper: "
        f"{100 * paper_svm_wins['rafdb_basic']:.0f}% and {100 * np.mean([paper_svm_wins[d] for d in lab]):.0f}%).")
    best_feature = {d: max(features, key=lambda f: scores[d, f, "svm"]["mean_diag"]) for d in protocols}
    paper_best = {d: max(features, key=lambda f: paper[f"handcrafted.{d}.{f}.svm.mean_diag"]) for d in protocols}
    lines.append("- **Features.** With the SVM the best descriptor is "
                 + ", ".join(f"{FEATURE_NAMES[best_feature[d]]} on {protocols[d][0]} (paper: {FEATURE_NAMES[paper_best[d]]})"
                             for d in protocols) + ".")


    def mean_ap(source, group):
        return np.mean([source(f, c) for f in multilabel_features for c in group if c in multilabel_classifiers])


    trees, others = ("clr", "rakel"), ("mlknn", "mlloc", "lift", "ml2")
    ours_ap = lambda f, c: ml_scores[f, c]["average_precision"]
    paper_ap = lambda f, c: paper[f"multilabel.{f}.{c}.average_precision"]
    ap = {f: max(multilabel_classifiers, key=lambda c: ml_scores[f, c]["average_precision"]) for f in multilabel_features}
    lines.append(
        f"- **Multi-label.** The best average precision comes from "
        f"{', '.join(f'{MULTILABEL_NAMES[ap[f]]} on {FEATURE_NAMES[f]}' for f in ap)}. The tree-based CLR and RAkEL average "
        f"{mean_ap(ours_ap, trees):.3f} against {mean_ap(ours_ap, others):.3f} for the neighbour- and kernel-based four "
        f"(paper: {mean_ap(paper_ap, trees):.3f} against {mean_ap(paper_ap, others):.3f}).")
    lines.append(f"- The chapter ran in {seconds:.0f} s on profile `{profile}`; RAF-DB training sets "
                 f"were capped at {max_train or 'no'} images and the multi-label features "
                 + (f"reduced to {multilabel_pca_components} principal components." if multilabel_pca_components
                    else "used raw."))
    return "\n".join(lines)
