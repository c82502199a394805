"""Chapter ``dlp_dbm``: RAF-DB's DLP-CNN (Li et al., CVPR 2017) and RAF-ML's DBM-CNN (Li & Deng,
IJCV 2019) as feature learners for classical classifiers: data set-up and the per-seed runs."""

import numpy as np
import pandas as pd

from fercore import curves
from fercore.curves import (LearningCurve, average_precision_of, curve_reading, mean_diagonal_of, side_by_side_curves,
                            training_probe)
from fercore.datasets import load
from fercore.deep import multilabel_scores, single_label_scores, train_and_extract, train_feature_net
from fercore.labels import BASIC7, COMPOUND11, EMOTIONS6
from fercore.metrics import LOWER_IS_BETTER, average_precision
from fercore.models import keep_spec
from fercore.seeds import Kept, Spread, verdict

PAPER_SIZES = {"basic": (12271, 3068), "compound": (3162, 792), "multilabel": (4090, 818)}
"""Train and test sizes of the paper's RAF-DB subsets and RAF-ML."""

SPLITS = ("train", "test")

CURVE_TRAIN_FACES = 1500
"""Training faces (a fixed random subset) on which the learning curve's training accuracy is read."""

ABLATION_ROWS = {"basedcnn": "baseDCNN", "dbm_cnn_sf": "DBM-CNN (S^f)", "dbm_cnn_sl": "DBM-CNN (S^l)",
                 "dbm_cnn": "DBM-CNN (S^f + S^l)"}
"""RAF-ML Table 4's rows: the bi-manifold loss with the feature manifold, the label manifold, both."""


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


def _test_and_probe(train_images, train_labels, test_images, test_labels) -> dict:
    """A learning curve's sets: the test faces and :data:`CURVE_TRAIN_FACES` training faces."""
    probe = training_probe(len(train_labels), CURVE_TRAIN_FACES)
    return {"test": (test_images, test_labels),
            "train": (np.asarray(train_images)[probe], np.asarray(train_labels)[probe])}


def basic_curve(images, labels, input_size, points) -> LearningCurve:
    """The learning curve of a basic-subset net: softmax mean diagonal on the basic test set and
    on :data:`CURVE_TRAIN_FACES` training faces, at the step counts ``points``."""
    sets = _test_and_probe(images["basic_train"], labels["basic_train"], images["basic_test"], labels["basic_test"])
    return LearningCurve(points, mean_diagonal_of(sets, input_size, len(BASIC7)))


def retrain_basedcnn(seed, *, images, labels, net, schedule):
    """baseDCNN (softmax) trained from scratch on the basic training faces for ``schedule``, a
    smaller budget with its whole schedule, ``net`` otherwise as the Table 4 nets: the learning-curve
    row of its end (model ``basedcnn``), for :func:`fercore.curves.retrained_reading`."""
    curve = basic_curve(images, labels, net["input_size"], [schedule.iterations])
    train_feature_net(images["basic_train"], labels["basic_train"], "softmax", num_classes=len(BASIC7), seed=seed,
                      curve=curve, desc=f"basedcnn seed {seed}, retrained", **{**net, "schedule": schedule})
    return curve.frame.assign(model="basedcnn", seed=seed)


def basic_run(seed, model, *, images, labels, models, classifiers, net, curve_points=()):
    """One (model, seed) unit of Table 4: train ``models[model] = (objective, weights)`` on the
    basic training faces, extract features of every set in ``images`` and score ``classifiers``
    on the basic and compound subsets. Keeps the features, the training history and the
    learning curve at ``curve_points`` (step counts; none when empty)."""
    objective, weights = models[model]
    curve = basic_curve(images, labels, net["input_size"], curve_points) if len(curve_points) else None
    features, history = train_and_extract(images["basic_train"], labels["basic_train"], objective, images,
                                          num_classes=len(BASIC7), seed=seed, desc=f"{model} seed {seed}",
                                          curve=curve, keep=keep_spec("dlp_dbm", objective, seed), **weights, **net)
    frames = [single_label_scores(features[f"{subset}_train"], labels[f"{subset}_train"], features[f"{subset}_test"],
                                  labels[f"{subset}_test"], names, classifiers).assign(subset=subset)
              for subset, names in (("basic", BASIC7), ("compound", COMPOUND11))]
    kept = {"features": features, "history": history,
            "curve": None if curve is None else curve.frame.assign(model=model, seed=seed)}
    return Kept(pd.concat(frames, ignore_index=True), kept)


