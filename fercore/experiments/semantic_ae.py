"""Chapter ``semantic_ae``: the semantic-neighbourhood-aware classifier on AffectNet-like noisy
labels — Table VIII's settings run over seeds, the mask against the flipped labels, the
sequence failure cases of Table VII, figures and the paper's numbers. The method is
:mod:`fercore.semantic`.
"""

import math
import time

import numpy as np
import pandas as pd
import torch

from fercore.curves import LearningCurve, curve_points, hog_svm_reference, scores_of, side_by_side_curves, training_probe
from fercore.datasets import load
from fercore.labels import BASIC7
from fercore.models import keep_trained, params_fingerprint
from fercore.inputs import as_float, image_tensor
from fercore.losses.semantic import symmetric_kl
from fercore.metrics import accuracy, mean_diagonal
from fercore.paper import paper_cell, paper_values
from fercore.seeds import Kept, Spread, run_over_seeds, verdict
from fercore.semantic import NeighbourhoodAwareClassifier

ABLATION = {
    "ce_bb": {"loss": "ce", "balance": "batch", "method": "none"},
    "focal_none": {"loss": "focal", "balance": "none", "method": "none"},
    "focal_weighted": {"loss": "focal", "balance": "weighted", "method": "none"},
    "without": {"loss": "focal", "balance": "batch", "method": "none"},
    "T": {"loss": "focal", "balance": "batch", "method": "T"},
    "BT": {"loss": "focal", "balance": "batch", "method": "BT"},
}
"""The settings of Table VIII: loss, balance strategy and method (``without`` is FL + BB, the
baseline every group shares)."""

TABLE6_LR_FACTORS = {63: 1.0, 35: 1 / 2, 14: 1 / 4, 7: 1 / 8}
"""Table VI: the learning-rate factor the paper used with each batch size."""

CURVE_TRAIN_FACES = 700
"""Training faces (a fixed random subset) on which a learning curve reads training accuracy (about
the size of the test set: each curve point costs a pass over both)."""

def _paper_results():
    """:data:`PAPER_RESULTS` from ``paper_numbers.csv``, through the results keys of our analogs."""
    paper = paper_values("semantic.", printed=True)
    ablation = {f"table8.{setting}": paper[f"semantic.{setting}.accuracy"] for setting in ABLATION}
    batch = {f"table6.{method}.{size}": paper[f"semantic.batch{size}.{method}.accuracy"]
             for method in ("BT", "T") for size in TABLE6_LR_FACTORS}
    sequences = {f"table7.{data}.{kind}.{setting}": paper[f"semantic.{kind}.{data}.{setting}"]
                 for data in ("ckplus", "oulu") for kind in ("fc", "cfc") for setting in ("without", "with")}
    return {"table3.affectnet.baseline": paper["semantic.without.accuracy"],
            "table3.affectnet.ours": paper["semantic.BT.accuracy"],
            "table3.affectnet.annotator_agreement": paper_cell("semantic", "Table III", "Annotators Agreement",
                                                               "accuracy"),
            **ablation, "table8.focal_bb": paper["semantic.without.accuracy"], **batch, **sequences,
            **{f"fig7.{emotion}_gain": paper[f"semantic.recall_gain.{emotion}"] for emotion in ("disgust", "fear")}}


PAPER_RESULTS = _paper_results()
"""Fu et al.'s numbers as they print them (accuracy in %, failure cases as counts), keyed by
table and setting."""


