"""Chapter ``dlp_dbm``: RAF-DB's DLP-CNN (Li et al., CVPR 2017) and RAF-ML's DBM-CNN (Li & Deng,
IJCV 2019) as feature learners for classical classifiers: data set-up and the per-seed runs."""

import numpy as np
import pandas as pd

from fercore.curves import LearningCurve, mean_diagonal_of
from fercore.datasets import load
from fercore.deep import multilabel_scores, single_label_scores, train_and_extract
from fercore.labels import BASIC7, COMPOUND11
from fercore.seeds import Kept

PAPER_SIZES = {"basic": (12271, 3068), "compound": (3162, 792), "multilabel": (4090, 818)}
"""Train and test sizes of the paper's RAF-DB subsets and RAF-ML."""

SPLITS = ("train", "test")

CURVE_TRAIN_FACES = 1500
"""Training faces (a fixed random subset) on which the learning curve's training accuracy is read."""


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


def basic_curve(images, labels, input_size, points) -> LearningCurve:
    """The learning curve of a basic-subset net: softmax mean diagonal on the basic test set and
    on :data:`CURVE_TRAIN_FACES` training faces, at the step counts ``points``."""
    probe = np.random.default_rng(0).permutation(len(labels["basic_train"]))[:CURVE_TRAIN_FACES]
    sets = {"test": (images["basic_test"], labels["basic_test"]),
            "train": (np.asarray(images["basic_train"])[probe], np.asarray(labels["basic_train"])[probe])}
    return LearningCurve(points, mean_diagonal_of(sets, input_size, len(BASIC7)))


def basic_run(seed, model, *, images, labels, models, classifiers, net, curve_points=()):
    """One (model, seed) unit of Table 4: train ``models[model] = (objective, weights)`` on the
    basic training faces, extract features of every set in ``images`` and score ``classifiers``
    on the basic and compound subsets. Keeps the features, the training history and the
    learning curve at ``curve_points`` (step counts; none when empty)."""
    objective, weights = models[model]
    curve = basic_curve(images, labels, net["input_size"], curve_points) if len(curve_points) else None
    features, history = train_and_extract(images["basic_train"], labels["basic_train"], objective, images,
                                          num_classes=len(BASIC7), seed=seed, desc=f"{model} seed {seed}",
                                          curve=curve, **weights, **net)
    frames = [single_label_scores(features[f"{subset}_train"], labels[f"{subset}_train"], features[f"{subset}_test"],
                                  labels[f"{subset}_test"], names, classifiers).assign(subset=subset)
              for subset, names in (("basic", BASIC7), ("compound", COMPOUND11))]
    kept = {"features": features, "history": history,
            "curve": None if curve is None else curve.frame.assign(model=model, seed=seed)}
    return Kept(pd.concat(frames, ignore_index=True), kept)


def curve_reading(summary, model, tolerance=0.01) -> dict:
    """What the learning curve of ``model`` says at its last point: test and train mean
    diagonal (means over seeds), the gap, and the test gain over the last stretch of the curve
    (the previous point to the last). ``flat`` when that gain is under ``tolerance`` or under
    the seed sd; ``overfits`` when train exceeds test by more than ``tolerance``."""
    part = summary[summary["model"] == model]
    test = part[part["metric"] == "test"].sort_values("images")
    train = part[part["metric"] == "train"].sort_values("images")
    last, before = test.iloc[-1], test.iloc[-2] if len(test) > 1 else test.iloc[-1]
    gain = last["mean"] - before["mean"]
    sd = 0.0 if np.isnan(last["sd"]) else last["sd"]
    gap = train.iloc[-1]["mean"] - last["mean"]
    return {"images": int(last["images"]), "test": last["mean"], "train": train.iloc[-1]["mean"], "gap": gap,
            "gain": gain, "since_images": int(before["images"]), "flat": gain < max(tolerance, sd),
            "overfits": gap > tolerance}


def multilabel_run(seed, *, images, labels, label_vectors, objective, classifiers, net, **weights):
    """One seed of a RAF-ML feature learner: train with ``objective`` (``weights``: λ, k,
    ``variant``) on the multi-label training faces and score the multi-label ``classifiers``.
    Keeps the features."""
    features, _ = train_and_extract(images["train"], labels["train"], objective, images, label_vectors=label_vectors,
                                    seed=seed, desc=f"{objective} seed {seed}", **weights, **net)
    scores = multilabel_scores(features["train"], labels["train"], features["test"], labels["test"], classifiers)
    return Kept(scores, features)