def multilabel_curve(images, labels, input_size, points) -> LearningCurve:
    """The learning curve of a RAF-ML net: the average precision of its own label ranking on the
    multi-label test set and on :data:`CURVE_TRAIN_FACES` training faces, at the step counts
    ``points``."""
    sets = _test_and_probe(images["train"], labels["train"], images["test"], labels["test"])
    return LearningCurve(points, average_precision_of(sets, input_size))


def multilabel_run(seed, *, images, labels, label_vectors, objective, classifiers, net, curve_points=(), **weights):
    """One seed of a RAF-ML feature learner: train with ``objective`` (``weights``: λ, k,
    ``variant``) on the multi-label training faces and score the multi-label ``classifiers``.
    Keeps the features and the learning curve at ``curve_points`` (step counts; none when empty)."""
    curve = multilabel_curve(images, labels, net["input_size"], curve_points) if len(curve_points) else None
    features, _ = train_and_extract(images["train"], labels["train"], objective, images, label_vectors=label_vectors,
                                    seed=seed, desc=f"{objective} seed {seed}", curve=curve,
                                    keep=keep_spec("dlp_dbm", f"rafml_{objective}", seed, class_names=EMOTIONS6), **weights, **net)
    scores = multilabel_scores(features["train"], labels["train"], features["test"], labels["test"], classifiers)
    return Kept(scores, {"features": features, "curve": None if curve is None else curve.frame.assign(seed=seed)})


def prior_average_precision(train_labels, test_labels) -> float:
    """The average precision of ranking every test face's labels by their training frequency:
    what a multi-label net that has learned nothing from the faces scores."""
    prior = np.asarray(train_labels).mean(axis=0)
    return average_precision(test_labels, np.tile(prior, (len(test_labels), 1)))


def _spread(summary, **where) -> Spread:
    """The mean, sd and seed count of the one row of a :func:`fercore.seeds.summarize` table
    matching ``where``."""
    row = summary.query(" and ".join(f"{k} == {v!r}" for k, v in where.items())).iloc[0]
    return Spread(row["mean"], row["sd"], int(row["n"]))


def _as_paper(ours_better, paper_better=True) -> str:
    return "as in the paper" if ours_better == paper_better else "unlike the paper"