def mask_precision_recall(mask_log, noisy, bins=1):
    """How well the mask catches noisy labels, over ``bins`` equal spans of training steps.

    ``mask_log`` as :attr:`NeighbourhoodAwareClassifier.mask_log_`; ``noisy`` a boolean array over
    the training samples (True where the given label is not the true one). Per span: precision
    (share of masked samples that are noisy), recall (share of noisy samples seen that were
    masked), the masked fraction and the noise rate among the samples seen (the precision of a
    mask that picks at random). One row per span.
    """
    noisy = np.asarray(noisy, dtype=bool)
    if len(mask_log) == 0:
        raise ValueError("the mask log is empty: was the classifier trained with method 'T' or 'BT'?")
    if mask_log["sample"].max() >= len(noisy):
        raise ValueError(f"mask log refers to sample {mask_log['sample'].max()} but noisy has "
                         f"{len(noisy)} entries")
    steps = mask_log["step"].to_numpy()
    edges = np.linspace(steps.min(), steps.max() + 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        part = mask_log[(steps >= lo) & (steps < hi)]
        is_noisy = noisy[part["sample"].to_numpy()]
        masked = part["masked"].to_numpy(bool)
        rows.append({
            "step_from": int(math.ceil(lo)), "step_to": int(math.ceil(hi)) - 1,
            "precision": (masked & is_noisy).sum() / masked.sum() if masked.any() else np.nan,
            "recall": (masked & is_noisy).sum() / is_noisy.sum() if is_noisy.any() else np.nan,
            "masked_fraction": masked.mean(), "noise_rate": is_noisy.mean(),
        })
    return pd.DataFrame(rows)


def sequence_groups(meta, before=4):
    """``(peak, preceding)`` rows of frames grouped by sequence (Fu et al. §IV-E, Table VII).

    ``meta`` has ``sequence`` and ``frame`` columns (a FaceSet loaded with every frame). For each
    sequence with at least ``before + 1`` frames: the row of its last (peak) frame and the rows of
    the ``before`` frames just before it, in frame order. Returns int arrays (m,) and (m, before).
    """
    if not {"sequence", "frame"} <= set(meta.columns):
        raise ValueError(f"meta needs 'sequence' and 'frame' columns, has {list(meta.columns)}")
    order = meta.assign(_row=np.arange(len(meta))).sort_values(["sequence", "frame"], kind="stable")
    peaks, preceding = [], []
    for _, group in order.groupby("sequence", sort=True):
        rows = group["_row"].to_numpy()
        if len(rows) > before:
            peaks.append(rows[-1])
            preceding.append(rows[-before - 1:-1])
    return np.asarray(peaks, dtype=np.int64), np.asarray(preceding, dtype=np.int64).reshape(-1, before)


def sequence_failures(predictions, labels):
    """Failure cases of Fu et al. Table VII over sequences.

    ``predictions`` (m, f): the predicted classes of each sequence's test frames; ``labels`` (m,):
    the sequence's label. FC counts sequences with any frame misclassified; CFC those whose
    frames are all misclassified as one same class. Returns ``{"fc": int, "cfc": int}``.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.ndim != 2 or labels.shape != predictions.shape[:1]:
        raise ValueError(f"expected predictions (m, f) and labels (m,), got {predictions.shape} "
                         f"and {labels.shape}")
    wrong = predictions != labels[:, None]
    consistent = (predictions == predictions[:, :1]).all(axis=1)
    return {"fc": int(wrong.any(axis=1).sum()), "cfc": int((wrong.all(axis=1) & consistent).sum())}


def mean_divergence(classifier, X, neighbours, seed=0, batch_size=256):
    """Mean Div(P, P^tr) (Eq. 13) of a trained classifier over faces ``X`` and one neighbour
    each — the experimental estimate of the fixed threshold T of Eq. 11 used in the chapter."""
    net, device = classifier.net_.eval(), classifier.device_
    neighbours = neighbours.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    x = image_tensor(X, classifier.input_size)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            faces = as_float(x[start:start + batch_size].to(device))
            total += symmetric_kl(net(faces), net(neighbours(faces, generator))).sum().item()
    return total / max(len(x), 1)


def evaluate(classifier, X, y, y_true=None):
    """Accuracy and mean diagonal against the given labels ``y``, and accuracy against the true
    labels ``y_true`` where known (entries < 0, e.g. faces whose true class is outside the
    label set, are left out)."""
    predicted = classifier.predict(X)
    k = max(len(classifier.classes_), int(np.max(y)) + 1)
    scores = {"accuracy": accuracy(y, predicted), "mean_diag": mean_diagonal(y, predicted, k)}
    if y_true is not None:
        known = np.asarray(y_true) >= 0
        scores["true_accuracy"] = accuracy(np.asarray(y_true)[known], predicted[known])
    return scores


def failure_cases(classifier, X, peaks, preceding, y):
    """Table VII for one trained classifier: ``{"fc", "cfc", "frame_accuracy"}`` over the
    sequences' test frames (``preceding`` rows of ``X``), each labelled with its peak's label."""
    predicted = classifier.predict(X[preceding.ravel()]).reshape(preceding.shape)
    labels = np.asarray(y)[peaks]
    counts = sequence_failures(predicted, labels)
    return {**counts, "frame_accuracy": float((predicted == labels[:, None]).mean())}


def plot_mask_quality(curves, ax=None):
    """Precision and recall of the mask at catching flipped labels over training (one line
    each per setting), with the noise rate — the precision of a random mask — dashed.
    ``curves``: ``{setting: mask_precision_recall(..., bins=k)}``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    colours = plt.get_cmap("tab10").colors
    for i, (name, table) in enumerate(curves.items()):
        middle = (table["step_from"] + table["step_to"]) / 2
        ax.plot(middle, 100 * table["precision"], "-o", color=colours[i], label=f"{name}: precision")
        ax.plot(middle, 100 * table["recall"], "--s", color=colours[i], label=f"{name}: recall")
        ax.plot(middle, 100 * table["noise_rate"], ":", color="grey",
                label="flipped share of the batches (random mask's precision)" if i == 0 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel("% of samples")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="best")
    return ax


def label_truth(faceset):
    """``(true, flipped)`` of a FaceSet with a ground-truth sidecar: the true class of each face
    as an index into its ``class_names`` (−1 where the true class is outside them, e.g. contempt
    in a 7-class AffectNet) and whether its given label was flipped; ``(None, None)`` without
    ground truth (a real dataset copy)."""
    truth = faceset.truth
    if truth is None or not {"true_label", "flipped"} <= set(truth.columns):
        return None, None
    names = list(faceset.class_names)
    true = np.array([names.index(t) if t in names else -1 for t in truth["true_label"]])
    return true, truth["flipped"].to_numpy(bool)


def mean_diagonal_curve(classifier, X, y, X_test, y_test, n_points) -> LearningCurve:
    """The learning curve of ``classifier`` (about to be fitted on ``X``, ``y``): its mean
    diagonal against the given labels on the test faces (their accuracy, on a balanced validation
    set) and on :data:`CURVE_TRAIN_FACES` of the (imbalanced) training faces, at ``n_points``
    step counts of its run."""
    probe = training_probe(len(X), CURVE_TRAIN_FACES)
    n_classes = int(max(np.max(y), np.max(y_test))) + 1
    score = lambda faces, labels: mean_diagonal(labels, classifier.predict(faces), n_classes)
    return LearningCurve(curve_points(classifier.iterations, n_points),
                         scores_of(score, {"test": (X_test, y_test), "train": (X[probe], np.asarray(y)[probe])}))


def run_setting(setting, seeds, X, y, X_test, y_test, y_true=None, noisy=None, *, experiment=None, store=None,
                context=None, n_curve_points=0, **params):
    """Train one Table VIII setting (:data:`ABLATION`) once per seed and evaluate it.

    ``params`` go to :class:`NeighbourhoodAwareClassifier` (sizes, schedule, ``neighbours``,
    ``threshold``). Returns ``(table, classifiers)``: one row per seed with the scores of
    :func:`evaluate`, the mask's precision and recall over the whole run when ``noisy`` (the
    training faces' flipped flags) is given and the setting masks, and the seconds it took.
    With ``n_curve_points``, each classifier records its :func:`mean_diagonal_curve` (``curve_``).
    The seeds run through :func:`fercore.seeds.run_over_seeds` as experiment ``experiment``
    (default ``semantic_ae.<setting>``), stored in ``store`` with ``context``.
    """
    def one(seed):
        start = time.perf_counter()
        classifier = NeighbourhoodAwareClassifier(**ABLATION[setting], seed=seed, **params)
        curve = mean_diagonal_curve(classifier, X, y, X_test, y_test, n_curve_points) if n_curve_points else None
        classifier.fit(X, y, curve=curve)
        keep_trained(classifier.net_, "semantic_ae", setting, seed, params_fingerprint(params),
                     class_names=[BASIC7[int(c)] if 0 <= int(c) < len(BASIC7) else str(c) for c in classifier.classes_])
        row = {"setting": setting, **evaluate(classifier, X_test, y_test, y_true)}
        if noisy is not None and len(classifier.mask_log_):
            whole = mask_precision_recall(classifier.mask_log_, noisy).iloc[0]
            row.update({f"mask_{k}": whole[k] for k in ("precision", "recall", "masked_fraction", "noise_rate")})
        row["seconds"] = time.perf_counter() - start
        return Kept(row, classifier)

    table, kept = run_over_seeds(one, seeds, experiment=experiment or f"semantic_ae.{setting}", store=store,
                                 context=context, keep=True)
    return table, list(kept.values())


def curve_rows(fitted) -> pd.DataFrame:
    """The learning curves the classifiers of :func:`run_setting` recorded (``fitted``: setting →
    classifiers), one row per point, with ``model`` (the setting) and ``seed``."""
    frames = [c.curve_.assign(model=setting, seed=c.seed) for setting, classifiers in fitted.items()
              for c in classifiers if len(c.curve_)]
    if not frames:
        raise ValueError("no learning curves were recorded")
    return pd.concat(frames, ignore_index=True)


def hog_reference(data_root, svm, align=False, size=100) -> dict:
    """HOG + ``svm`` on AffectNet's training → validation faces at ``size`` pixels (RAF-DB §5's HOG
    tiles 100×100 faces), scored against the given labels: :func:`fercore.curves.hog_svm_reference`
    (``mean_diag``, ``accuracy``…)."""
    affectnet, train, val = load_affectnet(data_root, size, align)
    return hog_svm_reference(*train.arrays(), *val.arrays(), len(affectnet.class_names), svm)


def curve_figure(summary, *, hog_svm, chance, taken_at, retrained=None):
    """Test and training learning curves of the baseline and the masked nets side by side, HOG +
    SVM's validation mean diagonal and ``chance`` as lines, the point where the tables are taken
    marked; ``retrained``: :func:`curve_rows` of nets retrained on a smaller budget, as markers."""
    names = {"without": "baseline (w/o the method)"}
    summary = summary.assign(model=summary["model"].replace(names))
    retrained = None if retrained is None else retrained.assign(model=retrained["model"].replace(names))
    return side_by_side_curves(summary, references={"HOG + SVM (validation)": hog_svm, "chance": chance},
                                 taken_at=taken_at, ylabel="mean diagonal (given labels)",
                                 titles=("validation faces", "training faces"), retrained=retrained)


def retrain_baseline(fraction, seed, X, y, X_test, y_test, *, iterations, store=None, **params):
    """The baseline (``without``) trained from scratch, with its whole schedule, for ``fraction``
    of ``iterations`` (one ``seed``; stored as experiment ``semantic_ae.without.retrained``):
    its :func:`curve_rows` at its end, which :func:`fercore.curves.retrained_reading` sets
    against the full run's."""
    steps = max(1, round(fraction * iterations))
    _, fitted = run_setting("without", [seed], X, y, X_test, y_test, experiment="semantic_ae.without.retrained",
                            store=store, context={"iterations": steps}, n_curve_points=1, iterations=steps, **params)
    return curve_rows({"without": fitted})


def mask_by_class(mask_log, labels, class_names, noisy=None):
    """Who gets masked: per given class, the share of its appearances in the batches that were
    masked, its share of all masks and, with ``noisy``, the share of its appearances whose label
    was flipped and the mask's precision within the class. One row per class."""
    samples = mask_log["sample"].to_numpy()
    given = np.asarray(labels)[samples]
    masked = mask_log["masked"].to_numpy(bool)
    rows = []
    for k, name in enumerate(class_names):
        seen = given == k
        row = {"class": name, "appearances": int(seen.sum()),
               "masked (%)": 100 * masked[seen].mean() if seen.any() else np.nan,
               "share of all masks (%)": 100 * (masked & seen).sum() / max(masked.sum(), 1)}
        if noisy is not None:
            flipped = np.asarray(noisy, dtype=bool)[samples]
            row["flipped (%)"] = 100 * flipped[seen].mean() if seen.any() else np.nan
            hit = masked & seen
            row["precision (%)"] = 100 * flipped[hit].mean() if hit.any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("class")


def load_affectnet(data_root, input_size, align=False):
    """AffectNet's training and validation faces under ``data_root`` at ``input_size``
    (aligned from landmarks with ``align``): ``(affectnet, train, val)``."""
    affectnet = load("affectnet", data_root, size=input_size, align=align)
    return affectnet, affectnet.subset(split="train"), affectnet.subset(split="val")


def load_sequences(data_root, name, input_size, before=4):
    """A sequence dataset (``ckplus`` or ``oulu``), every frame: ``(frames, peaks, preceding,
    before)`` — the peak rows, the rows of the ``before`` frames preceding each peak (at most
    one fewer than the shortest sequence) and that count (:func:`sequence_groups`)."""
    frames = load(name, data_root, frames="all", size=input_size)
    before = int(min(before, frames.meta.groupby("sequence").size().min() - 1))
    peaks, preceding = sequence_groups(frames.meta, before=before)
    return frames, peaks, preceding, before


def discussion(summary, tables, *, quality, divergence, ae_r2, by_class, counts, fc_totals, class_names, n_seeds,
               n_train, input_size, width, iterations, epochs, mask_start, profile):
    """The chapter's closing discussion (markdown bullet points): ``summary[setting][metric]`` is
    (mean, sd) over seeds, ``tables`` the per-seed tables of :func:`run_setting`, ``quality`` the
    mask's (mean, sd) scores against the flipped labels (``None`` without ground truth), the
    rest the chapter's measurements and settings."""
    acc = {k: v["accuracy"][0] for k, v in summary.items()}
    sd = {k: v["accuracy"][1] for k, v in summary.items()}
    gain = lambda a, b: 100 * (acc[a] - acc[b])
    lines = [
        f"* **The method (Table VIII, last group).** The paper gains +{PAPER_RESULTS['table8.T'] - PAPER_RESULTS['table8.without']:.1f} points with T "
        f"and +{PAPER_RESULTS['table8.BT'] - PAPER_RESULTS['table8.without']:.1f} with BT. Here T is {gain('T', 'without'):+.1f} and BT "
        f"{gain('BT', 'without'):+.1f} points against the baseline's {100 * acc['without']:.1f} % "
        f"(baseline sd {100 * sd['without']:.1f} over {n_seeds} seed(s)): BT > baseline "
        f"{verdict(Spread(acc['BT'], sd['BT'], n_seeds), Spread(acc['without'], sd['without'], n_seeds))}.",
        f"* **Loss and balance.** The paper finds focal loss and cross entropy close "
        f"({PAPER_RESULTS['table8.focal_bb'] - PAPER_RESULTS['table8.ce_bb']:+.1f}) and balancing essential (no balancing "
        f"{PAPER_RESULTS['table8.focal_none']} % vs {PAPER_RESULTS['table8.without']} %). Here focal − CE is {gain('without', 'ce_bb'):+.1f} points, "
        f"batch balancing − no balancing {gain('without', 'focal_none'):+.1f}, and batch balancing − weighted loss "
        f"{gain('without', 'focal_weighted'):+.1f} (the paper: {PAPER_RESULTS['table8.without'] - PAPER_RESULTS['table8.focal_weighted']:+.1f}). "
        f"The mean diagonal without balancing is {100 * summary['focal_none']['mean_diag'][0]:.1f} % against "
        f"{100 * summary['without']['mean_diag'][0]:.1f} % with batch balancing"
        f"{': the unbalanced model favours the majority classes' if summary['focal_none']['mean_diag'][0] < summary['without']['mean_diag'][0] else ''}.",
    ]
    if "true_accuracy" in summary["without"]:
        lines.append(f"* **True labels.** Scored against the true labels, the baseline reaches {100 * summary['without']['true_accuracy'][0]:.1f} % "
                     f"and BT {100 * summary['BT']['true_accuracy'][0]:.1f} %: the given validation labels are themselves noisy, "
                     "which caps every accuracy measured against them (AffectNet's annotator agreement, "
                     f"{PAPER_RESULTS['table3.affectnet.annotator_agreement']} %, is the paper's ceiling).")
    if quality is not None:
        q = quality["BT"]
        lines.append(f"* **Does the mask find the noisy labels?** BT masks {100 * q['masked_fraction'][0]:.0f} % of the samples it sees; "
                     f"{100 * q['precision'][0]:.1f} % of them are flipped, against {100 * q['noise_rate'][0]:.1f} % flipped in the batches, "
                     f"and it catches {100 * q['recall'][0]:.0f} % of the flipped samples. This is the direct test of the paper's "
                     "premise that unstable samples are the unreliable ones: "
                     + ("the mask singles out flipped labels more often than chance would."
                        if q['precision'][0] > q['noise_rate'][0] + q['precision'][1]
                        else "here the mask does not single out the flipped labels better than chance would.")
                     + f" Masking also removes about {100 * q['masked_fraction'][0]:.0f} % of each batch's gradient "
                     "(Algorithm 1 sums the kept samples' gradients), which in a short run acts like a smaller learning rate.")
    share = divergence["reconstruction"] / divergence["neighbour"]
    lines.append(f"* **What the mask measures here.** The autoencoder recovers {100 * ae_r2:.0f} % of the validation faces' pixel "
                 f"variation (R²). The baseline's mean divergence between a face and its noiseless reconstruction is "
                 f"{divergence['reconstruction']:.3g}, against {divergence['neighbour']:.3g} for a neighbour: {100 * share:.0f} % of what "
                 "the threshold compares comes from the reconstruction, not from the semantic perturbation"
                 + (". The mask therefore ranks faces by how much the autoencoder's rendering changes their prediction rather than by "
                    "how stable the prediction is near the face; the paper's neighbours, from an autoencoder refined for 100 epochs, "
                    "look like the face itself (Fig. 3)." if share > 0.5 else "."))
    if "BT_from_start" in summary:
        start = summary["BT_from_start"]["accuracy"][0]
        first = tables["BT_from_start"]
        lines.append(f"* **When masking starts.** The paper masks from the first step. Done so here (BT, {len(first)} seed(s)), "
                     f"accuracy is {100 * start:.1f} % against the baseline's {100 * acc['without']:.1f} % ({gain('BT_from_start', 'without'):+.1f} points)"
                     + (f", masking {100 * first['mask_masked_fraction'].mean():.0f} % of the samples with a precision of "
                        f"{100 * first['mask_precision'].mean():.1f} % at catching flipped labels (chance: {100 * first['mask_noise_rate'].mean():.1f} %)"
                        if "mask_precision" in first else "")
                     + f". In a run of {iterations:,} iterations the network is far from trained for most of it, and its divergences "
                     "then mostly measure the gap to the reconstruction; masking on them from the start keeps samples out of "
                     f"learning while the network is still forming. This run therefore trains the first {mask_start:.0%} of its iterations without "
                     "the mask (`mask_start`; the `full` profile keeps the paper's 0), which gives the T and BT rows above.")
    paper7 = lambda key: PAPER_RESULTS[f"table7.{key}"]
    most, least = by_class["masked (%)"].idxmax(), by_class["masked (%)"].idxmin()
    minority = counts.loc[most, "train share (%)"] < 100 / len(class_names)
    lines.append(f"* **Who is masked.** BT masks {by_class.loc[most, 'masked (%)']:.0f} % of the appearances of {most} "
                 f"({counts.loc[most, 'train share (%)']:.1f} % of the training set) but {by_class.loc[least, 'masked (%)']:.0f} % "
                 f"of those of {least} ({counts.loc[least, 'train share (%)']:.1f} %)"
                 + (": the most masked class is a minority class, so the mask takes back part of what batch balancing gives it."
                    if minority else "."))
    lines.append(f"* **Sequences (Table VII).** The paper's FC drops with the method (CK+ {paper7('ckplus.fc.without')} → "
                 f"{paper7('ckplus.fc.with')}, Oulu-CASIA {paper7('oulu.fc.without')} → {paper7('oulu.fc.with')}) while CFC rises. "
                 f"Here the FC summed over both datasets is {fc_totals['without']:.1f} without and {fc_totals['with']:.1f} with the method.")
    lines.append(f"* **Scale.** This run is the `{profile}` profile: {n_train:,} training faces of {input_size}×{input_size} pixels, "
                 f"{iterations:,} iterations (≈ {epochs:.1f} epochs), networks at width ×{width}. Differences smaller than the seed-to-seed "
                 "standard deviation are not evidence either way; the `full` profile runs the paper's sizes on a GPU.")
    return "\n".join(lines)
