"""Chapter ``dlp_dbm``: RAF-DB's DLP-CNN (Li et al., CVPR 2017) and RAF-ML's DBM-CNN (Li & Deng,
IJCV 2019) as feature learners for classical classifiers: data set-up and the per-seed runs."""

import pandas as pd

from fercore.datasets import load
from fercore.deep import multilabel_scores, single_label_scores, train_and_extract
from fercore.labels import BASIC7, COMPOUND11
from fercore.seeds import Kept

PAPER_SIZES = {"basic": (12271, 3068), "compound": (3162, 792), "multilabel": (4090, 818)}
"""Train and test sizes of the paper's RAF-DB subsets and RAF-ML."""

SPLITS = ("train", "test")


def load_sets(data_root) -> dict:
    """RAF-DB's basic and compound subsets and RAF-ML's multi-label and distribution labels under
    ``data_root`` (real copies or the synthetic ones), as ``sets[name][split]``."""
    sets = {
        "basic": {s: load("rafdb", data_root, subset="basic", split=s) for s in SPLITS},
        "compound": {s: load("rafdb", data_root, subset="compound", split=s) for s in SPLITS},
        "multilabel": {s: load("rafml", data_root, split=s) for s in SPLITS},
        "distribution": {s: load("rafml", data_root, split=s, labels="distribution") for s in SPLITS},
    }
    for s in SPLITS:
        if list(sets["multilabel"][s].files) != list(sets["distribution"][s].files):
            raise ValueError(f"{data_root}: RAF-ML's multi-label and distribution files list different images")
    return sets


def size_table(sets) -> pd.DataFrame:
    """Our subset sizes beside the paper's."""
    return pd.DataFrame([{"set": k, "train": len(v["train"]), "test": len(v["test"]),
                          "paper train": PAPER_SIZES[k][0], "paper test": PAPER_SIZES[k][1]}
                         for k, v in sets.items() if k in PAPER_SIZES]).set_index("set")


def basic_run(seed, model, *, images, labels, models, classifiers, net):
    """One (model, seed) unit of Table 4: train ``models[model] = (objective, weights)`` on the
    basic training faces, extract features of every set in ``images`` and score ``classifiers``
    on the basic and compound subsets. Keeps the features and the training history."""
    objective, weights = models[model]
    features, history = train_and_extract(images["basic_train"], labels["basic_train"], objective, images,
                                          num_classes=len(BASIC7), seed=seed, desc=f"{model} seed {seed}",
                                          **weights, **net)
    frames = [single_label_scores(features[f"{subset}_train"], labels[f"{subset}_train"], features[f"{subset}_test"],
                                  labels[f"{subset}_test"], names, classifiers).assign(subset=subset)
              for subset, names in (("basic", BASIC7), ("compound", COMPOUND11))]
    return Kept(pd.concat(frames, ignore_index=True), {"features": features, "history": history})


def multilabel_run(seed, *, images, labels, label_vectors, objective, classifiers, net, **weights):
    """One seed of a RAF-ML feature learner: train with ``objective`` (``weights``: λ, k,
    ``variant``) on the multi-label training faces and score the multi-label ``classifiers``.
    Keeps the features."""
    features, _ = train_and_extract(images["train"], labels["train"], objective, images, label_vectors=label_vectors,
                                    seed=seed, desc=f"{objective} seed {seed}", **weights, **net)
    scores = multilabel_scores(features["train"], labels["train"], features["test"], labels["test"], classifiers)
    return Kept(scores, features)