def discussion(summary, ml_summary, ablation_summary, histories, *, paper, hog_svm, train_labels, seeds, width,
               input_size, iterations, n_basic_train, n_multilabel_train, profile):
    """The chapter's closing discussion (markdown) from the seed summaries of Table 4 (RAF-DB),
    Table 3 and the ablation (RAF-ML), the baseDCNN training histories and the HOG reference."""
    lines = []
    for subset in ("basic", "compound"):
        for clf in ("svm", "lda"):
            base, dlp, center = (_spread(summary, subset=subset, classifier=clf, model=m, metric="mean_diag")
                                 for m in ("basedcnn", "dlp_cnn", "center_loss"))
            lines.append(f"- {subset}, {clf.upper()}: DLP-CNN {100 * dlp.mean:.1f} % vs baseDCNN {100 * base.mean:.1f} %: "
                         f"DLP-CNN > baseDCNN {verdict(dlp, base)}, {_as_paper(dlp.mean > base.mean)}; "
                         f"center loss {100 * center.mean:.1f} %.")
    wins = ml_summary.pivot(index=["classifier", "metric"], columns="model", values="mean")
    better = np.where(wins.index.get_level_values("metric").isin(list(LOWER_IS_BETTER)),
                      wins["dbm_cnn"] < wins["basedcnn"], wins["dbm_cnn"] > wins["basedcnn"])
    ab = ablation_summary.query("metric == 'average_precision'").set_index("model")["mean"]
    paper_ab = ", ".join(f"{paper[k]:.3f}" if k in paper else "–" for k in (f"dbm.{m}.mlknn.average_precision" for m in ABLATION_ROWS))
    text = "\n".join(lines)
    deep_svm = _spread(summary, subset="basic", classifier="svm", model="basedcnn", metric="mean_diag").mean
    prior = np.bincount(train_labels, minlength=len(BASIC7)) / len(train_labels)
    prior_entropy = -(prior[prior > 0] * np.log(prior[prior > 0])).sum()
    final_ce = np.mean([histories["basedcnn", s]["ce"].iloc[-max(1, len(histories["basedcnn", s]) // 10):].mean()
                        for s in seeds])
    undertrained = ("" if deep_svm > hog_svm else
                    f" A {width:g}×-wide net seeing {input_size}-pixel crops for {iterations:,} iterations is"
                    " far from converged, so its features carry less than HOG's gradients of the full 100×100 face;"
                    " longer training and larger inputs narrow the gap (the `full` profile trains the paper's net).")
    return f'''
**RAF-DB Table 4.** The paper finds DLP-CNN's features better than baseDCNN's on both the basic
and the compound classes, and center loss helping on the basic classes but not on compound ones.
Our mean diagonals ({len(seeds)} seed(s), profile `{profile}`):

{text}

**Deep vs handcrafted.** RAF-DB's deep features beat every handcrafted one; ours with the SVM
reach {100 * deep_svm:.1f} % (baseDCNN) against {100 * hog_svm:.1f} % for HOG on the same split
({_as_paper(deep_svm > hog_svm)}). baseDCNN's softmax loss over the last tenth of its
{iterations:,} iterations is {final_ce:.2f}, against {prior_entropy:.2f} for always
predicting the class frequencies (a net that fits its training set drives it towards 0).{undertrained}

**RAF-ML Table 3.** DBM-CNN's features beat baseDCNN's in {better.sum()} of {better.size}
classifier × criterion cells (in the paper it wins every cell).

**RAF-ML Table 4.** ML-kNN average precision: baseDCNN {ab["basedcnn"]:.3f}, $S^f$ only
{ab["dbm_cnn_sf"]:.3f}, $S^l$ only {ab["dbm_cnn_sl"]:.3f}, both {ab["dbm_cnn"]:.3f} (the paper,
in the same order: {paper_ab} — both manifolds best).

Where our numbers and the paper's part ways, remember what differs: the faces are synthetic and
the training sets {n_basic_train:,} (basic) and {n_multilabel_train:,}
(multi-label) images instead of 12,271 and 4,090; in the CPU profiles the network is {width:g}×
as wide, sees {input_size}-pixel crops and trains {iterations:,} instead of 20,000
iterations (the learning curves above show where on its way each net is), and the differences
between the losses are often within the spread over seeds. λ and k of the locality losses were not tuned by
cross-validation here (the papers did).
'''


def curve_figure(summary, *, hog_svm, taken_at, retrained=None):
    """Test and training learning curves of the Table 4 nets side by side, HOG + SVM's test
    accuracy as a line, the point where the tables are taken marked; ``retrained``
    (:func:`retrain_basedcnn`'s rows) as markers."""
    return side_by_side_curves(summary, references={"HOG + SVM (test)": hog_svm}, taken_at=taken_at,
                                 ylabel="mean diagonal (the net's softmax)", retrained=retrained)


def multilabel_curve_figure(summary, *, prior, taken_at):
    """Test and training learning curves of the RAF-ML Table 3 nets side by side (average
    precision of each net's own ranking), the label-frequency ranking as a line, the point where
    the tables are taken marked."""
    return side_by_side_curves(summary, references={"label frequencies (no face)": prior}, taken_at=taken_at,
                                 ylabel="average precision (the net's ranking)")


def basedcnn_reading(summary) -> dict:
    """:func:`fercore.curves.curve_reading` of baseDCNN's curve (chance: 1/7, every face one class)."""
    return curve_reading(summary, "basedcnn", chance=1 / len(BASIC7))


def curve_text(reading, *, deep_svm, hog_svm) -> str:
    """What baseDCNN's learning curve (:func:`basedcnn_reading`) says, beside its deep features +
    SVM and HOG + SVM on the same split, as one markdown paragraph."""
    return (curves.curve_text(reading, "baseDCNN's softmax", "mean diagonal") + f" Its deep features + SVM reach "
            f"{100 * deep_svm:.1f} % against HOG + SVM's {100 * hog_svm:.1f} %.")
